"""Running a stream stage (one that takes the stream of documents and yields
the ones it keeps) so that nothing is lost: every document it neither yields
nor drops is recorded as lost, and a stage that raises has the documents in
flight recorded with its error and is started again on the rest.

Used by the runner for stream and corpus-level stages, and by shard tasks
(:mod:`ingest.engine.shards`) for the corpus-level stages they apply.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ingest.contract.context import StageContext
from ingest.contract.document import Document
from ingest.contract.errors import RecordingFailed
from ingest.contract.ledger import StageStats
from ingest.engine.document_stage import error_text


class UpstreamFailure(Exception):
    """Carries an exception raised upstream of a stream stage through it."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(str(original))
        self.original = original


class Clock:
    """Time spent inside one stage, excluding what its input took upstream."""

    def __init__(self, stats: StageStats) -> None:
        self.stats = stats

    def _timed(self, docs: Iterable[Document], sign: int) -> Iterator[Document]:
        it = iter(docs)
        while True:
            start = time.perf_counter()
            try:
                doc = next(it)
            except StopIteration:
                self.stats.seconds += sign * (time.perf_counter() - start)
                return
            self.stats.seconds += sign * (time.perf_counter() - start)
            yield doc

    def timed_input(self, docs: Iterable[Document]) -> Iterator[Document]:
        """The stage's input: time spent fetching it is upstream's, so it is taken off."""
        return self._timed(docs, -1)

    def timed_output(self, docs: Iterable[Document]) -> Iterator[Document]:
        """The stage's output: everything spent producing it is counted."""
        return self._timed(docs, +1)


def run_stream_stage(
    stage: Callable[[Iterable[Document]], Iterable[Document]],
    ctx: StageContext,
    stats: StageStats,
    docs: Iterator[Document],
) -> Iterator[Document]:
    """Run a stream stage, keeping track of documents in flight.

    A document the stage neither yields nor drops is recorded as lost.
    If the stage raises, the documents in flight are recorded with the
    error and the stage is started again on the rest of the stream.
    """
    pending: dict[str, Document] = {}
    ledger = ctx.ledger
    exhausted = False

    def feed() -> Iterator[Document]:
        nonlocal exhausted
        it = iter(docs)
        while True:
            try:
                doc = next(it)
            except StopIteration:
                exhausted = True
                return
            except Exception as exc:
                raise UpstreamFailure(exc) from exc
            stats.documents_in += 1
            pending[doc.id] = doc
            yield doc

    def forget_dropped(record: Any) -> None:
        if record.stage == ctx.stage_id:
            pending.pop(record.id, None)

    ledger.trackers.append(forget_dropped)  # at once, even while the worker pool holds drops back
    clock = Clock(stats)
    shared_feed = clock.timed_input(feed())
    try:
        while True:
            consumed_before = stats.documents_in
            try:
                for doc in clock.timed_output(stage(shared_feed)):
                    pending.pop(doc.id, None)
                    stats.documents_out += 1
                    yield doc
            except UpstreamFailure as failure:
                raise failure.original from None
            except RecordingFailed:
                raise  # a drop the sink could not write: the run stops
            except Exception as exc:  # noqa: BLE001 - recorded, and the run goes on
                error = error_text(exc)
                for doc in list(pending.values()):
                    ctx.drop_error(doc, error, exc=exc)
                pending.clear()
                if exhausted:
                    break
                if stats.documents_in == consumed_before:
                    # It fails before reading anything: it will never
                    # recover, so the rest of the stream is dropped with it.
                    for doc in shared_feed:
                        ctx.drop_error(doc, error, exc=exc)
                    break
                continue
            break
        for doc in list(pending.values()):
            ctx.drop(doc, "lost", error="the stage neither kept nor dropped this document")
        pending.clear()
    finally:
        if forget_dropped in ledger.trackers:
            ledger.trackers.remove(forget_dropped)
