"""Where a run's parallel work goes: the executor a stage reaches as ``ctx.executor``.

Two executors exist. ``local`` (the default) runs work in this process, or
in a pool of forked processes when ``[run] workers`` is above 1. ``ray``
(:mod:`ingest.executors.ray`, ``[run] executor = "ray"``) runs it as Ray
tasks. Both satisfy :class:`Executor`, so a corpus-level stage written
against ``ctx.executor.submit`` / ``ctx.executor.map`` runs on either
without knowing which.
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.process
import multiprocessing
import signal
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from ingest.contract.errors import RunError
from ingest.contract.executor import Executor, InProcessExecutor, ordered_map
from ingest.engine.lifeline import pool_initializer

__all__ = ["Executor", "LocalExecutor", "ordered_map", "start_executor"]

T = TypeVar("T")


class LocalExecutor(InProcessExecutor):
    """The default executor: calls run in this process when ``workers`` is 1,
    else in a pool of that many forked processes (started on first use,
    shut down by :meth:`shutdown`)."""

    kind = "local"

    def __init__(self, workers: int = 1) -> None:
        self.parallelism = max(1, workers)
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def submit(self, fn: Callable[..., T], /, *args: Any) -> concurrent.futures.Future[T]:
        if self.parallelism == 1:
            return super().submit(fn, *args)
        if self._pool is None:
            # Forked where possible, like the runner's own workers, so
            # in-process plugin code is there without pickling.
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if "fork" in methods else None)
            # its processes end with this one (a killed run leaves none behind)
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self.parallelism, mp_context=context, initializer=pool_initializer(context)
            )
        return self._pool.submit(fn, *args)

    def map(
        self, fn: Callable[[Any], T], items: Iterable[Any], *, in_flight: int | None = None
    ) -> Iterator[T]:
        """As :meth:`InProcessExecutor.map`; a worker process that dies (killed by
        the system when memory runs out, say) ends the run with a :class:`RunError`
        that says how it ended, not the pool's "terminated abruptly"."""
        results = super().map(fn, items, in_flight=in_flight)
        return results if self.parallelism == 1 else self._naming_lost_workers(results)

    def _naming_lost_workers(self, results: Iterator[T]) -> Iterator[T]:
        try:
            yield from results
        except concurrent.futures.process.BrokenProcessPool as exc:
            raise RunError(f"a worker process {self._how_workers_ended()}; the run cannot go on") from exc

    def _how_workers_ended(self) -> str:
        """How the pool's processes that did not exit cleanly ended (the pool
        terminates the others with SIGTERM once one has died)."""
        pool = self._pool
        processes = list((getattr(pool, "_processes", None) or {}).values())
        if pool is not None:
            # the broken pool's own thread is ending the others and reaping them: wait for it,
            # so that every process's exit code is known
            pool.shutdown(wait=True, cancel_futures=True)
        codes = [p.exitcode for p in processes if p.exitcode not in (None, 0, -signal.SIGTERM)]
        if not codes:
            return "ended abruptly"
        code = codes[0]
        if code == -signal.SIGKILL:
            return "was killed (SIGKILL: the system may have run out of memory)"
        if code < 0:
            return f"was killed by signal {-code}"
        return f"exited with code {code}"

    def shutdown(self, *, cancel: bool = False) -> None:
        """Stop the process pool, if one was started: after the calls under way
        finish, or with ``cancel`` (the run failed or was interrupted) at once,
        the calls not started cancelled and the processes ended."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if not cancel:
            pool.shutdown()
            return
        # A shard task can take seconds: a stopped run does not wait for it.
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join()


def start_executor(kind: str, *, workers: int, address: str = "", where: str = "[run]") -> Any:
    """The executor ``[run] executor`` names, started: a :class:`LocalExecutor`
    of ``workers`` processes, or a :class:`~ingest.executors.ray.RayExecutor`
    (connected to ``address``, or a local Ray instance of ``workers`` CPUs).
    Call its ``shutdown()`` when the run is over."""
    if kind == "ray":
        from ingest.executors.ray import RayExecutor  # imports ray: only when asked for

        return RayExecutor.connect(address, num_cpus=workers, where=where)
    return LocalExecutor(workers)
