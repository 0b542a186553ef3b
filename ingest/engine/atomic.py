"""Atomic file output: write under a temporary name, rename when complete."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def temp_path_for(target: str | os.PathLike[str]) -> str:
    """A fresh temporary path in the target's directory (same filesystem,
    so the final rename is atomic). Its name starts with a dot and ends in
    ``.partial`` so it never looks like finished output."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(fd)
    return tmp


def commit(tmp: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Flush ``tmp`` to disk and rename it over ``target``."""
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    _default_permissions(tmp)
    os.replace(tmp, target)


def _default_permissions(path: str | os.PathLike[str]) -> None:
    # mkstemp creates files readable by the owner only; finished output
    # should get the permissions any other new file would get.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


@contextlib.contextmanager
def atomic_write(
    target: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8"
) -> Iterator[IO]:
    """Open a temporary file for writing; on success rename it to ``target``,
    on error delete it, so ``target`` is either complete or untouched."""
    tmp = temp_path_for(target)
    binary = "b" in mode
    try:
        with open(tmp, mode, encoding=None if binary else encoding, newline=None if binary else "\n") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        _default_permissions(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
