"""Small things every kind of run needs: the CPU time the process has used,
clean-up steps after a failure that must not hide it, and giving the memory a
large task freed back to the system."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
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


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None elsewhere (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


def release_memory() -> None:
    """Give the memory a finished task freed back to the system. A worker process
    runs many tasks; what one task freed stays in the C heap otherwise, so the
    next task (a dedup resolve after the lexicon's counts) starts from the first
    one's peak."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
