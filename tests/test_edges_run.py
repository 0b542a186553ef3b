"""Nothing lost at the edges of a run: records a sink cannot encode, two runs
on one output folder, a full disk, leftovers of a killed run, inputs edited
under an interrupted run. Every check of "nothing lost" counts the lines of
the output files themselves, not the report."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_resume import make_corpus, read_checkpoint
from test_resume import write_config as write_resume_config

from ingest import ExitCode
from ingest.engine.output_lock import LOCK_NAME

STORY_WORDS = (
    "council harbour budget river festival crowd town hall debate minister election weather storm market "
    "prices school teachers hospital doctors police station bridge railway airport museum library garden"
).split()


def story(seed: int, words: int = 160) -> str:
    """A deterministic paragraph of news-like prose, different for each seed."""
    out = []
    state = seed * 7919 + 17
    for i in range(words):
        state = (state * 1103515245 + 12345) % (1 << 31)
        out.append(STORY_WORDS[state % len(STORY_WORDS)] + ("." if i % 14 == 13 else ""))
    return " ".join(out).capitalize() + "."


def jsonl_lines(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def accounted_ids(out: Path) -> tuple[list[str], list[dict]]:
    """Ids in documents.jsonl, and the records of dropped.jsonl, read from the files."""
    kept = [record["id"] for record in jsonl_lines(out / "documents.jsonl")]
    dropped = jsonl_lines(out / "dropped.jsonl")
    return kept, dropped


def write_jsonl_input(folder: Path, records: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "docs.jsonl"
    # json.dumps escapes lone surrogates (\ud800), as any JSON writer may
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def config_for(tmp_path: Path, source: str, stages: list[str], *, workers: int = 1, sink: str = "") -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f'{source}\n[sink]\npath = "out"\n{sink}\n[run]\nworkers = {workers}\n'
        + "".join(f'[[pipeline]]\nstage = "{stage}"\n' for stage in stages)
    )
    return config


# -- 1 and 4: a document the sink cannot encode ---------------------------------


@pytest.mark.parametrize("surrogate_in", ["dropped", "kept", "both"])
def test_a_lone_surrogate_never_loses_a_record(tmp_path, ingest_cli, surrogate_in):
    base = story(1)
    records = [
        {
            "id": "original",
            "text": base + (" \ud800" if surrogate_in in ("kept", "both") else "") + " More text.",
        },
        # a near copy of it, shorter: dedup drops it
        {"id": "copy", "text": base + (" \ud801" if surrogate_in in ("dropped", "both") else "")},
        {"id": "other", "text": story(2)},
    ]
    write_jsonl_input(tmp_path / "in", records)
    config = config_for(tmp_path, '[source]\ntype = "jsonl_files"\npath = "in"', ["dedup"])
    result = ingest_cli("run", "-c", str(config))
    assert result.exit_code == 0, result.stderr
    kept, dropped = accounted_ids(tmp_path / "out")
    assert sorted(kept + [r["id"] for r in dropped]) == sorted(r["id"] for r in records)
    by_id = {r["id"]: r for r in dropped}
    assert by_id["copy"]["stage"] == "dedup" and by_id["copy"]["duplicate_of"] == "original"
    if surrogate_in in ("dropped", "both"):
        # the drop record is written, the text made encodable, and it says so
        assert "\ufffd" in by_id["copy"]["text"]
        assert "surrogates not allowed" in by_id["copy"]["details"]["record_altered"]
    if surrogate_in in ("kept", "both"):
        assert by_id["original"]["stage"] == "sink" and by_id["original"]["reason"] == "unwritable"
        assert "surrogates not allowed" in by_id["original"]["details"]["error"]
    else:
        assert "original" in kept
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["input"] == 3 and report["kept"] == len(kept) and report["dropped"] == len(dropped)


#: A per-document stage that gives one document a metadata value no JSON
#: encoder takes (an integer past Python's 4,300-digit int/str limit).
BIG_NUMBER_STAGE = """
from ingest import StageKind, StageSpec, hookimpl

def big_number(options, ctx):
    def process(doc):
        if doc.id == "d031":
            doc.metadata["views"] = 10 ** 5000
        return doc
    return process

@hookimpl
def ingest_stages():
    return [StageSpec("big_number", StageKind.TRANSFORM, big_number, None, "a huge integer", per_document=True)]
"""


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("sink", ["jsonl", "csv", "sqlite", "parquet"])
def test_unwritable_documents_are_dropped_by_the_sink_with_any_worker_count(
    tmp_path, ingest_cli, workers, sink
):
    records = [{"id": f"d{i:03d}", "text": story(i, 40)} for i in range(60)]
    records[7]["text"] += " \udcff"  # a lone surrogate
    records[44]["text"] = "\ud83d" + records[44]["text"]
    write_jsonl_input(tmp_path / "in", records)
    (tmp_path / "big_number.py").write_text(BIG_NUMBER_STAGE)
    config = config_for(
        tmp_path,
        '[plugins]\npaths = ["big_number.py"]\n[source]\ntype = "jsonl_files"\npath = "in"',
        ["header", "big_number"],
        workers=workers,
        sink=f'type = "{sink}"',
    )
    result = ingest_cli("run", "-c", str(config))
    assert result.exit_code == 0, result.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["input"] == 60 and report["kept"] == 57 and report["dropped"] == 3
    assert report["stages"]["sink"]["dropped"] == {"unwritable": 3}
    if sink == "jsonl":
        kept, dropped = accounted_ids(tmp_path / "out")
        assert len(kept) == 57 and len(set(kept)) == 57
        reasons = {r["id"]: (r["stage"], r["reason"], r["details"]["error"]) for r in dropped}
        assert sorted(reasons) == ["d007", "d031", "d044"]
        assert all(stage == "sink" and reason == "unwritable" for stage, reason, _ in reasons.values())
        assert "surrogates not allowed" in reasons["d007"][2] and "4300 digits" in reasons["d031"][2]


def test_a_sink_that_cannot_record_a_drop_fails_the_run_instead_of_losing_it(tmp_path, ingest_cli):
    (tmp_path / "failing_observer.py").write_text(
        "from ingest import hookimpl\n"
        "@hookimpl\n"
        "def ingest_document_dropped(record):\n"
        "    raise OSError('the drop log is gone')\n"
    )
    write_jsonl_input(tmp_path / "in", [{"id": "a", "text": story(3)}, {"id": "b", "text": story(3)}])
    config = config_for(tmp_path, '[source]\ntype = "jsonl_files"\npath = "in"', ["dedup"])
    config.write_text('[plugins]\npaths = ["failing_observer.py"]\n' + config.read_text())
    result = ingest_cli("run", "-c", str(config))
    assert result.exit_code == ExitCode.RUN_FAILED
    assert (
        "could not record that 'b' was dropped" in result.stderr and "the drop log is gone" in result.stderr
    )
    assert not (tmp_path / "out" / "report.json").exists()
    assert not (tmp_path / "out" / "documents.jsonl").exists()


# -- 2: one run per output folder --------------------------------------------------


def test_a_second_run_on_a_busy_output_folder_refuses_and_the_first_is_intact(tmp_path, ingest_cli):
    corpus = tmp_path / "corpus"
    make_corpus(corpus, 300)
    inputs = sum(1 for p in corpus.rglob("*") if p.is_file())
    config = write_resume_config(tmp_path, corpus, "dedup", every=50)
    out = tmp_path / "out"
    first = subprocess.Popen(
        [sys.executable, "-m", "ingest", "run", "-c", str(config)],
        cwd=tmp_path,
        env={**os.environ, "RESUME_TEST_DELAY": "0.01"},  # ~3 s of reading
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while read_checkpoint(out) is None:  # running, with a checkpoint a second run could "resume"
            assert first.poll() is None, first.communicate()[1]
            assert time.monotonic() < deadline
            time.sleep(0.02)
        holder = json.loads((out / LOCK_NAME).read_text())
        assert holder["pid"] == first.pid and holder["host"] == socket.gethostname()

        second = ingest_cli("run", "-c", str(config))
        assert second.exit_code == ExitCode.RUN_FAILED
        assert "in use by another ingest run" in second.stderr
        assert f"pid {first.pid} on {socket.gethostname()}" in second.stderr
        assert first.poll() is None  # untouched, still going
    finally:
        _stdout, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr
    kept, dropped = accounted_ids(out)
    assert len(kept) + len(dropped) == inputs
    assert b"\x00" not in (out / "documents.jsonl").read_bytes()
    assert not (out / LOCK_NAME).exists()  # released when the run ends
    # the folder is free again
    assert ingest_cli("run", "-c", str(config)).exit_code == 0


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path, ingest_cli):
    corpus = tmp_path / "corpus"
    make_corpus(corpus, 40)
    config = write_resume_config(tmp_path, corpus, "stream", every=10)
    out = tmp_path / "out"
    out.mkdir()
    # what a SIGKILLed run leaves: the file, with nobody holding its flock
    (out / LOCK_NAME).write_text(json.dumps({"pid": 999_999_999, "host": socket.gethostname()}) + "\n")
    result = ingest_cli("run", "-c", str(config))
    assert result.exit_code == 0, result.stderr
    assert not (out / LOCK_NAME).exists()


# -- 8: a full disk -------------------------------------------------------------------


@contextlib.contextmanager
def small_disk(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where`` (root only)."""
    where.mkdir(parents=True, exist_ok=True)
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root on Linux")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.mark.parametrize(
    ("size", "workers"),
    [("96k", 1), ("300k", 1), ("300k", 2)],
    ids=["full-while-reading", "full-after-checkpoints", "full-after-checkpoints-w2"],
)
def test_a_full_disk_says_where_and_leaves_nothing_behind(tmp_path, size, workers):
    corpus = tmp_path / "corpus"
    make_corpus(corpus, 400)  # about 1 MB of output with the spool
    config = write_resume_config(tmp_path, corpus, "dedup", every=20)
    with small_disk(tmp_path / "out", size) as out:
        proc = subprocess.run(
            [sys.executable, "-m", "ingest", "run", "-c", str(config), "--workers", str(workers)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == ExitCode.RUN_FAILED, proc.stderr
        assert f"no space left on {out}" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert sorted(p.name for p in out.iterdir()) == []  # partial output, checkpoint and spool removed


# -- 9: leftovers and edited inputs ----------------------------------------------------


def test_temporary_files_left_by_a_kill_during_the_final_renames_are_removed(tmp_path, ingest_cli):
    corpus = tmp_path / "corpus"
    make_corpus(corpus, 30)
    config = write_resume_config(tmp_path, corpus, "stream", every=0)
    out = tmp_path / "out"
    out.mkdir()
    # what a kill between the renames leaves: the report's and a file's temporary copies
    leftovers = [
        ".report.json.k3x9a1b2.partial",
        ".documents.jsonl.q8w7e6r5.partial",
        ".report.html.a1b2c3d4.partial",
    ]
    for name in leftovers:
        (out / name).write_text("{half")
    (out / "notes.partial").write_text("the user's own file")
    result = ingest_cli("run", "-c", str(config))
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []
    assert (out / "notes.partial").exists()


@pytest.mark.parametrize("edit", ["same-length", "longer"])
def test_a_resume_notices_an_input_edited_in_place(tmp_path, ingest_cli, monkeypatch, edit):
    small = tmp_path / "small"
    make_corpus(small, 150)
    config = write_resume_config(tmp_path, small, "stream", every=20)
    monkeypatch.setenv("RESUME_TEST_INTERRUPT_AT", "00/doc00090.txt")
    assert ingest_cli("run", "-c", str(config)).exit_code == ExitCode.INTERRUPTED
    assert read_checkpoint(tmp_path / "out")["accounted"] == 80
    monkeypatch.delenv("RESUME_TEST_INTERRUPT_AT")

    edited = small / "00" / "doc00012.txt"  # read before the interruption
    text = edited.read_text(encoding="utf-8")
    new_text = text.replace("a", "e") if edit == "same-length" else text + "A correction was added.\n"
    assert new_text != text
    edited.write_text(new_text, encoding="utf-8")
    stat = edited.stat()
    os.utime(edited, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))  # a coarse clock still moves

    result = ingest_cli("run", "-c", str(config))
    assert result.exit_code == ExitCode.RUN_FAILED
    assert "the input changed since the interrupted run" in result.stderr
    assert "edited" in result.stderr
    result = ingest_cli("run", "-c", str(config))  # starts over, reading the edited file
    assert result.exit_code == 0, result.stderr
    kept, dropped = accounted_ids(tmp_path / "out")
    assert len(kept) + len(dropped) == 150


def test_a_resume_with_unchanged_inputs_still_resumes(tmp_path, ingest_cli, monkeypatch):
    small = tmp_path / "small"
    make_corpus(small, 120)
    config = write_resume_config(tmp_path, small, "stream", every=20)
    monkeypatch.setenv("RESUME_TEST_INTERRUPT_AT", "00/doc00070.txt")
    assert ingest_cli("run", "-c", str(config)).exit_code == ExitCode.INTERRUPTED
    monkeypatch.delenv("RESUME_TEST_INTERRUPT_AT")
    os.utime(small / "00" / "doc00100.txt")  # touched, but not yet read: no concern of the resume
    result = ingest_cli("run", "-c", str(config))
    assert result.exit_code == 0, result.stderr
    assert "resuming the interrupted run" in result.stderr
    kept, dropped = accounted_ids(tmp_path / "out")
    assert len(kept) + len(dropped) == 120


def test_without_flock_the_lock_file_alone_decides(tmp_path, monkeypatch):
    """On a filesystem that refuses flock (some network mounts) a live holder
    on this host still refuses a second run, and a dead one's lock is taken over."""
    import errno

    from ingest.contract.errors import OutputLocked
    from ingest.engine import output_lock

    def no_flock(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(output_lock.fcntl, "flock", no_flock)
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": "2026-12-06T12:00:00+00:00"}
    (tmp_path / LOCK_NAME).write_text(json.dumps(holder) + "\n")
    with pytest.raises(OutputLocked, match=f"pid {os.getpid()} on {socket.gethostname()}"):
        output_lock.OutputLock(tmp_path).acquire()

    (tmp_path / LOCK_NAME).write_text(json.dumps({**holder, "pid": 999_999_999}) + "\n")
    lock = output_lock.OutputLock(tmp_path)
    lock.acquire()
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    lock.release()
    assert not (tmp_path / LOCK_NAME).exists()
