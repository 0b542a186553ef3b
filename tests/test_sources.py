"""The built-in sources: compressed and oddly encoded text files, JSON Lines
files, standard input, and a folder of nasty inputs where nothing may be
lost."""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import json
import lzma
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ingest import ExitCode, Pipeline

SEEDS = Path(__file__).parent.parent / "samples" / "seeds"


def toml_table(name: str, values: dict[str, Any]) -> str:
    # JSON scalars and lists of strings are valid TOML values.
    return f"[{name}]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())


def run(tmp_path: Path, ingest_cli: Any, source: dict[str, Any]) -> dict[str, Any]:
    """Run ``source`` into the jsonl sink; return kept and dropped records
    by id and the report."""
    out = tmp_path / "out"
    config = tmp_path / "config.toml"
    config.write_text(toml_table("source", source) + toml_table("sink", {"path": str(out)}))
    result = ingest_cli("run", "-c", str(config))
    assert result.exit_code == 0, result.stderr
    return read_out(out)


def read_out(out: Path) -> dict[str, Any]:
    def records(name: str) -> dict[str, dict[str, Any]]:
        lines = (out / name).read_text(encoding="utf-8").splitlines()
        return {r["id"]: r for r in map(json.loads, lines)}

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["balanced"] and report["input"] == report["kept"] + report["dropped"]
    return {"kept": records("documents.jsonl"), "dropped": records("dropped.jsonl"), "report": report}


def zstd_compress(data: bytes) -> bytes:
    zstandard = pytest.importorskip("zstandard")
    return zstandard.ZstdCompressor().compress(data)


COMPRESSORS = {
    ".gz": gzip.compress,
    ".bz2": bz2.compress,
    ".xz": lzma.compress,
    ".zst": zstd_compress,
}


# -- text_files --------------------------------------------------------------


def test_text_files_reads_every_compression(tmp_path, ingest_cli):
    folder = tmp_path / "in"
    expected = {}
    for index, (suffix, compress) in enumerate(COMPRESSORS.items()):
        name = f"sub/doc{index}.txt{suffix}"
        text = f"document {index}\nsecond line, compressed with {suffix}\n" * 50
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(compress(text.encode("utf-8")))
        expected[name] = text
    (folder / "plain.txt").write_text("plain text\n")
    expected["plain.txt"] = "plain text\n"
    (folder / "notes.md.gz").write_bytes(gzip.compress(b"not included"))  # *.txt only
    result = run(tmp_path, ingest_cli, {"path": str(folder)})
    assert {k: v["text"] for k, v in result["kept"].items()} == expected  # ids keep the file name
    assert result["dropped"] == {}


def test_text_files_include_exclude_and_compressed_switch(tmp_path):
    from ingest_plugins.io_util import find_files

    folder = tmp_path / "in"
    for name in ["a.txt", "a.txt.gz", "b.txt.bz2", "c.txt.zip", "d.text.gz", "x/e.txt.xz", "x/skip.txt.gz"]:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"")
    found = [rel for _, rel in find_files(folder, ["**/*.txt"], ["x/skip.txt"])]
    assert found == ["a.txt", "a.txt.gz", "b.txt.bz2", "x/e.txt.xz"]
    assert [rel for _, rel in find_files(folder, ["**/*.txt"], compressed=False)] == ["a.txt"]
    assert [rel for _, rel in find_files(folder, ["*.gz"])] == ["a.txt.gz", "d.text.gz"]


def test_text_files_encodings(tmp_path, ingest_cli):
    folder = tmp_path / "in"
    folder.mkdir()
    text = "Grüße, naïve café — “quoted”\n"
    (folder / "utf8.txt").write_bytes(text.encode("utf-8"))
    (folder / "utf8bom.txt").write_bytes(codecs.BOM_UTF8 + text.encode("utf-8"))
    (folder / "utf16le.txt").write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    (folder / "utf16be.txt.gz").write_bytes(gzip.compress(codecs.BOM_UTF16_BE + text.encode("utf-16-be")))
    (folder / "utf32le.txt").write_bytes(codecs.BOM_UTF32_LE + text.encode("utf-32-le"))
    (folder / "cp1252.txt").write_bytes(text.encode("cp1252"))
    (folder / "broken16.txt").write_bytes(codecs.BOM_UTF16_LE + b"a\x00\x00\xd8")  # lone surrogate

    result = run(
        tmp_path, ingest_cli, {"path": str(folder), "encoding": "auto", "fallback_encodings": ["cp1252"]}
    )
    assert {k: v["text"] for k, v in result["kept"].items()} == {
        name: text
        for name in ["utf8.txt", "utf8bom.txt", "utf16le.txt", "utf16be.txt.gz", "utf32le.txt", "cp1252.txt"]
    }
    assert {k: v["reason"] for k, v in result["dropped"].items()} == {"broken16.txt": "undecodable"}
    assert result["report"]["warnings"] == 1
    # the source's counts: what it read, what it passed on, what it dropped
    source = result["report"]["stages"]["source"]
    assert (source["documents_in"], source["documents_out"], source["dropped_total"]) == (7, 6, 1)
    assert "cp1252.txt: not valid utf-8; decoded as cp1252" in result["report"]["warning_samples"][0]

    # Declared UTF-8 without fallbacks: the cp1252 file is a ledger record naming line and byte.
    result = run(tmp_path, ingest_cli, {"path": str(folder), "include": ["cp1252.txt"]})
    error = result["dropped"]["cp1252.txt"]["details"]["error"]
    assert result["dropped"]["cp1252.txt"]["reason"] == "undecodable"
    assert "cp1252.txt:1: not valid utf-8 at byte 2" in error


def test_text_files_rejects_unknown_encoding(tmp_path, ingest_cli):
    config = tmp_path / "config.toml"
    config.write_text(toml_table("source", {"path": str(tmp_path), "fallback_encodings": ["cp9999"]}))
    result = ingest_cli("check", "-c", str(config))
    assert result.exit_code == ExitCode.USAGE_ERROR
    assert "fallback_encodings: unknown encoding 'cp9999'" in result.stderr


def test_text_files_max_bytes_and_missing_zstd(tmp_path, ingest_cli, monkeypatch):
    from ingest_plugins import io_util

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "big.txt.gz").write_bytes(gzip.compress(b"x" * 10_000))  # small on disk, big inside
    (folder / "small.txt").write_text("small")
    (folder / "z.txt.zst").write_bytes(b"\x28\xb5\x2f\xfd not really")
    monkeypatch.setattr(io_util, "_zstd_module", lambda: None)
    result = run(tmp_path, ingest_cli, {"path": str(folder), "max_bytes": 1000})
    assert list(result["kept"]) == ["small.txt"]
    assert {k: v["reason"] for k, v in result["dropped"].items()} == {
        "big.txt.gz": "too_large",
        "z.txt.zst": "unsupported_compression",
    }
    assert "pip install 'ingest[zstd]'" in result["dropped"]["z.txt.zst"]["details"]["error"]


def nasty_folder(folder: Path, big_bytes: int) -> dict[str, str]:
    """Every kind of bad input in one folder; returns the expected fate of each."""
    folder.mkdir()
    (folder / "undecodable.txt").write_bytes(b"fine start\nthen \xff\xfe\xfd bad bytes\n")
    (folder / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "empty.txt.gz").write_bytes(gzip.compress(b""))
    (folder / "bom_crlf.txt").write_bytes(codecs.BOM_UTF8 + b"Windows line\r\nends here\r\n")
    (folder / "corrupt.txt.gz").write_bytes(gzip.compress(b"good data " * 100)[:-30] + b"\x00" * 10)
    (folder / "not_gzip.txt.gz").write_bytes(b"just text with a .gz name")
    (folder / "truncated.txt.xz").write_bytes(lzma.compress(b"x" * 5000)[:40])
    with open(folder / "big_one_line.txt", "wb") as fh:
        chunk = b"word " * 200_000  # 1 MB, no newline anywhere
        fh.writelines(chunk for _ in range(big_bytes // len(chunk)))
    (folder / "good.txt").write_text("A perfectly good document.\n")
    return {
        "undecodable.txt": "undecodable",
        "binary.txt": "binary",
        "empty.txt": "empty",
        "empty.txt.gz": "empty",
        "bom_crlf.txt": "kept",
        "corrupt.txt.gz": "corrupt",
        "not_gzip.txt.gz": "corrupt",
        "truncated.txt.xz": "corrupt",
        "big_one_line.txt": "kept",
        "good.txt": "kept",
    }


def test_nasty_folder_nothing_is_lost(tmp_path, ingest_cli):
    # Under a second here: one read and one decode per file, nothing quadratic.
    big = 50 * 1024 * 1024
    expected = nasty_folder(tmp_path / "in", big)
    result = run(tmp_path, ingest_cli, {"path": str(tmp_path / "in")})
    fates = {k: "kept" for k in result["kept"]} | {k: v["reason"] for k, v in result["dropped"].items()}
    assert fates == expected
    assert result["report"]["input"] == len(expected)
    assert result["kept"]["bom_crlf.txt"]["text"] == "Windows line\nends here\n"
    assert len(result["kept"]["big_one_line.txt"]["text"]) == big // 1_000_000 * 1_000_000
    for record in result["dropped"].values():
        assert record["stage"] == "source" and record["path"] and record["details"]["error"]
    assert (
        "undecodable.txt:2: not valid utf-8 at byte 16"
        in result["dropped"]["undecodable.txt"]["details"]["error"]
    )


# -- jsonl_files -------------------------------------------------------------


def test_jsonl_files_field_mapping(tmp_path, ingest_cli):
    lines = [
        {"doc_id": "a", "body": "text a", "lang": "en", "score": 3, "meta": {"source": "x", "lang": "de"}},
        {"body": "text without id", "lang": "fr"},
        {"doc_id": 7, "body": "numeric id", "meta": "not an object"},
    ]
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + "\n")  # a trailing blank line
    source = {
        "type": "jsonl_files",
        "path": str(path),
        "id_field": "doc_id",
        "text_field": "body",
        "metadata_field": "meta",
    }
    result = run(tmp_path, ingest_cli, source)
    kept = result["kept"]
    assert list(kept) == ["a", "docs.jsonl:2", "7"]
    assert kept["a"]["text"] == "text a"
    assert kept["a"]["metadata"] == {"lang": "de", "score": 3, "source": "x"}  # the metadata object wins
    assert kept["docs.jsonl:2"]["metadata"] == {"lang": "fr"}
    assert kept["7"]["metadata"] == {"meta": "not an object"}  # kept, with a warning
    assert result["report"]["warnings"] == 1

    result = run(tmp_path, ingest_cli, {**source, "metadata_fields": ["sc*"]})
    assert result["kept"]["a"]["metadata"] == {"score": 3, "source": "x", "lang": "de"}
    assert result["kept"]["docs.jsonl:2"]["metadata"] == {}
    result = run(tmp_path, ingest_cli, {**source, "metadata_fields": [], "metadata_field": ""})
    assert result["kept"]["a"]["metadata"] == {}


def test_jsonl_files_bad_lines_are_recorded_with_file_and_line(tmp_path, ingest_cli):
    folder = tmp_path / "in"
    (folder / "part").mkdir(parents=True)
    (folder / "part" / "a.jsonl").write_bytes(
        b'{"id": "ok1", "text": "fine"}\n'
        b'{"id": "broken", "text": \n'
        b"[1, 2]\n"
        b'{"id": "notext"}\n'
        b'{"id": "nulltext", "text": null}\n'
        b'{"id": "empty", "text": ""}\n'
        b'{"id": {"x": 1}, "text": "object id"}\n'
        b'{"id": "latin", "text": "caf\xe9"}\n'
        b'{"id": "ok2", "text": "also fine"}\n'
    )
    result = run(tmp_path, ingest_cli, {"type": "jsonl_files", "path": str(folder)})
    assert list(result["kept"]) == ["ok1", "ok2"]
    dropped = {k: (v["reason"], v["details"]["line"]) for k, v in result["dropped"].items()}
    assert dropped == {
        "part/a.jsonl:2": ("invalid_json", 2),
        "part/a.jsonl:3": ("invalid_record", 3),
        "notext": ("missing_text", 4),
        "nulltext": ("missing_text", 5),
        "empty": ("empty", 6),
        "part/a.jsonl:7": ("invalid_record", 7),
        "part/a.jsonl:8": ("undecodable", 8),
    }
    assert result["dropped"]["part/a.jsonl:2"]["details"]["error"].startswith("part/a.jsonl:2: not JSON")
    assert result["dropped"]["part/a.jsonl:2"]["path"] == str(folder / "part" / "a.jsonl")
    assert result["report"]["input"] == 9


def test_jsonl_files_compressed_and_corrupt(tmp_path, ingest_cli):
    folder = tmp_path / "in"
    folder.mkdir()
    expected = {}
    for suffix, compress in COMPRESSORS.items():
        docs = [{"id": f"{suffix}-{i}", "text": f"text {i} from {suffix}"} for i in range(3)]
        expected.update({d["id"]: d["text"] for d in docs})
        data = "".join(json.dumps(d) + "\n" for d in docs).encode()
        (folder / f"docs{suffix.replace('.', '_')}.jsonl{suffix}").write_bytes(compress(data))
    good = "".join(json.dumps({"id": f"c{i}", "text": "x" * 200}) + "\n" for i in range(200)).encode()
    (folder / "damaged.jsonl.gz").write_bytes(gzip.compress(good)[:-100])  # truncated
    result = run(tmp_path, ingest_cli, {"type": "jsonl_files", "path": str(folder)})
    damaged = {k: v for k, v in result["dropped"].items() if k.startswith("damaged.jsonl.gz:")}
    assert len(damaged) == 1 and next(iter(damaged.values()))["reason"] == "corrupt"
    clean = {k: v["text"] for k, v in result["kept"].items() if not k.startswith("c")}
    assert clean == expected
    # The lines before the damage were read.
    assert 0 < sum(k.startswith("c") for k in result["kept"]) < 200


# -- stdin -------------------------------------------------------------------


def run_stdin(tmp_path: Path, source: dict[str, Any], data: bytes) -> dict[str, Any]:
    out = tmp_path / "out"
    config = tmp_path / "config.toml"
    config.write_text(
        toml_table("source", {"type": "stdin", **source}) + toml_table("sink", {"path": str(out)})
    )
    proc = subprocess.run(
        [sys.executable, "-m", "ingest", "run", "-c", str(config)],
        input=data,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return read_out(out)


def test_stdin_jsonl_via_subprocess(tmp_path):
    data = b'{"id": "a", "text": "first", "lang": "en"}\n{"text": "no id"}\nnot json\n'
    result = run_stdin(tmp_path, {}, data)
    assert {k: v["text"] for k, v in result["kept"].items()} == {"a": "first", "stdin:2": "no id"}
    assert result["kept"]["a"]["metadata"] == {"lang": "en"}
    assert result["dropped"]["stdin:3"]["reason"] == "invalid_json"
    assert result["dropped"]["stdin:3"]["details"]["error"].startswith("stdin:3: not JSON")


def test_stdin_text_whole_and_by_line(tmp_path, monkeypatch):
    result = run_stdin(tmp_path, {"format": "text", "id": "piped"}, b"\xef\xbb\xbfone doc\r\ntwo lines\r\n")
    assert {k: v["text"] for k, v in result["kept"].items()} == {"piped": "one doc\ntwo lines\n"}

    # In-process too: the source reads sys.stdin when the run starts.
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"line one\n\nline three\nbad \xff\n")))
    pipeline = Pipeline.from_dict(
        {
            "source": {"type": "stdin", "format": "text", "split": "line"},
            "sink": {"path": str(tmp_path / "o2")},
        }
    )
    report = pipeline.run()
    result = read_out(tmp_path / "o2")
    assert {k: v["text"] for k, v in result["kept"].items()} == {
        "stdin:1": "line one",
        "stdin:3": "line three",
    }
    assert result["dropped"]["stdin:4"]["reason"] == "undecodable"
    assert "<stdin>:4: not valid utf-8" in result["dropped"]["stdin:4"]["details"]["error"]
    assert report["input"] == 3


def test_stdin_empty_text_is_recorded(tmp_path):
    result = run_stdin(tmp_path, {"format": "text"}, b"")
    assert result["kept"] == {} and result["dropped"]["stdin"]["reason"] == "empty"
