"""Small things every kind of run needs: the CPU time the process has used,
clean-up steps after a failure that must not hide it, and giving the memory a
large task freed back to the system (after the task, and as it goes)."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import gc
import logging
import sys
import time
from collections.abc import Callable, Iterator

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


#: glibc's ``mallopt`` parameters: the size from which a block gets pages of its own,
#: and how much free space at the top of the heap it keeps rather than give back
_M_MMAP_THRESHOLD = -3
_M_TRIM_THRESHOLD = -1
#: glibc's starting value of that size (128 KiB), which :func:`steady_heap` keeps fixed
MMAP_THRESHOLD = 128 * 1024
#: the largest value glibc raises it to on its own (32 MiB on 64-bit), set after a steady task
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    """glibc, or None elsewhere (macOS, Windows, or no C library found)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None elsewhere (macOS, Windows, musl)."""
    return getattr(_libc(), "malloc_trim", None)


def _mmap_threshold(size: int) -> bool:
    """Fix the size from which a block gets pages of its own, and keep up to twice
    that free at the top of the heap (what glibc does as it raises the size on its
    own: giving back less makes the next blocks fault their pages in again);
    whether it could (glibc only)."""
    mallopt = getattr(_libc(), "mallopt", None)
    return (
        mallopt is not None
        and bool(mallopt(_M_MMAP_THRESHOLD, size))
        and bool(mallopt(_M_TRIM_THRESHOLD, 2 * size))
    )


@contextlib.contextmanager
def steady_heap() -> Iterator[bool]:
    """While the block runs, every block of ``MMAP_THRESHOLD`` bytes or more gets
    pages of its own, so that freeing one gives its memory back to the system at
    once; after it, blocks up to ``MMAP_THRESHOLD_MAX`` come from the C heap
    again. Yields whether it could (glibc only).

    glibc starts at the small size but raises it each time a large block is
    freed (up to 32 MB): after that, the arrays of a few MB a task makes and
    frees come from the C heap, whose free space stays in the process's memory
    until the task ends. A task that holds large arrays a phase at a time
    (dedup's resolving task: its columns, then the composite search's table,
    then the clusters) then peaks at the sum of its phases' leftovers: 387 MB
    on a million documents against 330 with the size fixed. Not for every task:
    pages of its own for each array cost the per-document tasks time (hashing
    for dedup: ~20 us a document more), where the heap's reuse is what is fast."""
    fixed = _mmap_threshold(MMAP_THRESHOLD)
    try:
        yield fixed
    finally:
        if fixed:
            _mmap_threshold(MMAP_THRESHOLD_MAX)


def release_memory() -> None:
    """Give the memory a finished task freed back to the system. A worker process
    runs many tasks; what one task freed stays in the C heap otherwise, so the
    next task (a dedup resolve after the lexicon's counts) starts from the first
    one's peak."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
