"""Telling a full disk apart from other failures, and saying where it is full."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Sequence

#: errno values that mean "no room": no space left, or over a quota.
_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
#: How a worker process's error reaches the parent: as text.
_FULL_TEXT = ("No space left on device", "Disk quota exceeded")


def _chain(exc: BaseException | None) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is a full disk."""
    for link in _chain(exc):
        if isinstance(link, OSError) and link.errno in _FULL:
            return True
        if any(text in str(link) for text in _FULL_TEXT):
            return True
    return False


def _free_bytes(path: str) -> int | None:
    probe = path
    while probe and not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    try:
        return shutil.disk_usage(probe or ".").free
    except OSError:
        return None


def disk_full_message(exc: BaseException, places: Sequence[str]) -> str:
    """``no space left on <path> ...``: the file the error names, else the
    one of ``places`` (the output folder, the scratch folder) with the least
    room left, measured now, before the run's files are removed."""
    named = next((link.filename for link in _chain(exc) if isinstance(link, OSError) and link.filename), None)
    if named is not None:
        where = os.fsdecode(named)
    else:
        measured = [(free, place) for place in places if (free := _free_bytes(place)) is not None]
        where = min(measured)[1] if measured else (places[0] if places else "the disk")
    return (
        f"no space left on {where}: the run stopped and removed the files it had written there "
        "(partial output, checkpoint, spool); free some space and run again"
    )
