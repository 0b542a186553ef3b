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
