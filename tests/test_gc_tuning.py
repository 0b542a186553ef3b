"""Collector settings: tuned in the workers ``ingest`` owns, paused only briefly elsewhere."""

from __future__ import annotations

import gc

import pytest

from ingest.engine import gc_tuning
from ingest.engine.fork_pool import ForkWorkers
from ingest.engine.parallel import fork_available


def _collector_state(state: None) -> tuple[tuple[int, ...], int, bool]:
    return gc.get_threshold(), gc.get_freeze_count(), gc.isenabled()


@pytest.mark.skipif(not fork_available(), reason="needs fork")
def test_workers_run_with_the_tuned_collector_and_the_parent_keeps_its_own():
    before = gc.get_threshold()
    with ForkWorkers(1, lambda: None, _collector_state) as pool:
        threshold, frozen, enabled = pool.result(pool.submit())
    assert threshold == (gc_tuning.YOUNG_THRESHOLD, *gc_tuning.OLDER_THRESHOLDS)
    assert frozen > 0  # the modules and stages built before the first task
    assert enabled  # cyclic garbage is still collected
    assert gc.get_threshold() == before


@pytest.mark.skipif(not fork_available(), reason="needs fork")
def test_the_local_executors_pool_processes_run_with_the_tuned_collector():
    from ingest.executors.local import LocalExecutor

    before = gc.get_threshold()
    executor = LocalExecutor(2)
    try:
        threshold, frozen, enabled = executor.submit(_collector_state, None).result()
    finally:
        executor.shutdown()
    assert threshold == (gc_tuning.YOUNG_THRESHOLD, *gc_tuning.OLDER_THRESHOLDS)
    assert frozen > 0 and enabled
    assert gc.get_threshold() == before


def test_tuned_for_a_while_puts_the_settings_back():
    before, frozen_before = gc.get_threshold(), gc.get_freeze_count()
    with gc_tuning.tuned():
        assert gc.get_threshold() == (gc_tuning.YOUNG_THRESHOLD, *gc_tuning.OLDER_THRESHOLDS)
        assert gc.get_freeze_count() > 0
    assert (gc.get_threshold(), gc.get_freeze_count()) == (before, frozen_before)


def test_the_cli_run_leaves_the_calling_process_as_it_was(tmp_path):
    from ingest.testing import run_cli, write_config, write_corpus

    write_corpus(tmp_path / "in", {"a.txt": "one two three", "b.txt": "four five six"})
    config = write_config(
        tmp_path / "c.toml",
        {"source": {"type": "text_files", "path": "in"}, "sink": {"type": "jsonl", "path": "out"}},
    )
    before, frozen_before = gc.get_threshold(), gc.get_freeze_count()
    assert run_cli("run", "-c", config).exit_code == 0
    assert (gc.get_threshold(), gc.get_freeze_count()) == (before, frozen_before)


def test_paused_turns_the_collector_off_and_back_on():
    assert gc.isenabled()
    with gc_tuning.paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_paused_restores_the_collector_after_an_exception():
    with pytest.raises(ValueError), gc_tuning.paused():
        raise ValueError("unpickling failed")
    assert gc.isenabled()


def test_paused_leaves_a_collector_the_program_turned_off_off():
    gc.disable()
    try:
        with gc_tuning.paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
