"""One run at a time per output folder.

A run holds ``.ingest.lock`` in its output folder from the moment the sink
opens it until the run finishes, fails or is suspended. The file names the
holder (pid, host, start time) and carries an exclusive ``flock``, which the
kernel releases when the holder's processes are gone, however they ended:
a lock file left by a killed run is taken over, a live one refuses the
second run with a message naming the first. Without ``fcntl`` (Windows), or
on a filesystem that refuses ``flock``, the file alone decides: a lock left by
a dead process on this host is stale, one from another host is respected.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
from pathlib import Path
from typing import IO, Any

from ingest.contract.errors import OutputLocked

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None  # type: ignore[assignment]

#: The lock file's name inside the output folder.
LOCK_NAME = ".ingest.lock"


def _holder() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _read_holder(fh: IO[str]) -> dict[str, Any]:
    fh.seek(0)
    try:
        holder = json.loads(fh.read() or "{}")
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def _alive_here(holder: dict[str, Any]) -> bool:
    """Whether the holder is a live process on this host (unknown hosts count as alive)."""
    if holder.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(holder.get("pid", -1)), 0)
    except (OSError, ValueError, OverflowError):
        return False
    return True


def _refusal(folder: Path, holder: dict[str, Any]) -> OutputLocked:
    who = f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}"
    since = f", started {holder['started']}" if holder.get("started") else ""
    return OutputLocked(
        f"{folder} is in use by another ingest run ({who}{since}; lock file {folder / LOCK_NAME}); "
        "wait for it to finish or choose another output folder"
    )


class OutputLock:
    """The lock of one output folder, held from :meth:`acquire` to :meth:`release`."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fh: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._fh is not None

    def acquire(self) -> None:
        """Take the lock or raise :class:`~ingest.contract.errors.OutputLocked` naming its holder."""
        if self._fh is not None:
            return
        for _attempt in range(10):
            fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
            try:
                locked = False
                if fcntl is not None:
                    try:
                        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                        locked = True
                    except BlockingIOError:
                        raise _refusal(self.folder, _read_holder(fh)) from None
                    except OSError:  # a filesystem without flock (some network mounts)
                        pass
                if locked:
                    # A holder that was releasing may have unlinked the file we
                    # opened: then lock the new one instead.
                    try:
                        same = os.path.samestat(os.fstat(fh.fileno()), os.stat(self.path))
                    except FileNotFoundError:
                        same = False
                    if not same:
                        fh.close()
                        continue
                else:  # the file alone decides: a holder alive on this host (or elsewhere) refuses
                    holder = _read_holder(fh)
                    if holder and _alive_here(holder):
                        raise _refusal(self.folder, holder)
                fh.seek(0)
                fh.truncate()
                fh.write(json.dumps(_holder()) + "\n")
                fh.flush()
            except BaseException:
                fh.close()
                raise
            self._fh = fh
            return
        raise OutputLocked(f"{self.folder}: could not take the lock {self.path} (it keeps being replaced)")

    def release(self) -> None:
        """Give the lock up and remove the file (idempotent)."""
        fh, self._fh = self._fh, None
        if fh is None:
            return
        # Unlink while still holding the flock: a run waiting on this inode
        # sees it replaced (acquire checks) and locks the next file instead.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        fh.close()

    def __del__(self) -> None:  # a sink dropped without close/abort
        with contextlib.suppress(Exception):
            if self._fh is not None:
                self._fh.close()
