"""The ledger: where every input document ends up, and the run's counts.

Every document read is either kept (written by the sink) or recorded here as
dropped with the stage, the reason and, for duplicates, the kept document it
duplicates. ``input == kept + dropped`` holds at the end of every run;
:meth:`Ledger.check_balance` asserts it.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from ingest.contract.errors import RecordingFailed

#: The stage name under which the source records files it could not read.
SOURCE_STAGE = "source"


@attrs.frozen
class DropRecord:
    """One dropped document.

    ``stage`` is the stage id from the config (``"source"`` for inputs that
    could not be read), ``plugin`` the plugin that provided the stage,
    ``reason`` a short label, ``duplicate_of`` the id of the kept document it
    duplicates, ``details`` anything else (an error message, a similarity),
    ``text`` the document's text at the time it was dropped, if there was one,
    ``path`` the file it came from.
    """

    id: str
    stage: str
    reason: str
    plugin: str | None = None
    duplicate_of: str | None = None
    details: dict[str, Any] = attrs.field(factory=dict)
    text: str | None = None
    path: str | None = None
    metadata: dict[str, Any] = attrs.field(factory=dict)
    history: list[Any] = attrs.field(factory=list)


@attrs.frozen
class RunWarning:
    """Something worth telling the user that did not drop a document:
    a malformed header line, say. ``line`` is 1-based when given."""

    stage: str
    message: str
    doc_id: str | None = None
    path: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.path or self.doc_id or ""
        if where and self.line is not None:
            where = f"{where}:{self.line}"
        return f"{where}: {self.message} [{self.stage}]" if where else f"{self.message} [{self.stage}]"


@attrs.define
class StageStats:
    """Counts and time for one stage of one run."""

    stage_id: str
    stage: str
    documents_in: int = 0
    documents_out: int = 0
    dropped: collections.Counter[str] = attrs.field(factory=collections.Counter)
    warnings: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = attrs.field(factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "documents_in": self.documents_in,
            "documents_out": self.documents_out,
            "dropped": dict(sorted(self.dropped.items())),
            "dropped_total": sum(self.dropped.values()),
            "warnings": self.warnings,
            "seconds": round(self.seconds, 6),
            **self.extra,
        }


#: How many warnings the ledger keeps word for word; the rest are counted.
MAX_KEPT_WARNINGS = 1000


@attrs.define
class Ledger:
    """Counts per stage and reason, the drop records, and the warnings.

    ``keep_records`` keeps every :class:`DropRecord` in memory (for
    :attr:`Pipeline.ledger` in ETL jobs); listeners (the sink, the
    ``ingest_document_dropped`` hook) see every record either way.

    ``trackers`` are called with every record at once, even while the ledger
    is :meth:`held <holding>` (stages that keep documents in flight use them
    to see their own drops); ``listeners`` and the counts see a held record
    only when it is replayed.
    """

    keep_records: bool = True
    input_count: int = 0
    kept_count: int = 0
    dropped_count: int = 0
    records: list[DropRecord] = attrs.field(factory=list)
    warnings: list[RunWarning] = attrs.field(factory=list)
    warning_count: int = 0
    stages: dict[str, StageStats] = attrs.field(factory=dict)
    listeners: list[Callable[[DropRecord], None]] = attrs.field(factory=list)
    trackers: list[Callable[[DropRecord], None]] = attrs.field(factory=list)
    #: Source items still to skip when a run resumes (see :meth:`skip_source`).
    source_to_skip: int = 0
    on_source_skipped: Callable[[Any], None] | None = None
    _held: list[list[tuple[str, Any]]] = attrs.field(factory=list)

    def stage_stats(self, stage_id: str, stage: str) -> StageStats:
        if stage_id not in self.stages:
            self.stages[stage_id] = StageStats(stage_id=stage_id, stage=stage)
        return self.stages[stage_id]

    def record_drop(self, record: DropRecord) -> None:
        if record.stage == SOURCE_STAGE and self.source_to_skip > 0:
            self._skipped(record)
            return
        for tracker in self.trackers:
            tracker(record)
        if self._held:
            self._held[-1].append(("drop", record))
            return
        self._record_drop_now(record)

    def _record_drop_now(self, record: DropRecord) -> None:
        if record.stage == SOURCE_STAGE:
            # An input the source could not read never became a document,
            # but it was input all the same.
            self.input_count += 1
        self.dropped_count += 1
        stats = self.stages.get(record.stage)
        if stats is None:
            stats = self.stage_stats(record.stage, record.stage)
        stats.dropped[record.reason] += 1
        if record.reason == "error" and "first_error" not in stats.extra:
            # for the report and the command line's summary of failing stages
            frames = record.details.get("traceback") or []
            stats.extra["first_error"] = {
                "error": record.details.get("error"),
                "at": frames[-1] if frames else None,
                "id": record.id,
            }
        if self.keep_records:
            self.records.append(record)
        for listener in self.listeners:
            try:
                listener(record)
            except RecordingFailed:
                raise
            except Exception as exc:
                # Caught by no stage: a drop that cannot be written must not
                # pass for a stage error while the counts say it was recorded.
                raise RecordingFailed(
                    f"could not record that {record.id!r} was dropped ({record.stage}: {record.reason}): "
                    f"{type(exc).__name__}: {exc}"
                ) from exc

    def record_warning(self, warning: RunWarning) -> None:
        if warning.stage == SOURCE_STAGE and self.source_to_skip > 0:
            return  # about an input that is skipped: it was counted before the checkpoint
        if self._held:
            self._held[-1].append(("warning", warning))
            return
        self._record_warning_now(warning)

    def _record_warning_now(self, warning: RunWarning) -> None:
        self.warning_count += 1
        stats = self.stages.get(warning.stage)
        if stats is not None:
            stats.warnings += 1
        if len(self.warnings) < MAX_KEPT_WARNINGS:
            self.warnings.append(warning)

    # -- holding events back (the worker pool replays them in input order) --

    @contextlib.contextmanager
    def holding(self) -> Iterator[list[tuple[str, Any]]]:
        """Hold back drops and warnings recorded inside the block; the yielded
        list collects them for :meth:`replay`. Holds nest: what an inner
        block replays while an outer one is open goes to the outer one.

        If the block raises, what it held is dropped with it: the run is
        failing, and recording it now, ahead of earlier documents' outcomes,
        could let a checkpoint count inputs that are not accounted for."""
        held: list[tuple[str, Any]] = []
        self._held.append(held)
        try:
            yield held
        finally:
            self._pop_hold(held)

    def _pop_hold(self, held: list[tuple[str, Any]]) -> None:
        assert self._held and self._held[-1] is held, "holds are strictly nested"
        self._held.pop()

    def replay(self, events: list[tuple[str, Any]]) -> None:
        """Record held events, in the order they happened."""
        for kind, item in events:
            if self._held:
                self._held[-1].append((kind, item))
            elif kind == "drop":
                self._record_drop_now(item)
            else:
                self._record_warning_now(item)

    # -- resuming ----------------------------------------------------------

    def skip_source(self, count: int, on_skipped: Callable[[str], None] | None = None) -> None:
        """Swallow the next ``count`` source items: documents the runner
        reads (it calls :meth:`source_skipped`) and inputs the source drops,
        with the source's warnings about them. ``on_skipped(item)`` is called
        with each (the document or the source's drop record), so the caller
        can check that they are the items it accounted for."""
        self.source_to_skip = count
        self.on_source_skipped = on_skipped

    def source_skipped(self, doc: Any) -> None:
        """The runner skipped ``doc``, read again from the source."""
        self._skipped(doc)

    def _skipped(self, item: Any) -> None:
        self.source_to_skip -= 1
        if self.on_source_skipped is not None:
            self.on_source_skipped(item)

    def state(self) -> dict[str, Any]:
        """The counts, per-stage statistics and kept warnings as plain data
        (for a checkpoint); drop records are not part of it."""
        return {
            "input": self.input_count,
            "kept": self.kept_count,
            "dropped": self.dropped_count,
            "warning_count": self.warning_count,
            "warnings": [attrs.asdict(w) for w in self.warnings],
            "stages": {
                stage_id: {
                    "stage": s.stage,
                    "documents_in": s.documents_in,
                    "documents_out": s.documents_out,
                    "dropped": dict(s.dropped),
                    "warnings": s.warnings,
                    "seconds": s.seconds,
                    "extra": s.extra,
                }
                for stage_id, s in self.stages.items()
            },
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Set the counts back to a :meth:`state` (replacing what is there)."""
        self.input_count = state["input"]
        self.kept_count = state["kept"]
        self.dropped_count = state["dropped"]
        self.warning_count = state["warning_count"]
        self.warnings = [RunWarning(**w) for w in state["warnings"]]
        for stage_id, saved in state["stages"].items():
            stats = self.stage_stats(stage_id, saved["stage"])
            stats.documents_in = saved["documents_in"]
            stats.documents_out = saved["documents_out"]
            stats.dropped = collections.Counter(saved["dropped"])
            stats.warnings = saved["warnings"]
            stats.seconds = saved["seconds"]
            stats.extra = dict(saved["extra"])

    def merge(self, state: dict[str, Any]) -> None:
        """Add the counts of another ledger's :meth:`state` to these (a shard's,
        in a sharded run): counts and seconds add up, kept warnings follow
        these in order up to the limit, a stage's first error stays the first."""
        self.input_count += state["input"]
        self.kept_count += state["kept"]
        self.dropped_count += state["dropped"]
        self.warning_count += state["warning_count"]
        room = MAX_KEPT_WARNINGS - len(self.warnings)
        if room > 0:
            self.warnings.extend(RunWarning(**w) for w in state["warnings"][:room])
        for stage_id, saved in state["stages"].items():
            stats = self.stage_stats(stage_id, saved["stage"])
            stats.documents_in += saved["documents_in"]
            stats.documents_out += saved["documents_out"]
            stats.dropped.update(saved["dropped"])
            stats.warnings += saved["warnings"]
            stats.seconds += saved["seconds"]
            for key, value in saved["extra"].items():
                stats.extra.setdefault(key, value)

    def dropped_ids(self) -> dict[str, DropRecord]:
        """The kept drop records by document id (needs ``keep_records``)."""
        return {record.id: record for record in self.records}

    def is_balanced(self) -> bool:
        return self.input_count == self.kept_count + self.dropped_count

    def check_balance(self) -> None:
        """Raise if a document went missing: input must equal kept + dropped."""
        if not self.is_balanced():
            raise AssertionError(
                f"ledger out of balance: input {self.input_count} != kept {self.kept_count}"
                f" + dropped {self.dropped_count}"
            )

    def summary(self) -> dict[str, Any]:
        reasons: collections.Counter[str] = collections.Counter()
        for stats in self.stages.values():
            for reason, count in stats.dropped.items():
                reasons[f"{stats.stage_id}:{reason}"] += count
        return {
            "input": self.input_count,
            "kept": self.kept_count,
            "dropped": self.dropped_count,
            "balanced": self.is_balanced(),
            "dropped_by_stage_and_reason": dict(sorted(reasons.items())),
            "warnings": self.warning_count,
        }
