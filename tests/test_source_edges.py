"""Hostile inputs at the sources: each is one bad input, recorded in the
ledger with a reason, and the run goes on (exit 0). Every test counts the
kept and dropped records in documents.jsonl and dropped.jsonl themselves
against the inputs it wrote.

Bad file names, duplicate ids, absurd nesting, huge integers, decompression
bombs (a few KB on disk, hundreds of MB inside: made by repeating one
compressed member or frame), truncated archives, dangling links, link loops
and folders that cannot be listed."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ingest.testing import run_cli

MiB = 1 << 20


def toml_table(name: str, values: dict[str, Any]) -> str:
    # JSON scalars and lists of strings are valid TOML values.
    return f"[{name}]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())


def read_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


class Outcome:
    """What a run wrote, read from its files: kept and dropped records by id."""

    def __init__(self, out: Path, stdout: str) -> None:
        # Strict UTF-8: an id or path that is not valid text fails here.
        kept = read_records(out / "documents.jsonl")
        dropped = read_records(out / "dropped.jsonl")
        ids = [record["id"] for record in kept + dropped]
        assert len(set(ids)) == len(ids), f"an id is written twice: {sorted(ids)}"
        self.kept = {record["id"]: record for record in kept}
        self.dropped = {record["id"]: record for record in dropped}
        self.report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        self.stdout = stdout

    def reasons(self) -> dict[str, str]:
        return {doc_id: record["reason"] for doc_id, record in self.dropped.items()}

    def error(self, doc_id: str) -> str:
        return str(self.dropped[doc_id]["details"]["error"])

    def check_inputs(self, count: int) -> None:
        """input = kept + dropped, counted in the files, and the report agrees."""
        assert len(self.kept) + len(self.dropped) == count
        assert (self.report["input"], self.report["kept"], self.report["dropped"]) == (
            count,
            len(self.kept),
            len(self.dropped),
        )


def run(tmp_path: Path, source: dict[str, Any], *, extra: str = "") -> Outcome:
    """``ingest run`` on ``source`` into the jsonl sink; the run must succeed."""
    out = tmp_path / "out"
    config = tmp_path / "config.toml"
    config.write_text(toml_table("source", source) + toml_table("sink", {"path": str(out)}) + extra)
    result = run_cli("run", "-c", str(config))
    assert result.exit_code == 0, result.stderr
    return Outcome(out, result.stdout)


def write_repeated(path: Path, member: bytes, times: int, head: bytes = b"", tail: bytes = b"") -> None:
    """A compressed file made of ``member`` (one complete gzip member or
    zstd frame, ...) ``times`` over: decompressed, the concatenation."""
    with open(path, "wb") as handle:
        handle.write(head)
        handle.writelines(member for _ in range(times))
        handle.write(tail)


def zstandard_module() -> Any:
    return pytest.importorskip("zstandard")


def zstd_compress(data: bytes) -> bytes:
    return zstandard_module().ZstdCompressor().compress(data)


COMPRESSORS = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress, ".zst": zstd_compress}


# -- point 4: one bad record does not stop the run --------------------------


def bytes_path(folder: Path, name: bytes) -> bytes:
    return os.fsencode(str(folder)) + b"/" + name


def write_bytes_name(folder: Path, name: bytes, data: bytes) -> None:
    fd = os.open(bytes_path(folder, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def test_file_name_not_utf8_is_read_under_an_escaped_id(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write_bytes_name(folder, b"bad\xff.txt", b"the content is fine\n")
    write_bytes_name(folder, b"caf\xe9-latin1.txt.gz", gzip.compress(b"compressed, fine too\n"))
    (folder / "good.txt").write_text("a good name\n")
    result = run(tmp_path, {"path": str(folder)})
    result.check_inputs(3)
    # Each byte that is not UTF-8 is a \xNN escape (a real backslash) in the id and the path.
    assert {k: v["text"] for k, v in result.kept.items()} == {
        "bad\\xff.txt": "the content is fine\n",
        "caf\\xe9-latin1.txt.gz": "compressed, fine too\n",
        "good.txt": "a good name\n",
    }
    assert result.kept["bad\\xff.txt"]["path"] == f"{folder}/bad\\xff.txt"

    # JSON Lines: the file's name is in the default ids and the messages.
    jsonl = tmp_path / "jsonl"
    jsonl.mkdir()
    write_bytes_name(jsonl, b"dump\xfe.jsonl", b'{"text": "no id"}\nnot json\n')
    result = run(tmp_path, {"type": "jsonl_files", "path": str(jsonl)})
    result.check_inputs(2)
    assert list(result.kept) == ["dump\\xfe.jsonl:1"]
    assert result.reasons() == {"dump\\xfe.jsonl:2": "invalid_json"}
    assert result.error("dump\\xfe.jsonl:2").startswith("dump\\xfe.jsonl:2: not JSON")


def test_duplicate_ids_drop_later_copies_naming_the_first(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    lines_a = [
        {"id": "x", "text": "first x"},
        {"id": "y", "text": "first y"},
        {"id": "x", "text": "second x, other text"},
        {"text": "no id"},  # id a.jsonl:4
        {"id": 7, "text": "integer id"},
    ]
    lines_b = [
        {"id": "x", "text": "third x"},
        {"id": "7", "text": "the same id as the integer 7"},
        {"id": "a.jsonl:4", "text": "the default id of a record above"},
        {"id": "z"},  # no text: dropped as missing_text, and the id is taken
        {"id": "z", "text": "z again"},
    ]
    (folder / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines_a))
    b_text = "".join(json.dumps(r) + "\n" for r in lines_b)
    (folder / "b.jsonl.gz").write_bytes(gzip.compress(b_text.encode()))
    result = run(tmp_path, {"type": "jsonl_files", "path": str(folder)})
    result.check_inputs(len(lines_a) + len(lines_b))
    assert {k: v["text"] for k, v in result.kept.items()} == {
        "x": "first x",
        "y": "first y",
        "a.jsonl:4": "no id",
        "7": "integer id",
    }
    # Later copies are recorded under their place in the input: the id is taken.
    assert result.reasons() == {
        "a.jsonl:3": "duplicate_id",
        "b.jsonl.gz:1": "duplicate_id",
        "b.jsonl.gz:2": "duplicate_id",
        "b.jsonl.gz:3": "duplicate_id",
        "z": "missing_text",
        "b.jsonl.gz:5": "duplicate_id",
    }
    details = result.dropped["b.jsonl.gz:1"]["details"]
    assert (details["duplicate_id"], details["first"], details["line"]) == ("x", "a.jsonl:1", 1)
    assert details["error"] == (
        "b.jsonl.gz:1: id 'x' is already used by the record at a.jsonl:1; ids must be unique"
    )
    assert result.dropped["b.jsonl.gz:2"]["details"]["first"] == "a.jsonl:5"
    assert result.dropped["b.jsonl.gz:5"]["details"]["first"] == "b.jsonl.gz:4"
    assert result.dropped["a.jsonl:3"]["path"] == str(folder / "a.jsonl")


def nested(depth: int) -> str:
    """A record whose metadata nests ``depth`` levels in all (the record is level 1)."""
    inner = depth - 1
    return f'{{"id": "d{depth}", "text": "nested", "deep": {"[" * inner}{"]" * inner}}}\n'


def test_deeply_nested_records_are_dropped_and_the_deepest_kept_one_travels(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    plain = '{"id": "plain", "text": "[[[[ brackets in text ]]]]"}\n'
    records = [nested(200_000), nested(101), nested(100), plain]
    (folder / "deep.jsonl").write_text("".join(records))
    # Two workers: the kept record is pickled to a worker and back, then written.
    result = run(
        tmp_path,
        {"type": "jsonl_files", "path": str(folder)},
        extra='[run]\nworkers = 2\n[[pipeline]]\nstage = "dedup"\n',
    )
    result.check_inputs(len(records))
    assert result.reasons() == {"deep.jsonl:1": "too_deep", "deep.jsonl:2": "too_deep"}
    assert result.error("deep.jsonl:1") == "deep.jsonl:1: nested more than 100 levels deep"
    assert set(result.kept) == {"d100", "plain"}
    depth, value = 2, result.kept["d100"]["metadata"]["deep"]
    while value:
        depth, value = depth + 1, value[0]
    assert depth == 100


def test_huge_integer_is_kept_as_digits_with_a_warning(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    digits = "7" * 5000
    lines = [
        f'{{"id": "big", "text": "a huge number", "count": {digits}, "metadata": {{"n": -{digits}}}}}\n',
        f'{{"id": {digits}, "text": "a huge id"}}\n',
        '{"id": "small", "text": "fine", "count": 12345678901234567890123}\n',
    ]
    (folder / "numbers.jsonl").write_text("".join(lines))
    result = run(tmp_path, {"type": "jsonl_files", "path": str(folder)})
    result.check_inputs(3)
    assert result.kept["big"]["metadata"] == {"count": digits, "n": "-" + digits}
    assert result.kept[digits]["text"] == "a huge id"
    assert result.kept["small"]["metadata"] == {"count": 12345678901234567890123}  # still a number
    assert result.report["warnings"] == 2
    samples = result.report["warning_samples"]
    assert any("integers longer than" in w and "kept as strings" in w for w in samples)


# -- point 5: decompression bombs and giant lines ---------------------------


def test_bombs_stop_at_max_bytes_in_every_compression(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    zeros = bytes(4 * MiB)
    for suffix, compress in COMPRESSORS.items():
        # 64 x 4 MiB = 256 MiB inside a file of a few KB
        write_repeated(folder / f"bomb.txt{suffix}", compress(zeros), 64)
    with open(folder / "sparse.txt", "wb") as handle:
        handle.truncate(256 * MiB)  # big on the outside too: refused before reading
    (folder / "fine.txt.gz").write_bytes(gzip.compress(b"x" * (MiB - 1)))
    result = run(tmp_path, {"path": str(folder), "max_bytes": MiB})
    result.check_inputs(len(COMPRESSORS) + 2)
    assert list(result.kept) == ["fine.txt.gz"]
    expected = {f"bomb.txt{suffix}": "too_large" for suffix in COMPRESSORS} | {"sparse.txt": "too_large"}
    assert result.reasons() == expected
    assert "decompressed, larger than max_bytes = 1,048,576 bytes (1 MiB)" in result.error("bomb.txt.gz")
    assert "268,435,456 bytes (256 MiB), larger than max_bytes" in result.error("sparse.txt")


def test_giant_jsonl_line_is_dropped_and_the_next_lines_are_read(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    letters = b"a" * (4 * MiB)
    compressors = {".gz": gzip.compress, ".zst": zstandard_module().ZstdCompressor().compress}
    for suffix, compress in compressors.items():
        # 64 x 4 MiB of letters with no newline: one 256 MiB line, between two good ones
        head = b'{"id": "before%s", "text": "before"}\n{"id": "big", "text": "' % suffix.encode()
        tail = b'"}\n{"id": "after%s", "text": "after the giant line"}\n' % suffix.encode()
        name = folder / f"bomb.jsonl{suffix}"
        write_repeated(name, compress(letters), 64, head=compress(head), tail=compress(tail))
    result = run(tmp_path, {"type": "jsonl_files", "path": str(folder), "max_bytes": MiB})
    result.check_inputs(6)
    assert result.reasons() == {"bomb.jsonl.gz:2": "too_large", "bomb.jsonl.zst:2": "too_large"}
    size = len(b'{"id": "big", "text": "') + 64 * len(letters) + len(b'"}\n')
    assert result.error("bomb.jsonl.gz:2") == (
        f"bomb.jsonl.gz:2: the line is {size:,} bytes (256 MiB), "
        "larger than max_bytes = 1,048,576 bytes (1 MiB); read past, never held in memory"
    )
    assert set(result.kept) == {"before.gz", "after.gz", "before.zst", "after.zst"}


def test_stdin_limits_lines_and_whole_input(tmp_path):
    def run_stdin(source: dict[str, Any], data: bytes, name: str) -> Outcome:
        out = tmp_path / name
        config = tmp_path / f"{name}.toml"
        config.write_text(
            toml_table("source", {"type": "stdin", **source}) + toml_table("sink", {"path": str(out)})
        )
        command = [sys.executable, "-m", "ingest", "run", "-c", str(config)]
        result = subprocess.run(command, input=data, capture_output=True, check=False)
        assert result.returncode == 0, result.stderr
        return Outcome(out, result.stdout.decode())

    long_record = b'{"id": "b", "text": "%s"}\n' % (b"x" * 5000)
    data = b'{"id": "a", "text": "short"}\n' + long_record + b'{"id": "c", "text": "ok"}\n'
    result = run_stdin({"max_bytes": 1000}, data, "jsonl")
    result.check_inputs(3)
    assert set(result.kept) == {"a", "c"} and result.reasons() == {"stdin:2": "too_large"}
    lines = b"one\n" + b"y" * 5000 + b"\nthree\n"
    result = run_stdin({"format": "text", "split": "line", "max_bytes": 1000}, lines, "lines")
    result.check_inputs(3)
    assert result.reasons() == {"stdin:2": "too_large"}
    result = run_stdin({"format": "text", "max_bytes": 1000}, b"z" * 5000, "whole")
    result.check_inputs(1)
    assert result.reasons() == {"stdin": "too_large"}


def test_default_limit_protects_a_user_who_never_read_the_docs(tmp_path):
    """The default config, a 16 KB .gz that holds 1 GiB: the run reads 64 MiB
    of it at most. Without the limit this process peaks above 2 GB."""
    folder = tmp_path / "in"
    folder.mkdir()
    write_repeated(folder / "bomb.txt.gz", gzip.compress(bytes(16 * MiB), compresslevel=9), 64)
    (folder / "good.txt").write_text("fine\n")
    out = tmp_path / "out"
    config = tmp_path / "config.toml"
    config.write_text(toml_table("source", {"path": str(folder)}) + toml_table("sink", {"path": str(out)}))
    # Its own process, so its peak memory is its own. Linux's ru_maxrss keeps the peak of the
    # process before it exec'd Python: a copy of this (maybe large) test process; VmHWM does not.
    code = (
        "import resource, sys\n"
        "from ingest.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "try:\n"
        "    with open('/proc/self/status') as f:\n"
        "        peak = next(int(l.split()[1]) for l in f if l.startswith('VmHWM:'))\n"
        "except (OSError, StopIteration):\n"
        "    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print('peak-kb', peak)\n"
        "sys.exit(code)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "run", "-c", str(config)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    peak_kb = int(proc.stdout.rsplit("peak-kb", 1)[1].split()[0])
    assert peak_kb * 1024 < 512 * MiB, f"peak memory {peak_kb} KB for a 1 GiB bomb"
    result = Outcome(out, proc.stdout)
    result.check_inputs(2)
    assert result.reasons() == {"bomb.txt.gz": "too_large"}
    assert "larger than max_bytes = 67,108,864 bytes (64 MiB)" in result.error("bomb.txt.gz")


# -- point 9: truncated archives are corrupt, not empty ---------------------


def test_truncated_archives_are_corrupt(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    text = "".join(f"line {i} of a document long enough to fill several blocks\n" for i in range(20_000))
    expected = {}
    for suffix, compress in COMPRESSORS.items():
        data = compress(text.encode())
        for name, cut in (("half", len(data) // 2), ("header", 6), ("tail", len(data) - 1)):
            (folder / f"{name}.txt{suffix}").write_bytes(data[:cut])
            expected[f"{name}.txt{suffix}"] = "corrupt"
    # A zstd file of two frames, the second cut off inside its header: the first is complete.
    zst = zstd_compress(b"first frame\n")
    (folder / "frames.txt.zst").write_bytes(zst + zst[:5])
    expected["frames.txt.zst"] = "corrupt"
    (folder / "whole.txt.zst").write_bytes(zst + zst)  # two complete frames: read both
    (folder / "nothing.txt.zst").write_bytes(b"")  # no frame at all: empty, not corrupt
    expected["nothing.txt.zst"] = "empty"
    result = run(tmp_path, {"path": str(folder)})
    result.check_inputs(len(expected) + 1)
    assert result.reasons() == expected
    assert result.kept["whole.txt.zst"]["text"] == "first frame\nfirst frame\n"
    assert "damaged zstd data: TruncatedError: truncated" in result.error("half.txt.zst")

    # JSON Lines: the lines before the cut are read, the rest is one corrupt record.
    jsonl = tmp_path / "jsonl"
    jsonl.mkdir()
    lines = "".join(json.dumps({"id": f"r{i}", "text": "x" * 200}) + "\n" for i in range(2000)).encode()
    data = zstd_compress(lines)
    (jsonl / "cut.jsonl.zst").write_bytes(data[: len(data) - 10])
    result = run(tmp_path, {"type": "jsonl_files", "path": str(jsonl)})
    (cut_id,) = result.dropped
    line = int(cut_id.rsplit(":", 1)[1])
    assert result.dropped[cut_id]["reason"] == "corrupt"
    assert "cannot read from here on" in result.error(cut_id)
    assert set(result.kept) == {f"r{i}" for i in range(line - 1)}
    result.check_inputs(line)


# -- point 7: what a folder walk cannot read --------------------------------


def test_broken_links_loops_and_folder_links_are_recorded(tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "real.txt").write_text("real\n")
    (folder / "dangling.txt").symlink_to(folder / "missing.txt")
    (folder / "loop.txt").symlink_to(folder / "loop.txt")
    (folder / "ping.txt").symlink_to(folder / "pong.txt")
    (folder / "pong.txt").symlink_to(folder / "ping.txt")
    (folder / "to-file.txt").symlink_to(folder / "sub" / "real.txt")  # a link to a file is read
    (folder / "to-sub").symlink_to(folder / "sub", target_is_directory=True)  # not followed: a warning
    (folder / "dangling.md").symlink_to(folder / "missing.md")  # not included: not an input
    os.mkfifo(folder / "pipe.txt")  # never opened (it would block)
    result = run(tmp_path, {"path": str(folder)})
    result.check_inputs(7)
    assert set(result.kept) == {"sub/real.txt", "to-file.txt"}
    assert result.reasons() == {
        "dangling.txt": "broken_link",
        "loop.txt": "link_loop",
        "ping.txt": "link_loop",
        "pong.txt": "link_loop",
        "pipe.txt": "unreadable",
    }
    assert result.error("dangling.txt") == (
        f"{folder}/dangling.txt: symbolic link to '{folder}/missing.txt', which does not exist"
    )
    assert result.error("pipe.txt").endswith("pipe.txt: a named pipe")
    assert result.report["warnings"] == 1
    assert f"{folder}/to-sub/: symbolic link to the folder" in result.report["warning_samples"][0]

    # The same walk for JSON Lines; excluded names are no inputs.
    jsonl = tmp_path / "jsonl"
    jsonl.mkdir()
    (jsonl / "ok.jsonl").write_text('{"id": "a", "text": "fine"}\n')
    (jsonl / "gone.jsonl.gz").symlink_to(jsonl / "nowhere.jsonl.gz")
    (jsonl / "skip.jsonl").symlink_to(jsonl / "nowhere.jsonl")
    result = run(tmp_path, {"type": "jsonl_files", "path": str(jsonl), "exclude": ["skip.jsonl"]})
    result.check_inputs(2)
    assert result.reasons() == {"gone.jsonl.gz": "broken_link"}


def make_too_long_path(folder: Path, levels: int = 20) -> Path:
    """Folders nested past the system's path length limit (made one level at
    a time relative to the last), with a file at the bottom: listing the
    deepest folder by its path fails with "File name too long", even as root."""
    name = "d" * 250
    fd = os.open(folder, os.O_RDONLY)
    try:
        for _ in range(levels):
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = child
        handle = os.open("lost.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(handle, b"unreachable by path\n")
        os.close(handle)
    finally:
        os.close(fd)
    return folder / name


def test_folder_that_cannot_be_listed_is_recorded(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "ok.txt").write_text("fine\n")
    top = make_too_long_path(folder)
    try:
        result = run(tmp_path, {"path": str(folder)})
        result.check_inputs(2)
        (lost,) = result.dropped
        assert lost.startswith("d" * 250 + "/") and lost.endswith("/")
        assert result.dropped[lost]["reason"] == "unreadable"
        message = "cannot list the folder: File name too long; the files in it are not read"
        assert result.error(lost).endswith(message)
        # A folder the include patterns cannot reach, or that is excluded, is not an input.
        result = run(tmp_path, {"path": str(folder), "include": ["*.txt"]})
        result.check_inputs(1)
        result = run(tmp_path, {"path": str(folder), "exclude": ["d*/*"]})
        result.check_inputs(1)
    finally:
        shutil.rmtree(top)  # file-descriptor based: long paths are no problem


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="root reads a folder whatever its permissions; test_folder_that_cannot_be_listed_is_recorded "
    "covers the same path with a folder too deep to list",
)
def test_folder_without_permission_is_recorded(tmp_path):
    folder = tmp_path / "in"
    (folder / "locked").mkdir(parents=True)
    (folder / "locked" / "secret.txt").write_text("secret\n")
    (folder / "ok.txt").write_text("fine\n")
    os.chmod(folder / "locked", 0)
    try:
        result = run(tmp_path, {"path": str(folder)})
    finally:
        os.chmod(folder / "locked", 0o755)
    result.check_inputs(2)
    assert result.reasons() == {"locked/": "unreadable"}
    assert "cannot list the folder: Permission denied" in result.error("locked/")
