"""report.html collected in a helper process from the records a sink writes.

Collecting the page's figures costs ~20 us per record (rules counted, samples
kept), the largest part of a JSON-lines sink's per-record work; after a corpus
stage the sink runs on one core while the others idle. :class:`ReportFeed`
holds the first records; a run that ends before :data:`START_AFTER` of them
feeds them to a :class:`~ingest.report.report_html.ReportBuilder` in-process (a small
run never pays for a process). A larger one starts a helper (``python -m
ingest.report.report_feed``) and hands it, in batches, every record as a JSON line of
the fields the page reads (:data:`PAGE_FIELDS`: not the text, which is most of
a record and which the helper would parse for nothing); the helper parses them,
feeds its builder and, when the run ends, writes the page.
A kept record may also come as that line already (:meth:`ReportFeed.add_kept_line`,
made by :func:`kept_page_line`): the jsonl sink makes it in the worker
processes along with the record's own line, so the one process every
document passes through does not encode it.
The batches go down the pipe from a writer thread with a few batches of slack,
so the sink never waits for the helper to start or to finish a batch (sending
inline, it waited ~0.5 s per 10,000 records after a dedup stage).
(The builder itself is not handed over: it holds ``hash()`` values, which
differ between processes.) The page is the one an in-process builder
would make: the collector does not depend on record order, and JSON lines
carry the values the files hold.

If the helper cannot start, or fails, :meth:`ReportFeed.write` says so and the
sink builds the page from the files instead.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from ingest.engine.jsonutil import record_line
from ingest.report.report_html import ReportBuilder

log = logging.getLogger(__name__)

#: records collected in-process before the helper starts (small runs never start it)
START_AFTER = 2000
#: bytes of lines sent to the helper at once
BATCH_BYTES = 1 << 20
#: batches waiting for the writer thread before the sink waits for the helper
QUEUED_BATCHES = 16

_HEADER = struct.Struct("<cQ")  # message kind, payload length
_KEPT, _DROPPED, _WRITE = b"K", b"D", b"W"

#: the fields of a kept and of a dropped record that the page reads (``report_html._Collector``)
PAGE_FIELDS = {
    _KEPT: ("id", "history"),
    _DROPPED: ("id", "stage", "reason", "duplicate_of", "details", "history"),
}


def _page_line(kind: bytes, record: dict[str, Any]) -> bytes:
    """What the helper gets of a record: the fields the page reads, as a JSON line."""
    return record_line({key: record[key] for key in PAGE_FIELDS[kind] if key in record})


def _as_page_line(kind: bytes, item: dict[str, Any] | bytes) -> bytes:
    """A record, or a page line made already (:func:`kept_page_line`), as a page line."""
    return item if type(item) is bytes else _page_line(kind, item)  # type: ignore[arg-type]


def kept_page_line(record: dict[str, Any]) -> bytes:
    """What :meth:`ReportFeed.add_kept_line` takes for a kept record: a sink that
    encodes its records in the worker processes makes this line there too."""
    return _page_line(_KEPT, record)


class ReportFeed:
    """Feeds report.html's collector, moving it to a helper process once the run is large."""

    def __init__(
        self, builder: ReportBuilder, *, start_after: int | None = None, batch_bytes: int | None = None
    ) -> None:
        self.builder: ReportBuilder | None = builder
        self.samples_per_rule = builder.samples_per_rule
        self.start_after = START_AFTER if start_after is None else start_after
        self.batch_bytes = BATCH_BYTES if batch_bytes is None else batch_bytes
        self.failed = ""  # why the page cannot come from here ("" while it can)
        self._held: list[tuple[bytes, dict[str, Any] | bytes]] = []  # records or page lines
        self._proc: subprocess.Popen[bytes] | None = None
        self._batches: dict[bytes, list[bytes]] = {_KEPT: [], _DROPPED: []}
        self._batched = 0
        # batches on their way to the helper: (kind, payload), None to stop the writer
        self._queue: queue.Queue[tuple[bytes, bytes] | None] = queue.Queue(maxsize=QUEUED_BATCHES)
        self._writer: threading.Thread | None = None
        self._writer_error = ""  # set by the writer thread when the pipe broke

    def add_kept(self, record: dict[str, Any]) -> None:
        """One record of ``documents.jsonl`` (the dict the sink wrote)."""
        self._add(_KEPT, record)

    def add_kept_line(self, line: bytes) -> None:
        """One record of ``documents.jsonl`` as :func:`kept_page_line` encoded it."""
        self._add(_KEPT, line)

    def add_dropped(self, record: dict[str, Any]) -> None:
        """One record of ``dropped.jsonl`` (the dict the sink wrote)."""
        self._add(_DROPPED, record)

    def _add(self, kind: bytes, record: dict[str, Any] | bytes) -> None:
        if self.failed:
            return
        if self._proc is None and self.start_after >= 0:
            self._held.append((kind, record))
            if len(self._held) >= self.start_after:
                self._start()
            return
        if self._proc is None:  # no helper could be started: collect here
            self._collect(kind, record)
            return
        line = _as_page_line(kind, record)
        self._batches[kind].append(line)
        self._batched += len(line)
        if self._batched >= self.batch_bytes:
            self._flush()

    def _collect(self, kind: bytes, record: dict[str, Any] | bytes) -> None:
        assert self.builder is not None
        try:
            parsed: dict[str, Any] = json.loads(record) if type(record) is bytes else record  # type: ignore[assignment]
            (self.builder.add_kept if kind == _KEPT else self.builder.add_dropped)(parsed)
        except Exception as exc:  # noqa: BLE001 - the page is a view; the files are the output
            self._fail(f"collecting: {exc}")

    def _collect_held(self) -> None:
        held, self._held = self._held, []
        for kind, record in held:
            if not self.failed:
                self._collect(kind, record)

    def _start(self) -> None:
        """Start the helper and hand it the held records (on failure: collect in-process)."""
        self.start_after = -1  # one try
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        try:
            proc = subprocess.Popen(
                # with this pid, so that it ends with this process (see ingest.engine.lifeline)
                [
                    sys.executable,
                    "-m",
                    "ingest.report.report_feed",
                    str(self.samples_per_rule),
                    str(os.getpid()),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
        except OSError as exc:
            log.debug("report.html is collected in-process: %s", exc)
            self._collect_held()
            return
        self._proc = proc
        self.builder = None
        self._writer = threading.Thread(target=self._write_queued, name="ingest-report-feed", daemon=True)
        self._writer.start()
        held, self._held = self._held, []
        for kind, record in held:
            line = _as_page_line(kind, record)
            self._batches[kind].append(line)
            self._batched += len(line)
        self._flush()

    def _flush(self) -> None:
        if self._writer_error:
            self._fail(self._writer_error)
        for kind, lines in self._batches.items():
            if lines and not self.failed:
                self._queue.put((kind, b"".join(lines)))
            lines.clear()
        self._batched = 0

    def _write_queued(self) -> None:
        """The writer thread: queued batches down the pipe, until ``None``."""
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._writer_error:
                continue  # the pipe is broken: drain, so that the sink never blocks on a full queue
            try:
                self._write_message(*item)
            except (OSError, ValueError) as exc:  # the helper died (it reported why on stderr)
                self._writer_error = f"the helper stopped: {exc}"

    def _write_message(self, kind: bytes, payload: bytes) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise ValueError("the helper is gone")
        proc.stdin.write(_HEADER.pack(kind, len(payload)))
        proc.stdin.write(payload)

    def _stop_writer(self) -> None:
        """Wait until every queued batch is in the pipe (or the pipe broke)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            self._queue.put(None)
            writer.join()

    def _fail(self, why: str) -> None:
        self.failed = why
        self.builder = None
        self.close()

    def write(self, path: str | Path, report: dict[str, Any]) -> bool:
        """Write the page to ``path``; False (with :attr:`failed` saying why) if it must
        be built from the files instead."""
        if self.failed:
            return False
        if self._proc is None:
            self._collect_held()
            if self.failed:
                return False
            assert self.builder is not None
            self.builder.write(path, report)
            return True
        self._flush()
        self._stop_writer()
        if self._writer_error and not self.failed:
            self._fail(self._writer_error)
        proc = self._proc
        if self.failed or proc is None:
            return False
        try:
            self._write_message(_WRITE, json.dumps([str(path), report], default=str).encode())
        except (OSError, ValueError) as exc:
            self._fail(f"the helper stopped: {exc}")
            return False
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.close()
            out = proc.stdout.read()
        except OSError as exc:
            out = str(exc).encode()
        code = proc.wait()
        self._proc = None
        if code == 0 and out == b"ok":
            return True
        self.failed = (
            self.failed or f"the helper failed (exit {code}): {out.decode('utf-8', 'replace')[-500:]}"
        )
        return False

    def close(self) -> None:
        """Stop the helper, if any, without a page (an aborted run)."""
        proc = self._proc
        if proc is None:
            return
        if self._writer is not None:
            # the queued batches are not wanted: ending the helper breaks the pipe,
            # so the writer thread fails out of a write it may be blocked in, and drains
            proc.kill()
        for stream in (proc.stdin, proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        self._stop_writer()
        self._proc = None
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _read_exact(stream: IO[bytes], n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise EOFError(f"the sink's pipe closed after {len(data)} of {n} bytes")
    return data


def serve(stdin: IO[bytes], stdout: IO[bytes], samples_per_rule: int) -> int:
    """The helper: read the lines from ``stdin``, write the page when asked."""
    try:
        import orjson

        loads: Any = orjson.loads
    except ImportError:
        loads = json.loads
    try:
        return _serve(stdin, stdout, loads, ReportBuilder(samples_per_rule=samples_per_rule))
    except Exception as exc:  # noqa: BLE001 - the sink builds the page from the files instead
        try:
            stdout.write(f"error: {type(exc).__name__}: {exc}".encode("utf-8", "replace"))
            stdout.flush()
        except OSError:
            pass  # the sink went away first (an aborted run)
        return 1


def _serve(stdin: IO[bytes], stdout: IO[bytes], loads: Any, builder: ReportBuilder) -> int:
    while True:
        kind, size = _HEADER.unpack(_read_exact(stdin, _HEADER.size))
        payload = _read_exact(stdin, size)
        if kind == _WRITE:
            path, report = json.loads(payload)
            builder.write(path, report)
            stdout.write(b"ok")
            stdout.flush()
            return 0
        add = builder.add_kept if kind == _KEPT else builder.add_dropped
        for line in payload.split(b"\n"):
            if line:
                add(loads(line))


if __name__ == "__main__":  # python -m ingest.report.report_feed SAMPLES PARENT_PID: started by ReportFeed
    from ingest.engine.lifeline import bind_to_parent

    # Ctrl-C and SIGTERM are the parent's to handle (it kills this process on an aborted run); and this
    # process ends with it: its standard input may stay open in another child (a worker forked later)
    bind_to_parent(int(sys.argv[2]), ignore_sigterm=True)
    code = serve(sys.stdin.buffer, sys.stdout.buffer, int(sys.argv[1]))
    os._exit(code)  # no flush of a pipe the sink may have closed already
