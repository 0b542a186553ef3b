"""Sharded runs: the input cut into shards by the input alone, each shard read,
processed and written by a task of its own, the coordinator touching no document.

The output of a sharded run is the unsharded run's, cut at shard boundaries:
the same records in the same order, for any worker count; a run killed halfway
redoes only the shards it had not finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ingest import ConfigError, Pipeline

#: A per-document stage that notes every document it sees in a log file and, when
#: told to, kills the whole run (SIGKILL) at one document; and a corpus-level stage.
HELPERS = textwrap.dedent(
    """
    import os, signal, time
    from ingest import Drop, StageKind, StageSpec, hookimpl

    def noting(options, ctx):
        log = os.environ.get("SHARD_TEST_LOG")
        pause = float(os.environ.get("SHARD_TEST_PAUSE", "0"))
        kill_at = os.environ.get("SHARD_TEST_KILL_AT")
        def process(doc):
            if pause:
                time.sleep(pause)
            if log:
                with open(log, "a", encoding="utf-8") as fh:
                    fh.write(doc.id + "\\n")
            if doc.id == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            if doc.id.endswith("7.txt"):
                return Drop("ends_in_7", details={"why": "a test"})
            if doc.id.endswith("5.txt"):
                raise ValueError("five is not welcome")
            return doc
        return process

    class Whole:
        def __init__(self, options, ctx):
            pass
        def fit(self, corpus):
            pass
        def __call__(self, docs):
            yield from docs

    @hookimpl
    def ingest_stages():
        return [
            StageSpec("noting", StageKind.FILTER, noting, None, "notes ids", per_document=True),
            StageSpec("whole", StageKind.TRANSFORM, Whole, None, "corpus-level", needs_corpus=True),
        ]
    """
)

WORDS = "the council met on tuesday to discuss the harbour plans and the new library budget".split()


def make_corpus(folder: Path, count: int = 47) -> None:
    """``count`` small articles in two folders, plus inputs the source drops: an
    empty file, a binary one, one that is not valid UTF-8 in any fallback."""
    for i in range(count):
        sub = folder / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        words = [WORDS[(i * 7 + k) % len(WORDS)] for k in range(40 + i % 13)]
        text = f" date 2025-07-{1 + i % 28:02d} {100 + i}\nStory {i}\n\n" + " ".join(words) + ".\n"
        (sub / f"{i:03d}.txt").write_text(text, encoding="utf-8")
    (folder / "b" / "empty.txt").write_bytes(b"")
    (folder / "a" / "binary.txt").write_bytes(bytes(range(256)) * 4)


def write_config(tmp: Path, *, shard_files: int = 6, extra: str = "", stages: str = "") -> Path:
    (tmp / "helpers.py").write_text(HELPERS, encoding="utf-8")
    config = tmp / "config.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [plugins]
            paths = ["helpers.py"]

            [source]
            type = "text_files"
            path = "in"

            [sink]
            type = "jsonl"
            path = "out"

            [run]
            shard_files = {shard_files}
            keep_drop_records = false
            {extra}

            [[pipeline]]
            stage = "header"

            [[pipeline]]
            stage = "noting"

            [[pipeline]]
            stage = "boilerplate"
            learn_lexicon = false
            {stages}
            """
        ),
        encoding="utf-8",
    )
    return config


def run(config: Path, output: Path | str, **sets: object) -> dict:
    """The run's report as written (``report.json``, with the files in ``outputs``)."""
    overrides = [f"run.{key}={json.dumps(value)}" for key, value in sets.items()]
    pipeline = Pipeline.from_toml(config, output=output, overrides=overrides)
    pipeline.run()
    if isinstance(output, str):
        import fsspec

        with fsspec.open(f"{output}/report.json", "rb") as fh:
            return json.load(fh)
    return json.loads((Path(output) / "report.json").read_text(encoding="utf-8"))


def read_lines(files: list[Path]) -> bytes:
    return b"".join(path.read_bytes() for path in files)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    make_corpus(tmp_path / "in")
    return write_config(tmp_path)


def test_a_sharded_run_writes_the_unsharded_records_cut_at_shard_boundaries(corpus: Path) -> None:
    tmp = corpus.parent
    report = run(corpus, tmp / "sharded", workers=2)
    plain = run(corpus, tmp / "plain", workers=2, shards="off")

    sharded = tmp / "sharded"
    documents = sorted(sharded.glob("documents-*.jsonl"))
    dropped = sorted(sharded.glob("dropped-*.jsonl"))
    # 47 stories and 2 bad files: 49 inputs, 6 a shard -> 9 shards
    assert report["shards"] == {"count": 9, "files_per_shard": 6, "reused": 0}
    # the last shard holds b/empty.txt alone: no kept document, so no documents file
    assert len(documents) == 8 and documents[-1].name == "documents-00007.jsonl"
    assert read_lines(documents) == (tmp / "plain" / "documents.jsonl").read_bytes()
    assert read_lines(dropped) == (tmp / "plain" / "dropped.jsonl").read_bytes()
    assert not (sharded / "documents.jsonl").exists()
    assert not (sharded / ".ingest-shards").exists()
    assert report["outputs"]["documents"] == [str(p) for p in documents]
    assert report["outputs"]["dropped"] == [str(p) for p in dropped]

    for key in ("input", "kept", "dropped", "dropped_by_stage_and_reason", "warnings"):
        assert report[key] == plain[key], key
    for stage_id, stats in plain["stages"].items():
        for key in ("documents_in", "documents_out", "dropped", "warnings"):
            assert report["stages"][stage_id][key] == stats[key], (stage_id, key)
    assert report["dropped_by_stage_and_reason"] == {
        "noting:ends_in_7": 4,
        "noting:error": 5,
        "source:binary": 1,
        "source:empty": 1,
    }
    # the stage's error is recorded with the document, in its shard's file
    errors = [json.loads(line) for line in read_lines(dropped).splitlines()]
    assert {r["id"] for r in errors if r["reason"] == "error"} == {
        f"{'a' if i % 2 else 'b'}/{i:03d}.txt" for i in (5, 15, 25, 35, 45)
    }


def test_the_files_are_the_same_for_one_and_two_workers(corpus: Path) -> None:
    tmp = corpus.parent
    run(corpus, tmp / "w1", workers=1)
    run(corpus, tmp / "w2", workers=2)
    names = sorted(p.name for p in (tmp / "w1").iterdir() if p.name.endswith(".jsonl"))
    assert names == sorted(p.name for p in (tmp / "w2").iterdir() if p.name.endswith(".jsonl"))
    assert len(names) > 9
    for name in names:
        assert (tmp / "w1" / name).read_bytes() == (tmp / "w2" / name).read_bytes(), name


def test_pyarrow_reads_the_shards_as_one_dataset(corpus: Path) -> None:
    pads = pytest.importorskip("pyarrow.dataset")
    tmp = corpus.parent
    report = run(corpus, tmp / "out", workers=2)
    kept = pads.dataset(report["outputs"]["documents"], format="json").to_table()
    assert kept.num_rows == report["kept"] == 38
    assert kept.column("id").to_pylist() == [
        json.loads(line)["id"]
        for line in read_lines(sorted((tmp / "out").glob("documents-*.jsonl"))).splitlines()
    ]
    dropped = pads.dataset(report["outputs"]["dropped"], format="json").to_table()
    assert dropped.num_rows == report["dropped"] == 11


def test_a_shard_with_nothing_of_a_kind_writes_no_file_of_it(tmp_path: Path) -> None:
    """An empty JSON Lines file would stop pyarrow and DuckDB reading the dataset."""
    make_corpus(tmp_path / "in", count=12)
    config = write_config(tmp_path, shard_files=2)
    report = run(config, tmp_path / "out", workers=1)
    # shards of 2: [a/001 a/003] [a/005 (error) a/007 (dropped)] [a/009 a/011]
    # [a/binary.txt b/000] [b/002 b/004] [b/006 b/008] [b/010 b/empty.txt]
    dropped = [Path(p).name for p in report["outputs"]["dropped"]]
    assert dropped == ["dropped-00001.jsonl", "dropped-00003.jsonl", "dropped-00006.jsonl"]
    documents = [Path(p).name[10:15] for p in report["outputs"]["documents"]]
    assert documents == ["00000", "00002", "00003", "00004", "00005", "00006"]
    assert all(os.path.getsize(p) > 0 for p in report["outputs"]["documents"] + report["outputs"]["dropped"])


def test_an_input_of_one_shard_keeps_the_single_files(corpus: Path) -> None:
    tmp = corpus.parent
    report = run(corpus, tmp / "out", shard_files=1000)
    assert "shards" not in report
    assert (tmp / "out" / "documents.jsonl").is_file()
    assert not list((tmp / "out").glob("documents-*"))


def test_shards_on_writes_shard_files_for_one_shard_too(corpus: Path) -> None:
    tmp = corpus.parent
    report = run(corpus, tmp / "out", shard_files=1000, shards="on")
    assert report["shards"]["count"] == 1
    assert [Path(p).name for p in report["outputs"]["documents"]] == ["documents-00000.jsonl"]


def test_shards_on_with_a_corpus_level_stage_is_a_config_error(tmp_path: Path) -> None:
    make_corpus(tmp_path / "in", count=10)
    config = write_config(tmp_path, stages='[[pipeline]]\nstage = "whole"')
    with pytest.raises(
        ConfigError, match=r"\[run\] shards = \"on\": stage\(s\) 'whole' need the whole corpus"
    ):
        run(config, tmp_path / "out", shards="on")
    # auto: the run goes on unsharded
    report = run(config, tmp_path / "out2")
    assert "shards" not in report and (tmp_path / "out2" / "documents.jsonl").is_file()


def test_kept_drop_records_keep_a_run_unsharded(corpus: Path) -> None:
    """``Pipeline.run`` with drop records in memory (the API's default) is not sharded:
    the records would be in the shards' files, not in ``Pipeline.ledger``."""
    tmp = corpus.parent
    pipeline = Pipeline.from_toml(corpus, output=tmp / "out", overrides=["run.keep_drop_records=true"])
    report = dict(pipeline.run())
    assert "shards" not in report
    assert len(pipeline.ledger.records) == report["dropped"] == 11


def test_a_sharded_run_writes_to_a_url(corpus: Path) -> None:
    pytest.importorskip("fsspec")
    import fsspec

    tmp = corpus.parent
    url = "memory://shard-test/out"
    report = run(corpus, url, workers=2)  # type: ignore[arg-type]
    fs = fsspec.filesystem("memory")
    names = sorted(p.rpartition("/")[2] for p in fs.ls("/shard-test/out", detail=False))
    assert "report.json" in names and "documents-00007.jsonl" in names
    assert not any(name.startswith(".") for name in names)
    plain = run(corpus, tmp / "plain", shards="off")
    joined = b"".join(fs.cat(p) for p in report["outputs"]["documents"])
    assert joined == (tmp / "plain" / "documents.jsonl").read_bytes()
    assert plain["kept"] == report["kept"]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_killed_run_resumes_the_shards_it_had_not_finished(corpus: Path) -> None:
    tmp = corpus.parent
    log = tmp / "seen.log"
    env = {**os.environ, "SHARD_TEST_LOG": str(log), "SHARD_TEST_KILL_AT": "b/020.txt"}
    command = [sys.executable, "-m", "ingest", "run", "-c", str(corpus), "--output", str(tmp / "out")]
    command += ["--set", "run.workers=1"]
    killed = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (tmp / "out" / "report.json").exists()
    assert not list((tmp / "out").glob("documents*"))  # nothing complete-looking
    # inputs in reading order: a/001 ... a/045, a/binary.txt, b/000 ...; b/020.txt is
    # the 35th, in shard 5: shards 0-4 had finished
    first_run = log.read_text().splitlines()
    assert first_run[-1] == "b/020.txt"

    log.unlink()
    env.pop("SHARD_TEST_KILL_AT")
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp)
    assert resumed.returncode == 0, resumed.stderr
    assert "5 of 9 shards done" in resumed.stderr
    second_run = log.read_text().splitlines()
    # only what the finished shards did not hold is processed again
    assert set(first_run) & set(second_run) == set(first_run[29:])  # shard 5's documents
    assert "b/020.txt" in second_run and len(second_run) == 47 - 29
    report = json.loads((tmp / "out" / "report.json").read_text())
    assert report["shards"]["reused"] == 5

    fresh = run(corpus, tmp / "fresh", workers=2)
    for name in [Path(p).name for p in fresh["outputs"]["documents"] + fresh["outputs"]["dropped"]]:
        assert (tmp / "out" / name).read_bytes() == (tmp / "fresh" / name).read_bytes(), name
    assert not (tmp / "out" / ".ingest-shards").exists()


def test_a_different_config_does_not_resume_the_shards(corpus: Path) -> None:
    tmp = corpus.parent
    env = {**os.environ, "SHARD_TEST_KILL_AT": "b/020.txt"}
    command = [sys.executable, "-m", "ingest", "run", "-c", str(corpus), "--output", str(tmp / "out")]
    killed = subprocess.run([*command, "--set", "run.workers=1"], env=env, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL
    changed = subprocess.run(
        [*command, "--set", "boilerplate.titles=false"], capture_output=True, text=True, cwd=tmp
    )
    assert changed.returncode != 0
    assert "interrupted run of a different configuration" in changed.stderr
    restarted = subprocess.run(
        [*command, "--set", "boilerplate.titles=false", "--restart"], capture_output=True, text=True
    )
    assert restarted.returncode == 0, restarted.stderr
    assert json.loads((tmp / "out" / "report.json").read_text())["shards"]["reused"] == 0


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM")
def test_sigterm_stops_the_shard_tasks_at_once_and_the_run_resumes(corpus: Path) -> None:
    """The run does not wait for the shards under way to finish (each takes
    seconds here); what was complete is kept, and the next run resumes it."""
    import time

    tmp = corpus.parent
    env = {**os.environ, "SHARD_TEST_PAUSE": "0.4"}
    command = [sys.executable, "-m", "ingest", "run", "-c", str(corpus), "--output", str(tmp / "out")]
    process = subprocess.Popen([*command, "--set", "run.workers=2"], env=env, cwd=tmp, stderr=subprocess.PIPE)
    shards_dir = tmp / "out" / ".ingest-shards"
    deadline = time.monotonic() + 60
    while not list(shards_dir.glob("*/summary.json")):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    assert process.wait(timeout=30) == 143
    assert time.monotonic() - stopped < 2.0  # a shard under way has 2 s of pauses left
    process.stderr.close()
    assert not (tmp / "out" / "report.json").exists()
    assert list(shards_dir.glob("*/summary.json"))

    resumed = subprocess.run(command, capture_output=True, text=True, cwd=tmp)
    assert resumed.returncode == 0, resumed.stderr
    assert "shards done" in resumed.stderr
    fresh = run(corpus, tmp / "fresh", workers=2)
    for name in [Path(p).name for p in fresh["outputs"]["documents"] + fresh["outputs"]["dropped"]]:
        assert (tmp / "out" / name).read_bytes() == (tmp / "fresh" / name).read_bytes(), name
