"""Applying a per-document stage to one document, the same way everywhere.

Both the serial runner and the worker processes go through
:func:`apply_document_stage`, so a raising stage, a :class:`Drop` and a
wrong return value are handled identically whatever the worker count.

A document a stage raised on is recorded with the error and the innermost
frames of its traceback (:func:`error_frames`); at the end of a run
:func:`error_rate_failure` says whether a stage failed on more of its input
than ``[run] max_error_rate`` allows, and :func:`error_summaries` puts the
failures of each stage in one sentence for the command line.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ingest.contract.context import StageContext
from ingest.contract.document import Document, Drop
from ingest.contract.errors import RecordingFailed, RunError, error_text
from ingest.contract.ledger import Ledger, StageStats

DocumentFunction = Callable[[Document], "Document | Drop"]


class ErrorRateExceeded(RunError):
    """A stage raised on more of its input than ``[run] max_error_rate``
    allows. The run fails at its end: its output is removed, not kept for a
    resume (resuming would fail the same way)."""


def short_frame(frame: str) -> str:
    """``plugin.py:12 in process`` for ``/long/path/plugin.py:12 in process``."""
    location, sep, function = frame.partition(" in ")
    path, colon, line = location.rpartition(":")
    if not colon:
        return frame
    return f"{os.path.basename(path)}:{line}{sep}{function}"


def _failures(stage_id: str, stats: Mapping[str, Any]) -> str | None:
    """``stage 'x' failed on 3 of 10 documents (KeyError: 'boom' at p.py:12 in f)``, or None."""
    errors = (stats.get("dropped") or {}).get("error", 0)
    if not errors:
        return None
    total = stats.get("documents_in") or errors
    first = stats.get("first_error") or {}
    example = ""
    if first.get("error"):
        at = f" at {short_frame(first['at'])}" if first.get("at") else ""
        example = f" ({first['error']}{at}, first on {first.get('id')!r})"
    return f"stage {stage_id!r} failed on {errors} of {total} documents{example}"


def error_summaries(report: Mapping[str, Any]) -> list[str]:
    """One sentence per stage that raised on documents, from a run report."""
    lines = []
    for stage_id, stats in (report.get("stages") or {}).items():
        line = _failures(stage_id, stats)
        if line is not None:
            lines.append(f"{line}; each is recorded as dropped with reason 'error' and its traceback")
    return lines


def error_rate_failure(ledger: Ledger, stage_ids: Iterable[str], max_rate: float) -> ErrorRateExceeded | None:
    """The error to fail the run with when a stage raised on more than
    ``max_rate`` of its input (a share, 0 to 1), else None."""
    if max_rate >= 1.0:
        return None
    for stage_id in stage_ids:
        stats = ledger.stages.get(stage_id)
        if stats is None or not stats.documents_in:
            continue
        errors = stats.dropped.get("error", 0)
        if errors and errors / stats.documents_in > max_rate:
            line = _failures(stage_id, stats.as_dict())
            return ErrorRateExceeded(
                f"{line}: {errors / stats.documents_in:.0%} of its input, more than [run] max_error_rate = "
                f"{max_rate:g} allows; the run fails and its output is not kept"
            )
    return None


def apply_document_stage(
    fn: DocumentFunction, ctx: StageContext, stats: StageStats, doc: Document
) -> Document | None:
    """Run ``fn`` on ``doc``; return the kept document, or None if it was
    dropped (the drop is recorded through ``ctx``)."""
    stats.documents_in += 1
    start = time.perf_counter()
    try:
        result = fn(doc)
    except RecordingFailed:
        raise  # the stage's own drop could not be written: not the stage's fault
    except Exception as exc:  # noqa: BLE001 - recorded, and the run goes on
        stats.seconds += time.perf_counter() - start
        ctx.drop_error(doc, error_text(exc), exc=exc)
        return None
    stats.seconds += time.perf_counter() - start
    if isinstance(result, Document):
        stats.documents_out += 1
        return result
    if isinstance(result, Drop):
        ctx.drop(doc, result.reason, duplicate_of=result.duplicate_of, **result.details)
    else:
        ctx.drop(doc, "error", error=f"stage returned {type(result).__name__}; expected Document or Drop")
    return None
