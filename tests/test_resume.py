"""Crash-resume: a run killed with SIGKILL and started again with the same
config and output folder finishes with output byte-identical to a run that
was never interrupted (issue 6, item 3)."""

from __future__ import annotations

import gzip
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ingest import ExitCode
from ingest.engine.checkpoint import CHECKPOINT_NAME
from ingest.report.report_html import main as rebuild_page

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")

#: A per-document stage that can be slowed down (so a test can kill the run
#: mid-way) and a corpus-level stage that can block in fit (so a test can kill
#: the run after the spool is complete). Neither changes a document.
HELPERS = '''
import os, pathlib, time
from ingest import StageKind, StageSpec, hookimpl

def throttle(options, ctx):
    delay = float(os.environ.get("RESUME_TEST_DELAY", "0"))
    interrupt_at = os.environ.get("RESUME_TEST_INTERRUPT_AT")
    def process(doc):
        if delay:
            time.sleep(delay)
        if doc.id == interrupt_at:
            raise KeyboardInterrupt  # as Ctrl-C would
        return doc
    return process

class Gate:
    def __init__(self, options, ctx):
        pass
    def fit(self, corpus):
        if os.environ.get("RESUME_TEST_GATE_INTERRUPT"):
            raise KeyboardInterrupt
        marker = os.environ.get("RESUME_TEST_GATE")
        if marker:
            pathlib.Path(marker).write_text("in fit")
            while True:  # until killed
                time.sleep(0.05)
    def __call__(self, docs):
        yield from docs

class EndsIn3:
    """A plain stream stage (not per-document, not corpus-level)."""
    def __init__(self, options, ctx):
        self.ctx = ctx
    def __call__(self, docs):
        for doc in docs:
            if doc.id.endswith("3.txt"):
                self.ctx.drop(doc, "ends_in_3")
            else:
                yield doc

@hookimpl
def ingest_stages():
    return [
        StageSpec("ends_in_3", StageKind.FILTER, EndsIn3, None, "a stream stage"),
        StageSpec("throttle", StageKind.TRANSFORM, throttle, None, "sleep per document", per_document=True),
        StageSpec("gate", StageKind.TRANSFORM, Gate, None, "block in fit", needs_corpus=True),
    ]
'''

WORDS = [
    "council",
    "harbour",
    "budget",
    "river",
    "festival",
    "crowd",
    "town",
    "hall",
    "debate",
    "minister",
    "election",
    "weather",
    "storm",
    "market",
    "prices",
    "school",
    "teachers",
    "hospital",
    "doctors",
    "police",
    "station",
    "bridge",
    "railway",
    "airport",
    "museum",
    "library",
    "garden",
    "farmers",
    "harvest",
    "football",
    "match",
    "season",
    "coach",
    "players",
    "island",
    "ferry",
    "tourists",
]

FURNITURE = ["Share on Facebook", "Read more", "Subscribe to our newsletter", "Related Articles", "Log in"]


def make_corpus(folder: Path, count: int, seed: int = 7) -> None:
    """``count`` inputs: news-like documents with headers and furniture,
    exact and near copies (for dedup), and some unreadable files (source
    drops) scattered through, so every kind of outcome is in any prefix."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    texts: list[str] = []
    for i in range(count):
        path = folder / f"{i // 500:02d}" / f"doc{i:05d}.txt"
        path.parent.mkdir(exist_ok=True)
        if i % 97 == 13:
            path.write_bytes(b"caf\xe9 not utf-8 " * 3)
            continue
        if i % 101 == 17:
            path.write_bytes(b"")
            continue
        if i % 89 == 5:
            path.write_bytes(b"\x00\x01binary")
            continue
        if texts and i % 7 == 3:
            text = rng.choice(texts)  # an exact copy
        elif texts and i % 11 == 4:
            words = rng.choice(texts).split(" ")
            words[rng.randrange(len(words))] = "changed"
            text = " ".join(words)  # a near copy
        else:
            body = "\n".join(
                " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 24))).capitalize() + "."
                for _ in range(rng.randint(2, 5))
            )
            text = f" date 2025-07-{1 + i % 28:02d} 403\nStory number {i}\n{body}\n{rng.choice(FURNITURE)}\n"
        texts.append(text)
        path.write_text(text, encoding="utf-8")


PIPELINES = {
    # a corpus-level stage: phase A fills dedup's spool, phase B runs dedup and gate from it
    "dedup": ["header", "throttle", "boilerplate", "dedup", "gate"],
    # per-document stages only: phase A is the whole run
    "stream": ["header", "throttle", "boilerplate"],
    # a plain stream stage is the barrier: its input is spooled like a corpus stage's
    "stream-stage": ["header", "throttle", "ends_in_3", "boilerplate"],
    # the boilerplate stage learning its lexicon (its default) is the barrier, dedup after it
    "two-pass": ["header", "throttle", "boilerplate-two-pass", "dedup", "gate"],
}

#: the stages as configured: boilerplate one document at a time, unless asked for two passes
STAGE_TABLES = {
    "boilerplate": 'stage = "boilerplate"\nlearn_lexicon = false\n',
    "boilerplate-two-pass": 'stage = "boilerplate"\n',
}


def write_config(
    folder: Path,
    corpus: Path,
    pipeline: str,
    *,
    compression: str = "none",
    shard_bytes: int = 0,
    every: int = 100,
) -> Path:
    (folder / "resume_helpers.py").write_text(HELPERS)
    stages = "".join(
        "[[pipeline]]\n" + STAGE_TABLES.get(stage, f'stage = "{stage}"\n') for stage in PIPELINES[pipeline]
    )
    config = folder / "config.toml"
    config.write_text(
        '[plugins]\npaths = ["resume_helpers.py"]\n'
        f'[source]\npath = "{corpus}"\n'
        f'[sink]\npath = "out"\ncompression = "{compression}"\nshard_bytes = {shard_bytes}\n'
        f"[run]\nworkers = 1\ncheckpoint_every = {every}\n" + stages
    )
    return config


def ingest(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ingest", "run", "-c", str(config), *args],
        cwd=config.parent,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    return stdout, stderr


def read_checkpoint(out: Path) -> dict[str, Any] | None:
    try:
        return json.loads((out / CHECKPOINT_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def kill_when(proc: subprocess.Popen[str], ready: Any, what: str) -> None:
    """Poll until ``ready()``; then SIGKILL the run."""
    deadline = time.monotonic() + 60
    while not ready():
        assert proc.poll() is None, f"the run ended before {what}: {proc.communicate()[1]}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def outputs(out: Path) -> dict[str, bytes]:
    """Every output file but the report (which holds timings), by name."""
    return {
        p.name: p.read_bytes()
        for p in sorted(out.iterdir())
        if p.is_file() and not p.name.startswith("report")
    }


def report_counts(out: Path) -> dict[str, Any]:
    """The report without what differs between any two runs (times, paths)."""
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    for key in ("started", "finished", "seconds", "cpu", "resumed", "outputs", "config"):
        report.pop(key, None)
    # what the ledger counts; stage-specific extras (dedup's engine figures)
    # are computed again in the corpus phase and are not the ledger's
    core = ("stage", "documents_in", "documents_out", "dropped", "dropped_total", "warnings")
    report["stages"] = {sid: {k: stats[k] for k in core} for sid, stats in report["stages"].items()}
    return report


def assert_clean(out: Path) -> None:
    hidden = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert hidden == [], f"left behind: {hidden}"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("resume") / "corpus"
    make_corpus(folder, 1500)
    return folder


_CLEAN: dict[tuple[Any, ...], dict[str, bytes]] = {}
_CLEAN_REPORTS: dict[tuple[Any, ...], dict[str, Any]] = {}


def clean_run(tmp_path_factory: pytest.TempPathFactory, corpus: Path, **settings: Any) -> dict[str, bytes]:
    """The outputs of an uninterrupted single-process run (once per settings)."""
    key = tuple(sorted(settings.items()))
    if key not in _CLEAN:
        folder = tmp_path_factory.mktemp("clean")
        finish(ingest(write_config(folder, corpus, **settings)))
        assert_clean(folder / "out")
        _CLEAN[key] = outputs(folder / "out")
        _CLEAN_REPORTS[key] = report_counts(folder / "out")
    return _CLEAN[key]


def clean_report(**settings: Any) -> dict[str, Any]:
    return _CLEAN_REPORTS[tuple(sorted(settings.items()))]


@pytest.mark.parametrize(
    ("pipeline", "workers", "resume_workers", "sink"),
    [
        ("dedup", 1, 1, {}),
        ("dedup", 2, 2, {"compression": "gzip", "shard_bytes": 150_000}),
        ("stream", 2, 1, {}),
        ("stream", 1, 2, {"compression": "gzip", "shard_bytes": 150_000}),
    ],
    ids=["dedup-w1", "dedup-w2-gzip-sharded", "stream-w2-then-w1", "stream-w1-then-w2-gzip-sharded"],
)
def test_killed_while_reading_resumes_to_identical_output(
    tmp_path, tmp_path_factory, corpus, pipeline, workers, resume_workers, sink
):
    expected = clean_run(tmp_path_factory, corpus, pipeline=pipeline, **sink)
    config = write_config(tmp_path, corpus, pipeline, **sink)
    out = tmp_path / "out"
    proc = ingest(config, "--workers", str(workers), env={"RESUME_TEST_DELAY": "0.001"})

    def mid_way() -> bool:
        state = read_checkpoint(out)
        return state is not None and state["accounted"] >= 400

    kill_when(proc, mid_way, "a checkpoint after 400 inputs")
    state = read_checkpoint(out)
    assert state is not None and state["phase"] == "stream" and state["accounted"] < 1500
    assert not (out / "documents.jsonl").exists() and not (out / "report.json").exists()

    _stdout, stderr = finish(ingest(config, "--workers", str(resume_workers)))
    assert f"resuming the interrupted run in {out} after {state['accounted']} inputs" in stderr
    report = json.loads((out / "report.json").read_text())
    assert report["resumed"] == {"phase": "stream", "inputs_done": state["accounted"]}
    assert report["input"] == 1500 and report["balanced"]
    assert_clean(out)
    assert outputs(out) == expected
    # counts per stage and reason, warnings: as if never interrupted
    assert report_counts(out) == clean_report(pipeline=pipeline, **sink)
    if (out / "report.html").exists():
        # a resumed run's page covers the records written before the interruption too
        assert rebuild_page([str(out), "-o", str(tmp_path / "rebuilt.html")]) == 0
        assert (out / "report.html").read_text() == (tmp_path / "rebuilt.html").read_text()


def test_killed_in_the_corpus_phase_resumes_from_the_spool(tmp_path, tmp_path_factory, corpus):
    expected = clean_run(tmp_path_factory, corpus, pipeline="dedup")
    config = write_config(tmp_path, corpus, "dedup")
    out = tmp_path / "out"
    marker = tmp_path / "gate-reached"
    # dedup runs from its spool and writes its drops, then gate blocks in fit
    proc = ingest(config, "--workers", "2", env={"RESUME_TEST_GATE": str(marker)})
    kill_when(proc, marker.exists, "the gate stage's fit")
    state = read_checkpoint(out)
    assert state is not None and state["phase"] == "corpus" and state["accounted"] == 1500
    dropped_partial = out / ".dropped.jsonl.partial"
    assert dropped_partial.stat().st_size > state["sink"]["dropped"]["offset"], "dedup wrote drops after it"
    assert (out / ".ingest-spool-dedup.pickle").exists()

    _stdout, stderr = finish(ingest(config))
    assert "all 1500 inputs were read" in stderr
    assert json.loads((out / "report.json").read_text())["resumed"]["phase"] == "corpus"
    assert_clean(out)
    assert outputs(out) == expected
    assert report_counts(out) == clean_report(pipeline="dedup")


def test_changed_config_does_not_resume(tmp_path, corpus):
    small = tmp_path / "small"
    make_corpus(small, 120)
    config = write_config(tmp_path, small, "dedup", every=20)
    out = tmp_path / "out"
    marker = tmp_path / "gate-reached"
    kill_when(ingest(config, env={"RESUME_TEST_GATE": str(marker)}), marker.exists, "the gate stage's fit")
    assert read_checkpoint(out) is not None

    changed = ingest(config, "--set", "dedup.threshold=0.9")
    _stdout, stderr = changed.communicate(timeout=120)
    assert changed.returncode == ExitCode.USAGE_ERROR, stderr
    assert "holds an interrupted run of a different configuration" in stderr
    assert "pipeline.dedup.options.threshold" in stderr and "--restart" in stderr
    assert read_checkpoint(out) is not None, "the interrupted run is kept"

    _stdout, stderr = finish(ingest(config, "--set", "dedup.threshold=0.9", "--restart"))
    assert "discarding the checkpoint" in stderr and "resuming" not in stderr
    assert "resumed" not in json.loads((out / "report.json").read_text())
    assert_clean(out)


def test_checkpoints_end_gzip_members_and_read_back(tmp_path, tmp_path_factory, corpus):
    plain = clean_run(tmp_path_factory, corpus, pipeline="stream")
    packed = clean_run(tmp_path_factory, corpus, pipeline="stream", compression="gzip", shard_bytes=150_000)
    shards = sorted(name for name in packed if name.startswith("documents-"))
    assert len(shards) > 1
    assert b"".join(gzip.decompress(packed[name]) for name in shards) == plain["documents.jsonl"]
    assert gzip.decompress(packed["dropped-00000.jsonl.gz"]) == plain["dropped.jsonl"]


def test_uninterrupted_output_does_not_depend_on_checkpoints_or_workers(tmp_path, tmp_path_factory, corpus):
    expected = clean_run(tmp_path_factory, corpus, pipeline="dedup")
    config = write_config(tmp_path, corpus, "dedup", every=0)
    finish(ingest(config, "--workers", "2"))
    assert_clean(tmp_path / "out")
    assert outputs(tmp_path / "out") == expected


def test_sink_without_checkpoints_starts_over(tmp_path, ingest_cli):
    small = tmp_path / "small"
    make_corpus(small, 60)
    config = write_config(tmp_path, small, "stream", every=5)
    config.write_text(config.read_text().replace('compression = "none"\nshard_bytes = 0\n', 'type = "csv"\n'))
    result = ingest_cli("run", "-c", str(config))
    assert result.exit_code == 0, result.stderr
    assert_clean(tmp_path / "out")
    assert (tmp_path / "out" / "documents.csv").exists()


def test_ctrl_c_keeps_the_checkpoint_and_a_changed_input_is_caught(tmp_path, ingest_cli, monkeypatch):
    small = tmp_path / "small"
    make_corpus(small, 150)
    config = write_config(tmp_path, small, "stream", every=20)
    out = tmp_path / "out"
    monkeypatch.setenv("RESUME_TEST_INTERRUPT_AT", "00/doc00090.txt")
    result = ingest_cli("run", "-c", str(config))
    assert result.exit_code == ExitCode.INTERRUPTED
    state = read_checkpoint(out)
    assert state is not None and state["accounted"] == 80 and state["last_id"] == "00/doc00079.txt"
    assert (out / ".documents.jsonl.partial").exists()
    monkeypatch.delenv("RESUME_TEST_INTERRUPT_AT")

    (small / "00" / "doc00010.txt").unlink()  # the input changes under the interrupted run
    result = ingest_cli("run", "-c", str(config))
    assert result.exit_code == ExitCode.RUN_FAILED
    assert "the input changed since the interrupted run" in result.stderr
    assert "00/doc00080.txt" in result.stderr  # what item 80 is now
    assert_clean(out)

    result = ingest_cli("run", "-c", str(config))  # starts over
    assert result.exit_code == 0, result.stderr
    assert "resuming" not in result.stderr
    assert json.loads((out / "report.json").read_text())["input"] == 149
    assert_clean(out)


def test_checkpoints_off_discards_an_interrupted_run(tmp_path, ingest_cli, monkeypatch):
    small = tmp_path / "small"
    make_corpus(small, 60)
    config = write_config(tmp_path, small, "stream", every=10)
    monkeypatch.setenv("RESUME_TEST_INTERRUPT_AT", "00/doc00040.txt")
    assert ingest_cli("run", "-c", str(config)).exit_code == ExitCode.INTERRUPTED
    assert read_checkpoint(tmp_path / "out") is not None
    monkeypatch.delenv("RESUME_TEST_INTERRUPT_AT")
    result = ingest_cli("run", "-c", str(config), "--set", "run.checkpoint_every=0")
    assert result.exit_code == 0, result.stderr
    assert "discarding the interrupted run" in result.stderr
    assert_clean(tmp_path / "out")


@pytest.mark.parametrize(
    ("compression", "interrupt", "pipeline"),
    [
        *[(c, i, "dedup") for c in ("none", "gzip", "bz2", "xz", "zstd") for i in ("reading", "corpus")],
        ("none", "reading", "stream-stage"),
        ("none", "reading", "two-pass"),
        ("gzip", "corpus", "two-pass"),
    ],
)
def test_interrupted_and_resumed_in_process(
    tmp_path, ingest_cli, monkeypatch, compression, interrupt, pipeline
):
    if compression == "zstd":
        pytest.importorskip("zstandard")
    small = tmp_path / "small"
    make_corpus(small, 240)
    results = {}
    for name in ("clean", "resumed"):
        folder = tmp_path / name
        folder.mkdir()
        config = write_config(folder, small, pipeline, compression=compression, shard_bytes=20_000, every=25)
        if name == "resumed":
            if interrupt == "reading":
                monkeypatch.setenv("RESUME_TEST_INTERRUPT_AT", "00/doc00160.txt")
            else:
                monkeypatch.setenv("RESUME_TEST_GATE_INTERRUPT", "1")
            assert ingest_cli("run", "-c", str(config)).exit_code == ExitCode.INTERRUPTED
            state = read_checkpoint(folder / "out")
            assert state is not None
            assert state["phase"] == ("stream" if interrupt == "reading" else "corpus")
            barrier = {"stream-stage": "ends_in_3", "two-pass": "boilerplate"}.get(pipeline, "dedup")
            assert state["spool"]["path"] == f".ingest-spool-{barrier}.pickle" and state["spool"]["count"] > 0
            monkeypatch.delenv("RESUME_TEST_INTERRUPT_AT", raising=False)
            monkeypatch.delenv("RESUME_TEST_GATE_INTERRUPT", raising=False)
        result = ingest_cli("run", "-c", str(config))
        assert result.exit_code == 0, result.stderr
        assert ("resuming" in result.stderr) == (name == "resumed")
        assert_clean(folder / "out")
        results[name] = outputs(folder / "out")
    assert len([n for n in results["clean"] if n.startswith("documents-")]) > 1
    assert results["resumed"] == results["clean"]
