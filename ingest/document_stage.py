"""Applying a per-document stage to one document, the same way everywhere.

Both the serial runner and the worker processes go through
:func:`apply_document_stage`, so a raising stage, a :class:`Drop` and a
wrong return value are handled identically whatever the worker count.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable

from ingest.context import StageContext
from ingest.document import Document, Drop
from ingest.errors import RecordingFailed
from ingest.ledger import StageStats

DocumentFunction = Callable[[Document], "Document | Drop"]


def error_text(exc: BaseException) -> str:
    """``Type: message`` of an exception, as recorded in the ledger."""
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


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
        ctx.drop_error(doc, error_text(exc))
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
