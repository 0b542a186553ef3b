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
import contextlib
import multiprocessing
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from ingest.contract.errors import RunError
from ingest.contract.executor import Executor, InProcessExecutor, ordered_map
from ingest.engine.gc_tuning import tune_for_documents
from ingest.engine.lifeline import pool_initializer, stop_pool

__all__ = ["Executor", "LocalExecutor", "doing", "ordered_map", "start_executor"]

T = TypeVar("T")

#: In a local executor's pool process: the folder where it writes what it is doing (see
#: :func:`doing`); None elsewhere.
_doing_folder: str | None = None


def doing(label: str) -> None:
    """Tell the run what this process is about to do ("shard 17 (phase 1: ...)"): were
    a local executor's pool process to die during it (killed when memory ran out,
    say), the run's message names it. Nothing happens outside such a pool."""
    if _doing_folder is None:
        return
    note = os.path.join(_doing_folder, str(os.getpid()))
    # a note for an error message: never a failure of its own
    with contextlib.suppress(OSError), open(note, "w", encoding="utf-8") as fh:
        fh.write(label)


def _start_pool_process(bind: Callable[[], None], folder: str | None) -> None:
    global _doing_folder
    bind()
    _doing_folder = folder
    tune_for_documents()  # a process ingest owns, through which documents churn


class LocalExecutor(InProcessExecutor):
    """The default executor: calls run in this process when ``workers`` is 1,
    else in a pool of that many forked processes (started on first use,
    shut down by :meth:`shutdown`)."""

    kind = "local"

    def __init__(self, workers: int = 1) -> None:
        self.parallelism = max(1, workers)
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._doing: str | None = None  # the pool's folder for doing()

    def submit(self, fn: Callable[..., T], /, *args: Any) -> concurrent.futures.Future[T]:
        if self.parallelism == 1:
            return super().submit(fn, *args)
        if self._pool is None:
            # Forked where possible, like the runner's own workers, so
            # in-process plugin code is there without pickling.
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if "fork" in methods else None)
            # its processes end with this one (a killed run leaves none behind), and say
            # what they are doing in a folder of their own (see doing())
            try:
                self._doing = tempfile.mkdtemp(prefix="ingest-workers-")
            except OSError:  # no temporary folder: the run goes on, its messages less precise
                self._doing = None
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self.parallelism,
                mp_context=context,
                initializer=_start_pool_process,
                initargs=(pool_initializer(context), self._doing),
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
        ended = [p for p in processes if p.exitcode not in (None, 0, -signal.SIGTERM)]
        if not ended:
            return "ended abruptly"
        code, task = ended[0].exitcode, self._what_it_did(ended[0].pid)
        during = f" while running {task}" if task else ""
        if code == -signal.SIGKILL:
            return f"was killed{during} (SIGKILL: the system may have run out of memory)"
        if code < 0:
            return f"was killed by signal {-code}{during}"
        return f"exited with code {code}{during}"

    def _what_it_did(self, pid: int | None) -> str:
        """What pool process ``pid`` last said it was doing (see :func:`doing`), or ""."""
        if self._doing is None or pid is None:
            return ""
        try:
            with open(os.path.join(self._doing, str(pid)), encoding="utf-8") as fh:
                return fh.read()
        except OSError:
            return ""

    def shutdown(self, *, cancel: bool = False) -> None:
        """Stop the process pool, if one was started: after the calls under way
        finish, or with ``cancel`` (the run failed or was interrupted) at once,
        the calls not started cancelled and the processes ended."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            # a stopped run does not wait for a shard task under way (it can take seconds)
            stop_pool(pool, cancel=cancel, wait=not cancel)
        finally:
            if self._doing is not None:
                shutil.rmtree(self._doing, ignore_errors=True)
                self._doing = None


def start_executor(kind: str, *, workers: int, address: str = "", where: str = "[run]") -> Any:
    """The executor ``[run] executor`` names, started: a :class:`LocalExecutor`
    of ``workers`` processes, or a :class:`~ingest.executors.ray.RayExecutor`
    (connected to ``address``, or a local Ray instance of ``workers`` CPUs).
    Call its ``shutdown()`` when the run is over."""
    if kind == "ray":
        from ingest.executors.ray import RayExecutor  # imports ray: only when asked for

        return RayExecutor.connect(address, num_cpus=workers, where=where)
    return LocalExecutor(workers)
