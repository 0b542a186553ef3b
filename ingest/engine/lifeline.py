"""Child processes that end when the process that started them dies.

A run's worker processes (:mod:`ingest.engine.fork_pool`), the dedup stage's hashing
pool, the local executor's pool and the process that collects report.html
(:mod:`ingest.report.report_feed`) all inherit the run's standard output and error.
Were they to outlive a killed run, a script reading ``ingest run``'s output
through a pipe would wait for them for good; and a worker that is busy in a
stage, or whose task pipe another child still holds open, never sees the end
of its input. So each child calls :func:`bind_to_parent` as it starts:

* on Linux the kernel sends it SIGKILL when its parent dies
  (``prctl(PR_SET_PDEATHSIG)``; strictly, when the parent's thread that
  started it ends: children are started by the thread that runs the
  pipeline, which waits for them); elsewhere a daemon thread checks the
  parent pid every :data:`POLL_SECONDS` and exits when it changes;
* the child compares its parent's pid with the pid the parent handed it,
  which closes the gap of a parent that died before the watch above began;
* SIGINT is ignored: Ctrl-C reaches every process of the terminal's group,
  and it is the parent's to handle (it stops its children itself). SIGTERM
  is ignored too by children that their parent stops with SIGKILL (the fork
  pool's workers, the report.html collector), so that ``kill`` of a whole
  process group is handled like Ctrl-C; a ``ProcessPoolExecutor`` stops the
  processes of a broken pool with SIGTERM, so its processes get the default
  action back instead (not the handler of the CLI, which they inherit).

A pool's processes must also end when the run stops: :func:`stop_pool` makes sure
they do, even when Ctrl-C or SIGTERM interrupted the pool while it started them.
"""

from __future__ import annotations

import concurrent.futures
import functools
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

#: how often a child checks that its parent is alive where the kernel cannot tell it
POLL_SECONDS = 0.5
#: ``prctl`` option: the signal this process gets when its parent dies (linux/prctl.h)
_PR_SET_PDEATHSIG = 1
#: exit code of a child whose parent died (nobody waits for it; the number shows in traces)
ORPHANED = 128 + signal.SIGKILL


def _kernel_watch() -> bool:
    """Ask the kernel for SIGKILL when the parent dies; False where it cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):  # no libc handle, or no prctl in it
        return False


def _poll_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(POLL_SECONDS)
    os._exit(ORPHANED)


def bind_to_parent(parent_pid: int | None = None, *, ignore_sigterm: bool = False) -> None:
    """Make this process end when its parent dies, and leave Ctrl-C to the parent.

    Call it first thing in a child process. ``parent_pid`` is the pid of the
    process that started this one, read there before the start: if this
    process's parent is already another one, the parent has died and this
    process exits at once. ``None`` (a child started by an intermediary, such
    as a multiprocessing fork server) takes the current parent as it is.
    ``ignore_sigterm`` for a child that its parent stops with SIGKILL; else
    SIGTERM gets its default action (ends the process).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN if ignore_sigterm else signal.SIG_DFL)
    expected = os.getppid() if parent_pid is None else parent_pid
    if not _kernel_watch():
        threading.Thread(target=_poll_parent, args=(expected,), name="ingest-parent", daemon=True).start()
    if os.getppid() != expected:  # the parent died before the watch began
        os._exit(ORPHANED)


def pool_initializer(context: Any) -> Callable[[], None]:
    """An ``initializer`` for a ``ProcessPoolExecutor`` of multiprocessing ``context``,
    to be made in the process that owns the pool: its processes call
    :func:`bind_to_parent` with this process's pid (or, started by a fork
    server, with the server as their parent)."""
    direct = context.get_start_method() != "forkserver"
    return functools.partial(bind_to_parent, os.getpid() if direct else None)


def stop_pool(pool: concurrent.futures.ProcessPoolExecutor, *, cancel: bool, wait: bool = True) -> None:
    """Stop ``pool`` and return when its processes are gone.

    ``cancel``: the calls not started yet are cancelled. ``wait``: the calls
    under way finish first; without it the processes are ended at once
    (SIGTERM, whose default action :func:`bind_to_parent` gave them back).
    Either way a process the pool itself no longer stops is killed: Ctrl-C or
    SIGTERM raised inside ``submit`` after the pool forked its processes but
    before it started the thread that stops them leaves processes that
    ``shutdown`` returns without ending, and the interpreter's exit would wait
    for them for good.
    """
    # the pool's own table (CPython's, read defensively): shutdown() forgets it
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=wait, cancel_futures=cancel)
    for process in processes:
        if not wait:
            process.terminate()
        elif process.is_alive():  # shutdown() has returned: nothing else will stop it
            process.kill()
    for process in processes:
        process.join()


def end_children(spare: Collection[Any] = ()) -> int:
    """Kill the ``multiprocessing`` children of this process still running but
    those in ``spare`` (``active_children()`` before the run), wait for them,
    and say how many there were.

    For the end of an interrupted run, after its stages stopped their own
    processes: one that a stage lost track of (Ctrl-C raised between a fork and
    the line that records the child) would otherwise keep the interpreter's
    exit waiting for good.
    """
    left = [process for process in multiprocessing.active_children() if process not in spare]
    for process in left:
        process.kill()
    for process in left:
        process.join()
    return len(left)
