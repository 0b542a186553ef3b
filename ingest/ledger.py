"""The ledger: where every input document ends up, and the run's counts.

Every document read is either kept (written by the sink) or recorded here as
dropped with the stage, the reason and, for duplicates, the kept document it
duplicates. ``input == kept + dropped`` holds at the end of every run;
:meth:`Ledger.check_balance` asserts it.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

import attrs

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

    def stage_stats(self, stage_id: str, stage: str) -> StageStats:
        if stage_id not in self.stages:
            self.stages[stage_id] = StageStats(stage_id=stage_id, stage=stage)
        return self.stages[stage_id]

    def record_drop(self, record: DropRecord) -> None:
        if record.stage == SOURCE_STAGE:
            # An input the source could not read never became a document,
            # but it was input all the same.
            self.input_count += 1
        self.dropped_count += 1
        stats = self.stages.get(record.stage)
        if stats is None:
            stats = self.stage_stats(record.stage, record.stage)
        stats.dropped[record.reason] += 1
        if self.keep_records:
            self.records.append(record)
        for listener in self.listeners:
            listener(record)

    def record_warning(self, warning: RunWarning) -> None:
        self.warning_count += 1
        stats = self.stages.get(warning.stage)
        if stats is not None:
            stats.warnings += 1
        if len(self.warnings) < MAX_KEPT_WARNINGS:
            self.warnings.append(warning)

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
