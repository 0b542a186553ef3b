"""The built-in sinks: each round-trips the seed corpus through its own
format's reader, appears atomically, and leaves nothing complete-looking
when the run fails."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from ingest import ExitCode

SEEDS = Path(__file__).parent.parent / "samples" / "seeds"

DROP_IDS_PLUGIN = """
import attrs
from ingest import Drop, StageKind, StageSpec, hookimpl

@attrs.define
class Options:
    ids: list[str] = attrs.field(factory=list)

def factory(options, ctx):
    def process(doc):
        return Drop("unwanted", details={"why": "listed"}) if doc.id in options.ids else doc
    return process

@hookimpl
def ingest_stages():
    return [StageSpec("drop_ids", StageKind.FILTER, factory, Options, "drop listed ids", per_document=True)]
"""

BROKEN_SOURCE_PLUGIN = """
from ingest import Document, StageKind, StageSpec, hookimpl

class Broken:
    def __init__(self, options, ctx):
        self.ctx = ctx
    def __iter__(self):
        yield Document("a", "first document text")
        self.ctx.drop("b", "unreadable", error="b is gone")
        yield Document("c", "second document text")
        raise OSError("disk went away")

@hookimpl
def ingest_stages():
    return [StageSpec("broken_source", StageKind.SOURCE, Broken, None, "fails mid-way")]
"""


def toml_table(name: str, values: dict[str, Any]) -> str:
    # JSON scalars and lists of strings are valid TOML values.
    return f"[{name}]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())


def write_config(tmp_path: Path, source: dict[str, Any], sink: dict[str, Any], extra: str = "") -> Path:
    (tmp_path / "drop_ids.py").write_text(DROP_IDS_PLUGIN)
    (tmp_path / "broken.py").write_text(BROKEN_SOURCE_PLUGIN)
    config = tmp_path / "config.toml"
    config.write_text(
        '[plugins]\npaths = ["drop_ids.py", "broken.py"]\n'
        + toml_table("source", source)
        + toml_table("sink", sink)
        + extra
    )
    return config


def seed_texts() -> dict[str, str]:
    """What the text_files source makes of each seed: id -> text."""
    texts = {}
    for path in sorted(SEEDS.glob("*.txt")):
        text = path.read_bytes().decode("utf-8-sig")
        texts[path.name] = text.replace("\r\n", "\n").replace("\r", "\n")
    assert texts, "the seed corpus is missing"
    return texts


def run_seeds(tmp_path: Path, ingest_cli: Any, sink: dict[str, Any], extra: str = "") -> Path:
    out = tmp_path / "out"
    config = write_config(tmp_path, {"path": str(SEEDS)}, {"path": str(out), **sink}, extra)
    result = ingest_cli("run", "-c", str(config))
    assert result.exit_code == 0, result.stderr
    return out


def read_report(out: Path) -> dict[str, Any]:
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["balanced"] and report["input"] == report["kept"] + report["dropped"]
    return report


def no_partials(out: Path) -> None:
    assert not list(out.glob(".*partial")), list(out.iterdir())


# -- jsonl -----------------------------------------------------------------


def zstd_decompress(data: bytes) -> bytes:
    zstandard = pytest.importorskip("zstandard")
    # A streamed frame has no content size in its header: read it as a stream.
    return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True).read()


DECOMPRESS = {".gz": gzip.decompress, ".bz2": bz2.decompress, ".xz": lzma.decompress, ".zst": zstd_decompress}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    data = DECOMPRESS.get(path.suffix, bytes)(path.read_bytes())
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


@pytest.mark.parametrize("compression", ["none", "gzip", "bz2", "xz", "zstd"])
def test_jsonl_sink_round_trips_seeds_compressed(tmp_path, ingest_cli, compression):
    if compression == "zstd":
        pytest.importorskip("zstandard")
    out = run_seeds(tmp_path, ingest_cli, {"type": "jsonl", "compression": compression})
    suffix = {"none": "", "gzip": ".gz", "bz2": ".bz2", "xz": ".xz", "zstd": ".zst"}[compression]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"documents.jsonl{suffix}", f"dropped.jsonl{suffix}", "report.json", "report.html"]
    )
    docs = read_jsonl(out / f"documents.jsonl{suffix}")
    assert {d["id"]: d["text"] for d in docs} == seed_texts()
    assert read_jsonl(out / f"dropped.jsonl{suffix}") == []
    report = read_report(out)
    assert report["outputs"]["documents"] == str(out / f"documents.jsonl{suffix}")


def test_jsonl_sink_shards_and_removes_stale_shards(tmp_path, ingest_cli):
    out = run_seeds(tmp_path, ingest_cli, {"type": "jsonl", "compression": "gzip", "shard_bytes": 5000})
    shards = sorted(out.glob("documents-*.jsonl.gz"))
    assert len(shards) >= 2
    assert [p.name for p in shards][:2] == ["documents-00000.jsonl.gz", "documents-00001.jsonl.gz"]
    docs = [doc for shard in shards for doc in read_jsonl(shard)]
    assert [d["id"] for d in docs] == sorted(seed_texts())  # order kept across shards
    assert {d["id"]: d["text"] for d in docs} == seed_texts()
    assert sorted(out.glob("dropped-*.jsonl.gz")) == [out / "dropped-00000.jsonl.gz"]
    report = read_report(out)
    assert report["outputs"]["documents"] == [str(p) for p in shards]
    # A rerun with bigger shards must not leave the old extra shards behind.
    out = run_seeds(tmp_path, ingest_cli, {"type": "jsonl", "compression": "gzip", "shard_bytes": 10**9})
    assert sorted(p.name for p in out.glob("documents*")) == ["documents-00000.jsonl.gz"]
    assert len(read_jsonl(out / "documents-00000.jsonl.gz")) == len(seed_texts())
    no_partials(out)


def test_jsonl_sink_rejects_mismatched_suffix(tmp_path, ingest_cli):
    config = write_config(tmp_path, {"path": str(SEEDS)}, {"type": "jsonl", "documents": "d.jsonl.gz"})
    result = ingest_cli("check", "-c", str(config))
    assert result.exit_code == ExitCode.USAGE_ERROR
    assert "[sink]" in result.stderr and "compression" in result.stderr


# -- parquet ---------------------------------------------------------------


def test_parquet_sink_round_trips_seeds(tmp_path, ingest_cli):
    pq = pytest.importorskip("pyarrow.parquet")
    extra = '[[pipeline]]\nstage = "drop_ids"\nids = ["001_2877f954cb6919f4.txt"]\n'
    out = run_seeds(tmp_path, ingest_cli, {"type": "parquet", "row_group_rows": 2}, extra)
    assert sorted(p.name for p in out.iterdir()) == ["documents.parquet", "dropped.parquet", "report.json"]
    documents = pq.ParquetFile(out / "documents.parquet")
    expected = seed_texts()
    dropped_id = "001_2877f954cb6919f4.txt"
    assert documents.metadata.num_row_groups == 2  # 4 rows in groups of 2: bounded memory
    table = documents.read()
    assert table.column_names == ["id", "text", "metadata", "path"]
    rows = table.to_pylist()
    assert {r["id"]: r["text"] for r in rows} == {k: v for k, v in expected.items() if k != dropped_id}
    assert all(json.loads(r["metadata"]) == {} and r["path"].endswith(r["id"]) for r in rows)
    dropped = pq.read_table(out / "dropped.parquet").to_pylist()
    assert len(dropped) == 1
    record = dropped[0]
    assert (record["id"], record["stage"], record["reason"], record["duplicate_of"]) == (
        dropped_id,
        "drop_ids",
        "unwanted",
        None,
    )
    assert json.loads(record["details"])["why"] == "listed"
    assert read_report(out)["dropped"] == 1


def test_parquet_sink_without_pyarrow_is_a_config_error(tmp_path, ingest_cli, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a)
    )
    config = write_config(tmp_path, {"path": str(SEEDS)}, {"type": "parquet", "path": str(tmp_path / "out")})
    result = ingest_cli("run", "-c", str(config))
    assert result.exit_code == ExitCode.USAGE_ERROR
    assert "pip install 'ingest[parquet]'" in result.stderr and "[sink]" in result.stderr
    assert not (tmp_path / "out").exists()


# -- csv -------------------------------------------------------------------


def read_csv(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    csv.field_size_limit(sys.maxsize)  # texts can be long
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter=delimiter))


@pytest.mark.parametrize("delimiter", [",", "\t"])
def test_csv_sink_round_trips_seeds(tmp_path, ingest_cli, delimiter):
    extra = '[[pipeline]]\nstage = "drop_ids"\nids = ["000_0641a12947d22cdf.txt"]\n'
    out = run_seeds(tmp_path, ingest_cli, {"type": "csv", "delimiter": delimiter}, extra)
    assert sorted(p.name for p in out.iterdir()) == ["documents.csv", "dropped.csv", "report.json"]
    rows = read_csv(out / "documents.csv", delimiter)
    expected = seed_texts()
    del expected["000_0641a12947d22cdf.txt"]
    assert {r["id"]: r["text"] for r in rows} == expected  # newlines, quotes and commas survive
    assert list(rows[0]) == ["id", "text", "metadata", "path"]
    dropped = read_csv(out / "dropped.csv", delimiter)
    assert [(r["id"], r["stage"], r["reason"]) for r in dropped] == [
        ("000_0641a12947d22cdf.txt", "drop_ids", "unwanted")
    ]
    assert list(dropped[0]) == ["id", "stage", "reason", "duplicate_of", "details", "path"]
    details = json.loads(dropped[0]["details"])
    assert details["why"] == "listed" and "drop_ids" in details["plugin"]  # the plugin is kept too
    read_report(out)


# -- sqlite ----------------------------------------------------------------


def db_rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_sqlite_sink_round_trips_and_upserts(tmp_path, ingest_cli):
    expected = seed_texts()
    moved = "002_3cbde2034b18dd31.txt"
    out = run_seeds(tmp_path, ingest_cli, {"type": "sqlite"})
    db = out / "ingest.sqlite"
    assert sorted(p.name for p in out.iterdir()) == ["ingest.sqlite", "report.json"]
    assert dict(db_rows(db, "SELECT id, text FROM documents")) == expected
    first_run = read_report(out)["run_id"]
    assert db_rows(db, "SELECT DISTINCT run_id FROM documents") == [(first_run,)]
    assert db_rows(db, "SELECT json_extract(metadata, '$') FROM documents LIMIT 1") == [("{}",)]

    # The same input again, with one document dropped this time.
    extra = f'[[pipeline]]\nstage = "drop_ids"\nids = ["{moved}"]\n'
    out = run_seeds(tmp_path, ingest_cli, {"type": "sqlite"}, extra)
    second_run = read_report(out)["run_id"]
    assert second_run != first_run
    docs = dict(db_rows(db, "SELECT id, text FROM documents"))
    assert docs == {k: v for k, v in expected.items() if k != moved}  # no duplicates, one moved out
    assert db_rows(db, "SELECT id, stage, reason, run_id FROM dropped") == [
        (moved, "drop_ids", "unwanted", second_run)
    ]
    assert db_rows(db, "SELECT DISTINCT run_id FROM documents") == [(second_run,)]
    assert [r[0] for r in db_rows(db, "SELECT run_id FROM runs ORDER BY run_id")] == sorted(
        [first_run, second_run]
    )
    stored = json.loads(db_rows(db, f"SELECT report FROM runs WHERE run_id = '{second_run}'")[0][0])
    assert stored["dropped"] == 1 and stored["kept"] == len(expected) - 1

    # And back: kept again, it leaves the dropped table.
    run_seeds(tmp_path, ingest_cli, {"type": "sqlite"})
    assert dict(db_rows(db, "SELECT id, text FROM documents")) == expected
    assert db_rows(db, "SELECT count(*) FROM dropped") == [(0,)]
    assert db_rows(db, "SELECT count(*) FROM runs") == [(3,)]


def test_sqlite_sink_replace_empties_tables(tmp_path, ingest_cli):
    run_seeds(tmp_path, ingest_cli, {"type": "sqlite", "database": "x.db"})
    other = tmp_path / "other"
    other.mkdir()
    (other / "only.txt").write_text("the only document")
    out = tmp_path / "out"
    config = write_config(
        tmp_path,
        {"path": str(other)},
        {"type": "sqlite", "path": str(out), "database": "x.db", "replace": True},
    )
    assert ingest_cli("run", "-c", str(config)).exit_code == 0
    assert db_rows(out / "x.db", "SELECT id FROM documents") == [("only.txt",)]


# -- failed runs -----------------------------------------------------------

SINKS = [
    {"type": "jsonl"},
    {"type": "jsonl", "compression": "gzip", "shard_bytes": 10},
    {"type": "parquet"},
    {"type": "csv"},
    {"type": "sqlite"},
]


@pytest.mark.parametrize("sink", SINKS, ids=lambda s: "-".join(str(v) for v in s.values()))
def test_failed_run_leaves_no_complete_looking_output(tmp_path, ingest_cli, sink):
    if sink["type"] == "parquet":
        pytest.importorskip("pyarrow")
    out = tmp_path / "out"
    config = write_config(tmp_path, {"type": "broken_source"}, {"path": str(out), **sink})
    result = ingest_cli("run", "-c", str(config))
    assert result.exit_code == ExitCode.RUN_FAILED
    assert "disk went away" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == []


def test_failed_sqlite_rerun_keeps_the_previous_run(tmp_path, ingest_cli):
    out = run_seeds(tmp_path, ingest_cli, {"type": "sqlite"})
    db = out / "ingest.sqlite"
    before = db_rows(db, "SELECT id, text, run_id FROM documents ORDER BY id")
    config = write_config(tmp_path, {"type": "broken_source"}, {"path": str(out), "type": "sqlite"})
    assert ingest_cli("run", "-c", str(config)).exit_code == ExitCode.RUN_FAILED
    # Rolled back: nothing of the failed run, and no report vouching for it.
    assert db_rows(db, "SELECT id, text, run_id FROM documents ORDER BY id") == before
    assert db_rows(db, "SELECT count(*) FROM dropped") == [(0,)]
    assert db_rows(db, "SELECT count(*) FROM runs") == [(1,)]
    assert sorted(p.name for p in out.iterdir()) == ["ingest.sqlite"]


#: A stage that gives document "c" the id "a" (sources keep ids unique; a stage may not).
RENAME_STAGE = """
import attrs
from ingest import StageKind, StageSpec, hookimpl

def rename(options, ctx):
    return lambda doc: attrs.evolve(doc, id="a") if doc.id == "c" else doc

@hookimpl
def ingest_stages():
    return [StageSpec("rename_c", StageKind.TRANSFORM, rename, None, "c becomes a", per_document=True)]
"""


def test_sqlite_sink_warns_about_a_repeated_id_in_one_run(tmp_path, ingest_cli):
    source = tmp_path / "docs.jsonl"
    source.write_text(
        '{"id": "a", "text": "first a"}\n{"id": "c", "text": "second a"}\n{"id": "b", "text": "b"}\n'
    )
    (tmp_path / "rename_c.py").write_text(RENAME_STAGE)
    out = tmp_path / "out"
    config = write_config(
        tmp_path, {"type": "jsonl_files", "path": str(source)}, {"type": "sqlite", "path": str(out)}
    )
    config.write_text(
        config.read_text().replace('"broken.py"]', '"broken.py", "rename_c.py"]')
        + '[[pipeline]]\nstage = "rename_c"\n'
    )
    result = ingest_cli("run", "-c", str(config))
    assert result.exit_code == 0, result.stderr
    assert db_rows(out / "ingest.sqlite", "SELECT id, text FROM documents ORDER BY id") == [
        ("a", "first a"),
        ("b", "b"),
    ]
    report = read_report(out)
    assert report["warnings"] == 1 and "'a' was kept twice" in report["warning_samples"][0]
