"""Forked worker processes fed through pipes by the calling thread alone.

:func:`ingest.engine.parallel.run_segment` keeps a few batches per worker in flight
and takes their results back in order. ``multiprocessing.Pool`` does that
with three helper threads in the parent (one pickles and sends tasks, one
receives and unpickles results, one watches the workers), which compete for
the GIL with the thread that reads the source and writes the sink: on 10,000
pages they took ~0.8 s of the parent's ~2.3 s of CPU. Here the parent's one
thread does it all: each worker has a task pipe and a result pipe, the
parent writes tasks without blocking and reads whatever results are ready
while it waits for the one it needs (a selector over all the pipes), so a
worker that is writing a large result never waits on a parent that is
writing it a large task.

Messages are length-prefixed pickles: ``(function arguments)`` down,
``("ok", result)`` or ``("error", "Type: message")`` up. A worker runs its
tasks in the order it gets them, so its results come back in that order.

A worker ends with the parent: it asks for SIGKILL when the parent dies
(:func:`ingest.engine.lifeline.bind_to_parent`), since neither a worker busy in a
stage nor one whose task pipe a later child (a dedup hashing process) holds
open would notice, and it holds the run's standard output.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import multiprocessing
import os
import pickle
import selectors
import struct
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from ingest.contract.errors import RunError, error_text
from ingest.engine.gc_tuning import paused, tune_for_documents
from ingest.engine.lifeline import bind_to_parent

_LENGTH = struct.Struct("<Q")
#: pipe buffer asked for (Linux): a batch of pages fits, so a write rarely waits
PIPE_BYTES = 1 << 20
#: how long a worker told to stop may take before it is killed
STOP_SECONDS = 10.0


def _widen(fd: int) -> None:
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or above the system's limit
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def _read_exact(fd: int, n: int) -> bytes | None:
    """``n`` bytes from ``fd``; None at end of file before the first byte."""
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, n - got)
        if not chunk:
            if got == 0:
                return None
            raise EOFError(f"the pipe closed after {got} of {n} bytes")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _serve(
    start: Callable[[], Any],
    run: Callable[..., Any],
    task_fd: int,
    result_fd: int,
    foreign_fds: Sequence[int],
    parent_pid: int,
) -> None:
    """A worker's loop: ``state = start()`` once, then ``run(state, *args)`` per task."""
    # Ctrl-C and SIGTERM are the parent's: it stops the workers (with SIGKILL)
    bind_to_parent(parent_pid, ignore_sigterm=True)
    try:
        _serve_tasks(start, run, task_fd, result_fd, foreign_fds)
    except (BrokenPipeError, EOFError):  # the parent is gone mid-message: nobody wants the rest
        pass


def _serve_tasks(
    start: Callable[[], Any],
    run: Callable[..., Any],
    task_fd: int,
    result_fd: int,
    foreign_fds: Sequence[int],
) -> None:
    for fd in foreign_fds:  # the parent's ends and the other workers' pipes
        os.close(fd)
    state: Any = None
    failed = ""
    try:
        state = start()
    except Exception as exc:  # noqa: BLE001 - reported with every task
        failed = f"the worker could not start its stages: {error_text(exc)}"
    tune_for_documents()  # the worker is ours, and all it does from here is churn through documents
    while True:
        header = _read_exact(task_fd, _LENGTH.size)
        if header is None:  # the parent is gone
            return
        (size,) = _LENGTH.unpack(header)
        if size == 0:  # the parent's stop message (end of file alone is not enough: a process
            return  # forked later, such as a dedup hashing helper, holds the pipe open too)
        payload = _read_exact(task_fd, size)
        if payload is None:  # the parent is gone
            return
        try:
            if failed:
                raise RuntimeError(failed)
            reply: tuple[str, Any] = ("ok", run(state, *pickle.loads(payload)))
            data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - the parent raises it as a RunError
            data = pickle.dumps(("error", error_text(exc)), protocol=pickle.HIGHEST_PROTOCOL)
        _write_all(result_fd, _LENGTH.pack(len(data)) + data)


class _Worker:
    def __init__(self, process: Any, task_fd: int, result_fd: int) -> None:
        self.process = process
        self.task_fd = task_fd
        self.result_fd = result_fd
        self.outgoing: collections.deque[memoryview] = collections.deque()  # task bytes not yet written
        self.incoming = bytearray()  # result bytes not yet parsed
        self.waiting: collections.deque[int] = collections.deque()  # tickets of its tasks, in order


class ForkWorkers:
    """``workers`` forked processes, each running ``start()`` once and then
    ``run(state, *args)`` for every :meth:`submit`; use as a context manager."""

    def __init__(self, workers: int, start: Callable[[], Any], run: Callable[..., Any]) -> None:
        context = multiprocessing.get_context("fork")
        self._selector = selectors.DefaultSelector()
        self._workers: list[_Worker] = []
        self._results: dict[int, tuple[str, Any]] = {}
        self._next_ticket = 0
        parent_pid = os.getpid()
        pipes = [(os.pipe(), os.pipe()) for _ in range(workers)]
        parent_ends = [fd for (_, task_w), (result_r, _) in pipes for fd in (task_w, result_r)]
        try:
            for index, ((task_r, task_w), (result_r, result_w)) in enumerate(pipes):
                # the child keeps its own task read end and result write end only
                foreign = parent_ends + [
                    fd for j, ((tr, _), (_, rw)) in enumerate(pipes) if j != index for fd in (tr, rw)
                ]
                process = context.Process(
                    target=_serve,
                    args=(start, run, task_r, result_w, foreign, parent_pid),
                    name=f"ingest-worker-{index}",
                    daemon=True,
                )
                process.start()
                self._workers.append(_Worker(process, task_w, result_r))
        except BaseException:  # a fork failed: nothing is left running or open
            for worker in self._workers:
                worker.process.kill()
                worker.process.join()
            for fd in parent_ends:
                os.close(fd)
            raise
        finally:
            for (task_r, _), (_, result_w) in pipes:
                os.close(task_r)
                os.close(result_w)
        for worker in self._workers:
            _widen(worker.task_fd)
            _widen(worker.result_fd)
            os.set_blocking(worker.task_fd, False)
            self._selector.register(worker.result_fd, selectors.EVENT_READ, worker)

    def submit(self, *args: Any) -> int:
        """Queue ``run(state, *args)`` on the least busy worker; returns a ticket for :meth:`result`."""
        ticket = self._next_ticket
        self._next_ticket += 1
        worker = min(self._workers, key=lambda w: len(w.waiting))
        data = pickle.dumps(args, protocol=pickle.HIGHEST_PROTOCOL)
        worker.outgoing.append(memoryview(_LENGTH.pack(len(data)) + data))
        worker.waiting.append(ticket)
        self._send(worker)
        return ticket

    def result(self, ticket: int) -> Any:
        """Wait for a ticket's result, sending and receiving whatever is ready meanwhile."""
        while ticket not in self._results:
            self._pump()
        status, value = self._results.pop(ticket)
        if status != "ok":
            raise RunError(f"a worker process failed: {value}")
        return value

    def _send(self, worker: _Worker) -> None:
        """Write as much of the worker's queued task bytes as its pipe takes now."""
        while worker.outgoing:
            view = worker.outgoing[0]
            try:
                written = os.write(worker.task_fd, view)
            except BlockingIOError:
                return
            except BrokenPipeError as exc:
                raise RunError(f"a worker process failed: it exited ({self._exit_text(worker)})") from exc
            if written == len(view):
                worker.outgoing.popleft()
            else:
                worker.outgoing[0] = view[written:]

    def _pump(self) -> None:
        """Wait until a result pipe has bytes or a task pipe with bytes pending takes more."""
        if not any(w.outgoing for w in self._workers):
            for key, _ in self._selector.select():
                self._receive(key.data)
            return
        with selectors.DefaultSelector() as both:
            for w in self._workers:
                both.register(w.result_fd, selectors.EVENT_READ, (w, False))
                if w.outgoing:
                    both.register(w.task_fd, selectors.EVENT_WRITE, (w, True))
            for key, _ in both.select():
                worker, writable = key.data
                if writable:
                    self._send(worker)
                else:
                    self._receive(worker)

    def _receive(self, worker: _Worker) -> None:
        chunk = os.read(worker.result_fd, PIPE_BYTES)
        if not chunk:
            raise RunError(f"a worker process failed: it exited ({self._exit_text(worker)})")
        buffer = worker.incoming
        buffer += chunk
        while len(buffer) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(buffer)
            end = _LENGTH.size + size
            if len(buffer) < end:
                break
            with paused():  # a batch of documents is thousands of new objects, none of them garbage
                reply = pickle.loads(memoryview(buffer)[_LENGTH.size : end])
            del buffer[:end]
            self._results[worker.waiting.popleft()] = reply

    @staticmethod
    def _exit_text(worker: _Worker) -> str:
        worker.process.join(timeout=1)
        code = worker.process.exitcode
        if code is None:
            return "still running"
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"

    def close(self, *, wait: bool = True) -> None:
        """Stop the workers: let them finish (``wait``, when no result is
        outstanding: a worker may be blocked writing one) or end them at once (SIGKILL)."""
        wait = wait and not any(w.waiting for w in self._workers)
        self._selector.close()
        for worker in self._workers:
            if wait:
                with contextlib.suppress(OSError):
                    os.set_blocking(worker.task_fd, True)
                    _write_all(worker.task_fd, _LENGTH.pack(0))  # stop
            else:
                worker.process.kill()  # it ignores SIGTERM (the parent's to handle), and has nothing to save
            with contextlib.suppress(OSError):
                os.close(worker.task_fd)
        for worker in self._workers:
            worker.process.join(timeout=STOP_SECONDS)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            with contextlib.suppress(OSError):
                os.close(worker.result_fd)

    def __enter__(self) -> ForkWorkers:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close(wait=exc_type is None)
