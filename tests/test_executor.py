"""Executor selection and the local executor; nothing here starts Ray."""

from __future__ import annotations

import sys

import pytest
from ingest_plugins.dedup import DedupEngine, DedupOptions
from ingest_plugins.dedup.lsh import candidate_pairs

from ingest import Pipeline
from ingest.executors.local import Executor, LocalExecutor
from ingest.testing import stage_plugin

STAGES = [{"stage": "header"}, {"stage": "dedup"}]


def _square(x: int) -> int:
    return x * x


def _fail(x: int) -> int:
    raise ValueError(f"no {x}")


@pytest.fixture
def no_ray(monkeypatch):
    """Make ``import ray`` fail as it does when Ray is not installed."""
    monkeypatch.setitem(sys.modules, "ray", None)


@pytest.mark.parametrize("command", ["run", "check"])
def test_ray_without_ray_is_a_config_error_naming_the_key_and_the_fix(
    command, no_ray, tmp_path, write_config, write_corpus, ingest_cli
):
    config = write_config(
        tmp_path / "config.toml",
        {
            "source": {"path": str(write_corpus(tmp_path / "in", {"a.txt": "Some text."}))},
            "sink": {"path": str(tmp_path / "out")},
            "run": {"executor": "ray"},
            "pipeline": STAGES,
        },
    )
    result = ingest_cli(command, "-c", config)
    assert result.exit_code == 2
    assert f"{config}: [run] executor: 'ray' needs Ray" in result.stderr
    assert "pip install 'ingest[ray]'" in result.stderr
    assert not (tmp_path / "out").exists()


def test_executor_flag_without_ray_is_the_same_error(no_ray, tmp_path, write_config, ingest_cli):
    config = write_config(tmp_path / "config.toml", {"pipeline": STAGES})
    result = ingest_cli("run", "-c", config, "--executor", "ray", "--ray-address", "ray://nowhere:10001")
    assert result.exit_code == 2
    assert "[run] executor: 'ray' needs Ray" in result.stderr


def test_unknown_executor_names_the_choices(tmp_path, write_config, ingest_cli):
    config = write_config(tmp_path / "config.toml", {"run": {"executor": "dask"}, "pipeline": STAGES})
    result = ingest_cli("check", "-c", config)
    assert result.exit_code == 2
    assert "[run]: executor must be one of 'local', 'ray', got 'dask'" in result.stderr
    assert ingest_cli("run", "-c", config, "--executor", "dask").exit_code == 2


def test_local_is_the_default():
    pipeline = Pipeline.from_dict({"pipeline": STAGES})
    assert (pipeline.config.run.executor, pipeline.config.run.ray_address) == ("local", "")


@pytest.mark.parametrize("workers", [1, 2])
def test_local_executor_maps_in_order_and_reports_errors(workers):
    executor = LocalExecutor(workers)
    try:
        assert isinstance(executor, Executor)
        assert list(executor.map(_square, range(20), in_flight=3)) == [x * x for x in range(20)]
        with pytest.raises(ValueError, match="no 3"):
            executor.submit(_fail, 3).result()
    finally:
        executor.shutdown()


def _killed_at(x):
    import os
    import signal

    from ingest.executors.local import doing

    doing(f"item {x}")
    if x == 5:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def test_a_killed_pool_process_is_named_with_what_it_was_doing():
    """A task says what it does (``doing``); when the system kills its process, the run's
    error names it, and the pool's notes go when the executor shuts down."""
    from ingest.contract.errors import RunError

    executor = LocalExecutor(2)
    try:
        with pytest.raises(RunError, match=r"was killed while running item 5 \(SIGKILL"):
            list(executor.map(_killed_at, range(8), in_flight=2))
        folder = executor._doing
        assert folder is not None
    finally:
        executor.shutdown(cancel=True)
    import os

    assert not os.path.exists(folder)


def test_corpus_stage_gets_the_run_executor(run_pipeline):
    seen = {}

    def squares(options, ctx):
        class Stage:
            def fit(self, corpus):
                seen["kind"], seen["parallelism"] = ctx.executor.kind, ctx.executor.parallelism
                seen["lengths"] = list(ctx.executor.map(len, [doc.text for doc in corpus]))

            def __call__(self, docs):
                yield from docs

        return Stage()

    plugin = stage_plugin(squares, "lengths", factory=True, needs_corpus=True)
    result = run_pipeline(["a", "bb", "ccc"], ["lengths"], plugins=[plugin], run={"workers": 2})
    assert [d.id for d in result.kept] == ["doc-0", "doc-1", "doc-2"]
    assert seen == {"kind": "local", "parallelism": 2, "lengths": [1, 2, 3]}


def test_engine_seams_give_the_same_decisions():
    """The injected executor hashes every batch and the injected pair
    function finds the candidates; decisions do not change."""
    texts = {f"d{i}": f"story {i % 7} " + " ".join(f"w{(i % 7) * j}" for j in range(60)) for i in range(40)}
    texts["d3"] += " an extra sentence at the end"
    reference = DedupEngine(DedupOptions(batch_size=8))
    for key, text in texts.items():
        reference.add(key, text)
    expected = reference.resolve()

    calls = []

    def counting_pairs(sigs, bands, rows, min_new=0, max_bucket=0, stats=None):
        calls.append(sigs.shape[0])
        return candidate_pairs(sigs, bands, rows, min_new=min_new, max_bucket=max_bucket, stats=stats)

    class Recording(LocalExecutor):
        def submit(self, fn, /, *args):
            calls.append(fn.__name__)
            return super().submit(fn, *args)

    executor = Recording(2)
    try:
        engine = DedupEngine(
            DedupOptions(batch_size=8), workers=2, executor=executor, candidate_pairs=counting_pairs
        )
        for key, text in texts.items():
            engine.add(key, text)
        assert engine.resolve() == expected
    finally:
        executor.shutdown()
    assert calls.count("_hash_batch") == 5  # 40 documents, 8 a batch
    assert calls[-1] == 8  # one representative per exact group: 7 stories + the edited d3
    assert any(not d.keep for d in expected.values())


def test_check_says_where_it_runs(tmp_path, write_config, ingest_cli):
    pytest.importorskip("ray")
    config = write_config(tmp_path / "config.toml", {"pipeline": STAGES})
    result = ingest_cli("check", "-c", config, "--set", "run.executor=ray", "--set", "run.ray_address=auto")
    assert result.exit_code == 0, result.stderr
    assert "run     on Ray: auto" in result.stdout


def test_run_flags_reach_the_executor(monkeypatch, tmp_path, write_config, write_corpus, ingest_cli):
    """--executor / --ray-address override [run]; the runner starts what they name."""
    import ingest.runner

    started = []

    def fake_start(kind, **kwargs):
        started.append((kind, kwargs["address"], kwargs["workers"]))
        return LocalExecutor(1)

    monkeypatch.setattr(ingest.runner, "start_executor", fake_start)
    monkeypatch.setattr("ingest.host.config.check_ray", lambda where: None)  # Ray need not be installed here
    config = write_config(
        tmp_path / "config.toml",
        {
            "source": {"path": str(write_corpus(tmp_path / "in", {"a.txt": "Some text."}))},
            "sink": {"path": str(tmp_path / "out")},
            "run": {"ray_address": "auto", "workers": 3},
            "pipeline": STAGES,
        },
    )
    assert ingest_cli("run", "-c", config).exit_code == 0
    result = ingest_cli("run", "-c", config, "--executor", "ray", "--ray-address", "ray://head:10001")
    assert result.exit_code == 0, result.stderr
    assert started == [("local", "auto", 3), ("ray", "ray://head:10001", 3)]


def test_a_ray_address_where_nothing_listens_fails_in_seconds(tmp_path, write_config, ingest_cli):
    pytest.importorskip("ray")
    import socket

    with socket.socket() as probe:  # a port that was just free: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = write_config(
        tmp_path / "config.toml", {"sink": {"path": str(tmp_path / "out")}, "pipeline": STAGES}
    )
    result = ingest_cli("run", "-c", config, "--executor", "ray", "--ray-address", f"127.0.0.1:{port}")
    assert result.exit_code != 0
    assert f"cannot start or reach ray_address '127.0.0.1:{port}'" in result.stderr
    assert f"nothing answers at 127.0.0.1:{port}" in result.stderr
