"""Small things every kind of run needs: the CPU time the process has used,
and clean-up steps after a failure that must not hide it."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

from ingest.engine.document_stage import error_text

log = logging.getLogger("ingest")


def cpu_seconds() -> tuple[float, float | None]:
    """CPU seconds (user + system) used so far by this process, all its
    threads included, and by its child processes that have ended and been
    waited for (``None`` where the platform does not say)."""
    if sys.platform == "win32":
        return time.process_time(), None
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def cleanup(step: Callable[[], None], what: str) -> None:
    """One clean-up step after a failed run: its own error (a full disk
    again) is logged, never allowed to hide the failure being reported."""
    try:
        step()
    except Exception as exc:  # noqa: BLE001
        log.warning("%s failed: %s", what, error_text(exc))
