"""The forked worker pool behind ``[run] workers``: order, large messages, failures."""

from __future__ import annotations

import os
import time

import pytest

from ingest.contract.errors import RunError
from ingest.engine.fork_pool import PIPE_BYTES, ForkWorkers
from ingest.engine.parallel import fork_available

pytestmark = pytest.mark.skipif(not fork_available(), reason="needs fork")


def _echo(state: dict, payload: bytes, repeat: int) -> tuple[int, bytes]:
    state["calls"] += 1
    return os.getpid(), payload * repeat


def test_results_come_back_in_order_with_messages_larger_than_the_pipes():
    big = os.urandom(PIPE_BYTES // 3)
    with ForkWorkers(2, lambda: {"calls": 0}, _echo) as pool:
        # many tasks queued before any result is read: tasks and results both overflow the pipes
        tickets = [pool.submit(bytes([i]) + big, 4) for i in range(12)]
        results = [pool.result(t) for t in tickets]
    assert [r[1] == (bytes([i]) + big) * 4 for i, r in enumerate(results)] == [True] * 12
    assert len({pid for pid, _ in results}) == 2  # both workers took part
    assert all(pid != os.getpid() for pid, _ in results)


def _fail_on_three(state: None, n: int) -> int:
    if n == 3:
        raise ValueError("three is not allowed")
    return n * 10


def test_an_exception_in_a_task_is_a_run_error_naming_it_and_the_rest_go_on():
    with ForkWorkers(2, lambda: None, _fail_on_three) as pool:
        tickets = {n: pool.submit(n) for n in range(6)}
        assert pool.result(tickets[2]) == 20
        with pytest.raises(RunError, match=r"a worker process failed: ValueError: three is not allowed"):
            pool.result(tickets[3])
        assert [pool.result(tickets[n]) for n in (4, 5, 0, 1)] == [40, 50, 0, 10]


def _cannot_start() -> None:
    raise OSError("no model file here")


def test_a_worker_that_cannot_start_fails_every_task_with_the_reason():
    pool = ForkWorkers(1, _cannot_start, _echo)
    with pool, pytest.raises(RunError, match="could not start its stages: OSError: no model file here"):
        pool.result(pool.submit(b"x", 1))


def _die(state: None, code: int) -> None:
    os._exit(code)


def test_a_worker_that_dies_is_a_run_error_with_its_exit_code():
    with (
        pytest.raises(RunError, match=r"it exited \(exit code 7\)"),
        ForkWorkers(1, lambda: None, _die) as pool,
    ):
        pool.result(pool.submit(7))


def _sleep(state: None, seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_leaving_with_tasks_outstanding_ends_the_workers_at_once():
    started = time.monotonic()
    pool = ForkWorkers(2, lambda: None, _sleep)
    for _ in range(4):
        pool.submit(30.0)
    processes = [w.process for w in pool._workers]
    pool.close()
    assert time.monotonic() - started < 20
    assert all(not p.is_alive() for p in processes)
