"""The Ray executor: same output, same ledger as the local one (starts Ray: slow)."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from ingest_plugins.dedup.lsh import BucketStats, candidate_pairs
from ingest_plugins.dedup.ray_lsh import RayCandidatePairs

from ingest import Document, Drop, Pipeline, RunError
from ingest.executors.ray import RayExecutor
from ingest.testing import stage_plugin

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, corpus_generator) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    corpus_generator.generate(out, 240, seed=3)
    return out


@pytest.fixture(scope="module")
def shared_ray():
    """One small local Ray instance for the tests that only need Ray up
    (started the way the runner starts it; runs inside reuse it)."""
    assert not ray.is_initialized()
    executor = RayExecutor.connect(num_cpus=2)
    yield executor
    executor.shutdown()
    assert not ray.is_initialized()


def _run(tmp_path: Path, corpus: Path, name: str, ingest_cli, write_config, *args: str) -> Path:
    config = write_config(
        tmp_path / f"{name}.toml",
        {
            "source": {"type": "text_files", "path": str(corpus), "include": ["**/*.txt"]},
            "sink": {"type": "jsonl", "path": str(tmp_path / name)},
            "pipeline": [
                {"stage": "header"},
                {"stage": "boilerplate"},
                # small batches: hashing goes out as many tasks
                {"stage": "dedup", "batch_size": 32, "story_grouping": True},
            ],
        },
    )
    result = ingest_cli("run", "-c", config, *args)
    assert result.exit_code == 0, result.stderr
    return tmp_path / name


def _counts(out: Path) -> dict:
    report = json.loads((out / "report.json").read_text())
    stages = {k: {f: v for f, v in s.items() if f != "seconds"} for k, s in report["stages"].items()}
    return {"input": report["input"], "kept": report["kept"], "dropped": report["dropped"], "stages": stages}


def test_ray_run_writes_what_local_runs_write(tmp_path, corpus, ingest_cli, write_config):
    # First in this module: the run starts its own local Ray instance and stops it.
    assert not ray.is_initialized()
    on_ray = _run(
        tmp_path,
        corpus,
        "ray",
        ingest_cli,
        write_config,
        "--executor",
        "ray",
        "--workers",
        "2",
        "--set",
        "run.checkpoint_every=50",  # checkpoints on the way change nothing either
    )
    assert not ray.is_initialized()
    report = json.loads((on_ray / "report.json").read_text())
    assert report["stages"]["dedup"]["dropped"]  # the corpus has duplicates to find
    for workers in ("1", "2"):
        local = _run(tmp_path, corpus, f"local{workers}", ingest_cli, write_config, "--workers", workers)
        for name in ("documents.jsonl", "dropped.jsonl"):
            assert (on_ray / name).read_bytes() == (local / name).read_bytes(), (name, workers)
        assert _counts(on_ray) == _counts(local)


class _Gate:
    """A corpus-level stage whose fit is interrupted (as by Ctrl-C) while
    ``interrupt`` holds True: the run stops after its spool is complete."""

    interrupt: ClassVar[list[bool]] = [False]

    def __init__(self, _options, _ctx) -> None:
        pass

    def fit(self, corpus) -> None:
        if self.interrupt[0]:
            raise KeyboardInterrupt

    def __call__(self, docs):
        yield from docs


def test_a_run_interrupted_on_ray_resumes_locally_with_the_same_output(tmp_path, corpus):
    plugins = [stage_plugin(_Gate, "gate", factory=True, needs_corpus=True)]

    def pipeline(out: str, **run) -> Pipeline:
        config = {
            "source": {"type": "text_files", "path": str(corpus), "include": ["**/*.txt"]},
            "sink": {"type": "jsonl", "path": str(tmp_path / out)},
            "run": {"checkpoint_every": 40, **run},
            "pipeline": [
                {"stage": "header"},
                {"stage": "gate"},
                {"stage": "boilerplate"},
                {"stage": "dedup"},
            ],
        }
        return Pipeline.from_dict(config, plugins=plugins, load_entry_points=False)

    pipeline("plain", workers=1).run()
    _Gate.interrupt[0] = True
    try:
        with pytest.raises(KeyboardInterrupt):
            pipeline("resumed", executor="ray", workers=2).run()
    finally:
        _Gate.interrupt[0] = False
    assert not ray.is_initialized()  # shut down on the way out
    said = []
    pipeline("resumed", workers=1).run(on_message=said.append)
    assert any("resum" in text for text in said), said
    for name in ("documents.jsonl", "dropped.jsonl"):
        assert (tmp_path / "resumed" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes()


def _stamp_or_fail(doc: Document) -> Document | Drop:
    number = int(doc.id.split("-")[1])
    if number % 7 == 3:
        raise ValueError(f"cannot handle {doc.id}")
    if number % 11 == 5:
        return Drop("unlucky", details={"number": number})
    return doc


def _where(doc: Document) -> Document:
    return Document(doc.id, doc.text, metadata={**doc.metadata, "pid": os.getpid()})


def _ledger_view(pipeline: Pipeline, kept: list[Document]) -> tuple:
    records = [(r.id, r.stage, r.reason, r.details, r.plugin) for r in pipeline.ledger.records]
    stats = {k: (s.documents_in, s.documents_out, dict(s.dropped)) for k, s in pipeline.ledger.stages.items()}
    return [(d.id, d.text) for d in kept], records, stats


def test_a_stage_that_raises_on_ray_is_recorded_as_locally(shared_ray):
    plugins = [stage_plugin(_stamp_or_fail, "fragile"), stage_plugin(_where, "where")]
    items = [f"text number {i}" for i in range(150)]  # several batches of 32
    views = {}
    for executor in ("local", "ray"):
        pipeline = Pipeline.from_dict(
            {
                "pipeline": [{"stage": "fragile"}, {"stage": "where"}],
                "run": {"executor": executor, "workers": 1},
            },
            plugins=plugins,
            load_entry_points=False,
        )
        kept = list(pipeline.process(items))
        pipeline.ledger.check_balance()
        views[executor] = _ledger_view(pipeline, kept)
        pids = {d.metadata["pid"] for d in kept}
        if executor == "ray":
            assert os.getpid() not in pids  # the stages ran in Ray workers
        else:
            assert pids == {os.getpid()}
    assert views["ray"] == views["local"]
    errors = [r for r in views["ray"][1] if r[2] == "error"]
    assert len(errors) == len([i for i in range(150) if i % 7 == 3])
    assert errors[0][3]["error"] == "ValueError: cannot handle doc-3"
    assert ray.is_initialized()  # a Ray instance the run did not start is left running


@pytest.mark.parametrize(("partitions", "block_rows"), [(1, 10_000), (3, 97), (8, 1000)])
def test_shuffle_finds_exactly_the_local_candidate_pairs(shared_ray, partitions, block_rows):
    rng = np.random.default_rng(partitions)
    sigs = rng.integers(0, 40, size=(2500, 64), dtype=np.uint32)  # a small alphabet: many shared buckets
    sigs[1000:1100] = sigs[:100]  # and some identical rows
    shuffle = RayCandidatePairs(partitions, block_rows)
    for bands, rows, min_new in ((16, 4, 0), (20, 3, 0), (32, 2, 1800)):
        expected = candidate_pairs(sigs, bands, rows, min_new=min_new)
        got = shuffle(sigs, bands, rows, min_new=min_new)
        assert got.dtype == expected.dtype and expected.size > 0
        np.testing.assert_array_equal(got, expected)
    # past max_bucket: the same pairs, the same largest bucket and capped rows
    local_stats, ray_stats = BucketStats(len(sigs)), BucketStats(len(sigs))
    expected = candidate_pairs(sigs, 32, 1, max_bucket=50, stats=local_stats)  # buckets of ~60 rows
    np.testing.assert_array_equal(shuffle(sigs, 32, 1, max_bucket=50, stats=ray_stats), expected)
    assert ray_stats.largest == local_stats.largest > 50
    np.testing.assert_array_equal(ray_stats.capped, local_stats.capped)
    assert local_stats.capped_rows > 0
    assert shuffle(sigs[:1], 16, 4).shape == (0, 2)
    np.testing.assert_array_equal(shuffle(sigs[[0, 1000]], 16, 4), [[0, 1]])


def _only_in_the_driver(driver_pid: int, _options, _ctx):
    if os.getpid() != driver_pid:
        raise OSError("the model file is only on the driver")
    return lambda doc: doc


def test_a_stage_that_cannot_start_on_a_worker_fails_the_run_naming_it(shared_ray):
    plugin = stage_plugin(functools.partial(_only_in_the_driver, os.getpid()), "picky", factory=True)
    pipeline = Pipeline.from_dict(
        {"pipeline": [{"stage": "picky"}], "run": {"executor": "ray"}},
        plugins=[plugin],
        load_entry_points=False,
    )
    with pytest.raises(RunError) as failure:
        list(pipeline.process([f"text {i}" for i in range(100)]))
    assert "a Ray task failed" in str(failure.value)
    assert "could not start its stages: OSError: the model file is only on the driver" in str(failure.value)
