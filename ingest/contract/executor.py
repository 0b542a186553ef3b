"""What a stage may ask of the run's executor (``ctx.executor``).

:class:`Executor` is the protocol every executor satisfies (the local one
and Ray's, in :mod:`ingest.executors`); :class:`InProcessExecutor` runs
calls right here, and is what a stage gets where nothing else is set up
(in a worker process, in ``Pipeline.process``).
"""

from __future__ import annotations

import collections
import concurrent.futures
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, TypeVar, runtime_checkable

T = TypeVar("T")

#: Tasks in flight per unit of parallelism in :func:`ordered_map`: keeps
#: every worker busy while bounding memory.
IN_FLIGHT_PER_WORKER = 2


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


class InProcessExecutor:
    """Runs every call in this process, at once; results and exceptions are
    delivered through futures, as a pool would deliver them."""

    kind = "local"

    def __init__(self) -> None:
        self.parallelism = 1

    def submit(self, fn: Callable[..., T], /, *args: Any) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:  # noqa: BLE001 - delivered through the future, as a pool would
            future.set_exception(exc)
        return future

    def map(
        self, fn: Callable[[Any], T], items: Iterable[Any], *, in_flight: int | None = None
    ) -> Iterator[T]:
        return ordered_map(self.submit, fn, items, in_flight or IN_FLIGHT_PER_WORKER * self.parallelism)

    def shutdown(self, *, cancel: bool = False) -> None:
        """Nothing to stop."""
