"""Where a run's parallel work goes: the executor a stage reaches as ``ctx.executor``.

Two executors exist. ``local`` (the default) runs work in this process, or
in a pool of forked processes when ``[run] workers`` is above 1. ``ray``
(:mod:`ingest.ray_executor`, ``[run] executor = "ray"``) runs it as Ray
tasks. Both satisfy :class:`Executor`, so a corpus-level stage written
against ``ctx.executor.submit`` / ``ctx.executor.map`` runs on either
without knowing which.
"""

from __future__ import annotations

import collections
import concurrent.futures
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, TypeVar, runtime_checkable

from ingest.lifeline import pool_initializer

T = TypeVar("T")

#: Tasks in flight per unit of parallelism in :func:`ordered_map`: keeps
#: every worker busy while bounding memory.
IN_FLIGHT_PER_WORKER = 2

#: The names ``[run] executor`` accepts.
EXECUTORS = ("local", "ray")


@runtime_checkable
class Executor(Protocol):
    """Runs functions somewhere, possibly in parallel.

    ``fn`` and its arguments must be picklable (module-level functions,
    plain data, numpy arrays) for any executor but the in-process one.

    Attributes:
        kind: ``"local"`` or ``"ray"``.
        parallelism: how many calls can run at once (1 = in this process).
    """

    kind: str
    parallelism: int

    def submit(self, fn: Callable[..., T], /, *args: Any) -> concurrent.futures.Future[T]:
        """Start ``fn(*args)``; its result (or exception) arrives in the future."""
        ...

    def map(
        self, fn: Callable[[Any], T], items: Iterable[Any], *, in_flight: int | None = None
    ) -> Iterator[T]:
        """``fn(item)`` for every item, results in input order, with at most
        ``in_flight`` calls started but not yet returned (default: a couple
        per unit of parallelism), so a long input never piles up in memory."""
        ...


def ordered_map(
    submit: Callable[..., concurrent.futures.Future[T]],
    fn: Callable[[Any], T],
    items: Iterable[Any],
    in_flight: int,
) -> Iterator[T]:
    """``map`` for any executor: a bounded window of futures, read in order."""
    pending: collections.deque[concurrent.futures.Future[T]] = collections.deque()
    for item in items:
        pending.append(submit(fn, item))
        while len(pending) >= max(1, in_flight):
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


class LocalExecutor:
    """The default executor: calls run in this process when ``workers`` is 1,
    else in a pool of that many forked processes (started on first use,
    shut down by :meth:`shutdown`)."""

    kind = "local"

    def __init__(self, workers: int = 1) -> None:
        self.parallelism = max(1, workers)
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def submit(self, fn: Callable[..., T], /, *args: Any) -> concurrent.futures.Future[T]:
        if self.parallelism == 1:
            future: concurrent.futures.Future[T] = concurrent.futures.Future()
            try:
                future.set_result(fn(*args))
            except Exception as exc:  # noqa: BLE001 - delivered through the future, as a pool would
                future.set_exception(exc)
            return future
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
        return ordered_map(self.submit, fn, items, in_flight or IN_FLIGHT_PER_WORKER * self.parallelism)

    def shutdown(self) -> None:
        """Stop the process pool, if one was started."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


def start_executor(kind: str, *, workers: int, address: str = "", where: str = "[run]") -> Any:
    """The executor ``[run] executor`` names, started: a :class:`LocalExecutor`
    of ``workers`` processes, or a :class:`~ingest.ray_executor.RayExecutor`
    (connected to ``address``, or a local Ray instance of ``workers`` CPUs).
    Call its ``shutdown()`` when the run is over."""
    if kind == "ray":
        from ingest.ray_executor import RayExecutor  # imports ray: only when asked for

        return RayExecutor.connect(address, num_cpus=workers, where=where)
    return LocalExecutor(workers)
