"""Built-in sink ``jsonl``: the run's output folder.

Writes three kinds of file into ``path``:

* ``documents.jsonl``: one object per kept document: ``id``, ``text``,
  ``metadata``, ``path`` and (``include_history``) ``history``, the record of
  what each stage did, removed lines and their rules included;
* ``dropped.jsonl``: one object per dropped document: ``id``, ``stage``,
  ``reason``, ``duplicate_of`` for duplicates, ``details``, ``plugin``,
  ``path`` and (``include_dropped_text``) ``text``;
* ``report.json``: the run report (counts per stage and reason, timings).

With ``compression`` the JSONL files are compressed and get the suffix
(``documents.jsonl.gz``). With ``shard_bytes`` each JSONL file is split into
shards of about that many (uncompressed) bytes: ``documents-00000.jsonl.gz``,
``documents-00001.jsonl.gz``, ...

In a sharded run (see :mod:`ingest.engine.shards`) each shard's task writes its
own ``documents.jsonl`` and ``dropped.jsonl`` into ``.ingest-shards/NNNNN/`` in
the output folder (:class:`JsonlShardWriter`), and :meth:`JsonlSink.close` moves
them into place as ``documents-NNNNN.jsonl`` and ``dropped-NNNNN.jsonl``
(``shard_bytes`` does not apply; a shard with no record of a kind writes no file
of it).

Each file is written under a hidden ``.*.partial`` name and renamed into
place only when the run completes, report last, so a crash never leaves a
file that looks complete.

The sink takes part in checkpoints (:mod:`ingest.engine.checkpoint`): in a
checkpointed run its partial files have fixed names (``.documents.jsonl.partial``),
:meth:`JsonlSink.checkpoint` syncs them (ending the compressed member) and
records their offsets, and :meth:`JsonlSink.resume` reopens them there.

``path`` may be a URL (``s3://bucket/out``): the files are written into a
local staging folder and uploaded when the run completes, report last (see
:class:`~ingest_plugins.outputs.RemoteOutputFolder`). Such a sink takes no
part in checkpoints: an interrupted run starts over.
"""

from __future__ import annotations

import collections
import contextlib
import io
import logging
import multiprocessing
import os
import pickle
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import attrs

from ingest import Document, DropRecord, StageContext, StageKind, StageSpec, hookimpl, path_field
from ingest.contract.errors import UnwritableDocument, error_text
from ingest.engine.checkpoint import CheckpointError
from ingest.engine.jsonutil import ENCODING_ERRORS, document_record, drop_record, json_safe, record_line
from ingest.engine.shards import SHARDS_FOLDER
from ingest.report.report_feed import ReportFeed, kept_page_line
from ingest.report.report_html import HTML_NAME, ReportBuilder, write_html_report
from ingest_plugins import io_util
from ingest_plugins.outputs import Outputs, RemoteOutputFolder, open_outputs, output_folder
from ingest_plugins.text_files import STORAGE_OPTIONS_HELP

log = logging.getLogger(__name__)

#: Bytes buffered before a block goes to the compressor.
WRITE_BUFFER_BYTES = 1 << 20


@attrs.define
class JsonlSinkOptions:
    """Options of the ``jsonl`` sink."""

    path: str = path_field(
        "out",
        validator=output_folder,
        metadata={
            "help": "output folder (created if missing); a URL (s3://bucket/out) is written through fsspec"
        },
    )
    documents: str = attrs.field(default="documents.jsonl", metadata={"help": "file name for kept documents"})
    dropped: str = attrs.field(default="dropped.jsonl", metadata={"help": "file name for dropped documents"})
    report: str = attrs.field(default="report.json", metadata={"help": "file name for the run report"})
    include_history: bool = attrs.field(
        default=True, metadata={"help": "write each document's stage history"}
    )
    include_dropped_text: bool = attrs.field(
        default=True, metadata={"help": "write the text of dropped documents"}
    )
    compression: io_util.Compression = attrs.field(
        default="none",
        metadata={
            "help": 'compress the JSONL files: "none", "gzip", "bz2", "xz" or "zstd" (adds .gz/.bz2/.xz/.zst)'
        },
    )
    shard_bytes: int = attrs.field(
        default=0,
        validator=attrs.validators.ge(0),
        metadata={
            "help": "start a new file (documents-00000.jsonl, -00001, ...) after about this many "
            "uncompressed bytes; 0 = one file"
        },
    )
    storage_options: dict[str, Any] = attrs.field(factory=dict, metadata={"help": STORAGE_OPTIONS_HELP})

    def __attrs_post_init__(self) -> None:
        io_util.check_compression_available(self.compression)
        for key in ("documents", "dropped"):
            named = io_util.compression_of(getattr(self, key))
            if named is not None and named != self.compression:
                raise ValueError(
                    f"{key}: the name {getattr(self, key)!r} ends in a {named} suffix but compression "
                    f"is {self.compression!r}; set compression = {named!r} or drop the suffix"
                )


def _split_name(name: str, compression: str) -> tuple[str, str]:
    """``("documents", ".jsonl.gz")`` for ``documents.jsonl`` and gzip."""
    base = io_util.strip_compression(name)
    stem, dot, ext = base.rpartition(".")
    if not dot or not stem:
        stem, ext = base, ""
    else:
        ext = "." + ext
    return stem, ext + (io_util.SUFFIX_OF.get(compression, "") if compression != "none" else "")


class LineWriter:
    """Writes lines to one file, or to numbered shards of bounded size, all
    under temporary names reserved in an :class:`OutputFolder`.

    The compressor of a file is opened at its first line. For checkpoints
    (:meth:`checkpoint`) a compressed file is cut into members (gzip
    members, bz2/xz streams, zstd frames: every reader reads them as one
    stream); a file reopened by :meth:`resume` goes on with a new member at
    the recorded offset, exactly where an uninterrupted run starts one.
    """

    def __init__(self, outputs: Outputs, name: str, compression: str, shard_bytes: int) -> None:
        self.outputs = outputs
        self.compression = compression
        self.shard_bytes = shard_bytes
        self.stem, self.suffix = _split_name(name, compression)
        self.names: list[str] = []
        self.tmps: list[str] = []
        self.raw: IO[bytes] | None = None
        self.stream: IO[bytes] | None = None
        self.size = 0
        #: fixed temporary names (a checkpointed run), see :meth:`resume`
        self.fixed = False
        #: shards closed since the last checkpoint, to sync at the next one
        self.unsynced: list[str] = []
        self._open_next()

    def _name(self, index: int) -> str:
        if not self.shard_bytes:
            return self.stem + self.suffix
        return f"{self.stem}-{index:05d}{self.suffix}"

    def _open_next(self) -> None:
        self._close_current()
        name = self._name(len(self.names))
        tmp = self.outputs.reserve(name, fixed=self.fixed)
        self.names.append(name)
        self.tmps.append(tmp)
        self.raw = open(tmp, "wb")  # noqa: SIM115 - closed in _close_current
        self.stream = None
        self.size = 0

    def _open_stream(self) -> IO[bytes]:
        assert self.raw is not None
        stream = io_util.open_compressed_writer(self.raw, self.compression)
        if stream is not self.raw:
            # Compressors pay per write call; hand them big blocks, not lines.
            stream = io.BufferedWriter(stream, buffer_size=WRITE_BUFFER_BYTES)  # type: ignore[arg-type]
        self.stream = stream
        return stream

    def _end_member(self) -> None:
        """Finish the compressed stream written so far (raw stays open)."""
        stream, self.stream = self.stream, None
        if stream is not None and stream is not self.raw:
            stream.close()

    def _close_current(self) -> None:
        raw = self.raw
        try:
            if raw is not None and self.compression != "none" and self.stream is None and raw.tell() == 0:
                self._open_stream()  # an empty file is still a valid compressed file
            self._end_member()
        finally:
            self.stream = self.raw = None
            if raw is not None:
                raw.close()
                if self.tmps:
                    self.unsynced.append(self.tmps[-1])

    def write(self, data: bytes) -> None:
        """Append one encoded line (newline included)."""
        # A new shard before a line that would overflow a non-empty one; a
        # line larger than shard_bytes gets a shard of its own.
        if self.shard_bytes and self.size and self.size + len(data) > self.shard_bytes:
            self._open_next()
        stream = self.stream if self.stream is not None else self._open_stream()
        stream.write(data)
        self.size += len(data)

    def close(self) -> None:
        self._close_current()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._close_current()

    # -- checkpoints -----------------------------------------------------------

    def checkpoint(self) -> dict[str, Any]:
        """Make every line written so far durable (ending the compressed
        member) and return where the current file stands."""
        assert self.raw is not None
        if self.compression != "none":
            self._end_member()
        self.raw.flush()
        os.fsync(self.raw.fileno())
        for tmp in self.unsynced:
            with contextlib.suppress(FileNotFoundError), open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        self.unsynced.clear()
        return {"names": list(self.names), "offset": self.raw.tell(), "size": self.size}

    def resume(self, state: dict[str, Any] | None) -> None:
        """Switch to fixed temporary names: start them afresh (``None``), or
        reopen them where :meth:`checkpoint` left them."""
        if state is not None:
            names = list(state["names"])
            if not names or names[0] != self._name(0):
                raise CheckpointError(
                    f"the checkpoint names other files ({names[:1]}) than {self._name(0)!r}"
                )
            for name in names:
                if not self.outputs.fixed_partial(name).is_file():
                    raise CheckpointError(f"{self.outputs.fixed_partial(name)} is missing")
            last = self.outputs.fixed_partial(names[-1])
            if last.stat().st_size < state["offset"]:
                raise CheckpointError(f"{last} is shorter than the checkpoint says")
        self._release_all()
        self.fixed = True
        if state is None:
            for path in self._fixed_leftovers(keep=0):
                path.unlink()
            self._open_next()
            return
        for name in state["names"]:
            self.tmps.append(self.outputs.reserve(name, fixed=True))
            self.names.append(name)
        for path in self._fixed_leftovers(keep=len(self.names)):
            path.unlink()  # shards the interrupted run began after its checkpoint
        self.raw = open(self.tmps[-1], "r+b")  # noqa: SIM115 - closed in _close_current
        self.raw.truncate(state["offset"])
        self.raw.seek(state["offset"])
        self.stream = None
        self.size = state["size"]

    def suspend(self) -> None:
        """Close the files and leave them for a resumed run."""
        self.abort()

    def _release_all(self) -> None:
        with contextlib.suppress(Exception):
            self._close_current()
        for tmp in self.tmps:
            self.outputs.release(tmp)
        self.names.clear()
        self.tmps.clear()
        self.unsynced.clear()

    def _fixed_leftovers(self, keep: int) -> list[Path]:
        """Fixed temporary files of this family except the first ``keep`` shards."""
        kept = {self.outputs.fixed_partial(name).name for name in self.names[:keep]}
        family = re.compile(r"\." + self._family().pattern + r"\.partial")
        folder = self.outputs.folder
        return [folder / n for n in os.listdir(folder) if family.fullmatch(n) and n not in kept]

    def _family(self) -> re.Pattern[str]:
        """File names of this family: any shard, layout or compression."""
        return re.compile(
            re.escape(self.stem)
            + r"(-\d{5})?"
            + re.escape(_split_name(self.stem + self.suffix, "none")[1])
            + r"(\.gz|\.bz2|\.xz|\.zst)?"
        )

    @property
    def targets(self) -> list[Path] | list[str]:
        """Where the files end up (URLs for an output folder at a URL)."""
        return [self.outputs.target(name) for name in self.names]  # type: ignore[return-value]

    def stale_files(self) -> list[Path] | list[str]:
        """Files of an earlier run in this family (other shards, the other
        layout, other compressions) that this run did not write."""
        written = set(self.names)
        found = self.outputs.find(self._family())
        return [path for path in found if str(path).rpartition("/")[2] not in written]  # type: ignore[return-value]


def _document_line(doc: Document, options: JsonlSinkOptions) -> dict[str, Any]:
    return document_record(doc, history=options.include_history)


def _dropped_line(record: DropRecord, options: JsonlSinkOptions) -> tuple[dict[str, Any], bytes]:
    """A drop record as written, and its line. The record of a drop is always
    written: what JSON cannot hold is replaced, and the record says so."""
    out = drop_record(record, text=options.include_dropped_text, history=options.include_history)
    try:
        return out, record_line(out)
    except ENCODING_ERRORS as exc:
        out = json_safe(out)
        out.setdefault("details", {})["record_altered"] = f"not encodable as JSON: {error_text(exc)}"
        return out, record_line(out)


@attrs.define
class JsonlShardWriter:
    """The files of one shard of a sharded run (see :mod:`ingest.engine.shards`):
    made by :meth:`JsonlSink.shard_writer` in the coordinator, used in the shard's
    task. Writes ``documents.jsonl`` and ``dropped.jsonl`` (compressed as the
    sink's options say) into the shard's folder, and makes them durable in
    :meth:`close`, before the shard's completion record is written."""

    options: JsonlSinkOptions
    folder: str
    _files: dict[str, tuple[IO[bytes], IO[bytes]]] = attrs.field(factory=dict, init=False, repr=False)
    _lines: collections.Counter[str] = attrs.field(factory=collections.Counter, init=False, repr=False)
    #: what report.html shows of this shard's records (and of those carried in)
    _page: ReportBuilder | None = attrs.field(default=None, init=False, repr=False)

    def names(self) -> dict[str, str]:
        """The file name in the shard's folder of each kind (``documents``, ``dropped``)."""
        compression = self.options.compression
        return {key: "".join(_split_name(getattr(self.options, key), compression)) for key in KINDS}

    def open(self, carry: Sequence[tuple[str, str]] = ()) -> None:
        """Open the files; ``carry`` lists ``(kind, path)`` of files whose bytes
        go first into the file of that kind (the drop records of the shard's
        earlier phases: written by writers of the same options, so compressed
        streams follow one another, which every reader reads as one)."""
        self._page = ReportBuilder()
        for key, name in self.names().items():
            raw = open(os.path.join(self.folder, name), "wb")  # noqa: SIM115 - closed in close/abort
            for kind, path in carry:
                if kind == key:
                    with open(path, "rb") as earlier:
                        shutil.copyfileobj(earlier, raw)
                    self._lines[key] += 1  # a file that is there holds a line at least
                    self._page = _merged(self._page, os.path.join(os.path.dirname(path), PAGE_NAME))
            stream = io_util.open_compressed_writer(raw, self.options.compression)
            if stream is not raw:
                stream = io.BufferedWriter(stream, buffer_size=WRITE_BUFFER_BYTES)  # type: ignore[arg-type]
            self._files[key] = (raw, stream)

    def write(self, doc: Document) -> None:
        record = _document_line(doc, self.options)
        try:
            line = record_line(record)
        except ENCODING_ERRORS as exc:
            raise UnwritableDocument(f"not encodable as JSON: {error_text(exc)}") from exc
        self._files["documents"][1].write(line)
        self._lines["documents"] += 1
        if self._page is not None:
            self._page.add_kept(record)

    def write_dropped(self, record: DropRecord) -> None:
        out, line = _dropped_line(record, self.options)
        self._files["dropped"][1].write(line)
        self._lines["dropped"] += 1
        if self._page is not None:
            self._page.add_dropped(out)

    def close(self) -> dict[str, str]:
        """Finish and sync the files; the names in the shard's folder of those that
        hold a line, by kind. An empty one is deleted: JSON readers (pyarrow,
        DuckDB) refuse an empty file among a dataset's files."""
        names = self.names()
        for raw, stream in self._files.values():
            if stream is not raw:
                stream.close()
            raw.flush()
            os.fsync(raw.fileno())
            raw.close()
        self._files.clear()
        for key in KINDS:
            if not self._lines[key]:
                os.unlink(os.path.join(self.folder, names.pop(key)))
        if self._page is not None:
            with open(os.path.join(self.folder, PAGE_NAME), "wb") as fh:
                pickle.dump(self._page, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return names

    def abort(self) -> None:
        for raw, stream in self._files.values():
            with contextlib.suppress(Exception):
                if stream is not raw:
                    stream.close()
            raw.close()
        self._files.clear()


#: The kinds of record file the sink writes.
KINDS = ("documents", "dropped")
#: In a shard's folder: what report.html shows of the shard's records (a pickled
#: :class:`ReportBuilder`), so the page of a sharded run needs no file read back.
PAGE_NAME = "page.pickle"


#: What reading a shard's saved page may raise when the file is missing or not one.
_UNREADABLE_PAGE = (OSError, pickle.UnpicklingError, EOFError, AttributeError)


def _merged(page: ReportBuilder | None, path: str, *, ids_stay: bool = False) -> ReportBuilder | None:
    """``page`` with the builder saved at ``path`` added; None when either is missing
    (report.html is then read from the files). ``ids_stay``: the ids of its duplicate
    records stay in the file, read back for the few the page shows (the file must
    be there until the page is written)."""
    if page is None:
        return None
    try:
        with open(path, "rb") as fh:
            other = pickle.load(fh)
        page.merge(other, path if ids_stay else None)
    except _UNREADABLE_PAGE:  # AttributeError: saved by another version (the page is then half merged)
        return None
    return page


#: Exit code of the process writing a sharded run's report.html when a shard's page cannot be read.
_PAGE_UNREADABLE = 3


def _write_shards_page(pages: list[str], target: str, report: dict[str, Any]) -> bool:
    """report.html of a sharded run, from what each shard's writer collected (merged in
    shard order); False when a shard's collection cannot be read (the page is then read
    from the files). Merged in a child process where processes can fork: the page's
    record of duplicates grows with the run's, and the ``ingest run`` process's memory
    should not."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return _merge_and_write(pages, target, report)
    process = multiprocessing.get_context("fork").Process(
        target=_page_process, args=(pages, target, report), name="ingest-report-page", daemon=True
    )
    process.start()
    process.join()
    if process.exitcode not in (0, _PAGE_UNREADABLE):
        raise RuntimeError(f"the process writing it ended with exit code {process.exitcode}")
    return process.exitcode == 0


def _page_process(pages: list[str], target: str, report: dict[str, Any]) -> None:
    sys.exit(0 if _merge_and_write(pages, target, report) else _PAGE_UNREADABLE)


def _merge_and_write(pages: list[str], target: str, report: dict[str, Any]) -> bool:
    page = ReportBuilder()
    for path in pages:
        # the ids of the duplicates stay in the shards' files: the page reads back those it lists
        merged = _merged(page, path, ids_stay=True)
        if merged is None:
            return False
        page = merged
    try:
        page.write(Path(target), report)
    except _UNREADABLE_PAGE:  # a shard's file went while the page was made
        return False
    return True


class JsonlSink:
    """Writes kept and dropped documents as JSON lines, atomically."""

    def __init__(self, options: JsonlSinkOptions, ctx: StageContext) -> None:
        self.options = options
        self.outputs = open_outputs(options.path, options.report, options.storage_options)
        try:
            self.outputs.remove(HTML_NAME)  # a page left by an earlier run would describe that run
        except BaseException:
            self.outputs.discard()
            raise
        self.outputs.remove_leftovers(HTML_NAME)
        self.writers: dict[str, LineWriter] = {}
        #: (index, folder, files) of each completed shard of a sharded run, else None
        self._shards: list[tuple[int, str, dict[str, str]]] | None = None
        # report.html is collected from the records as they are written (in a helper
        # process once the run is large), so the files need not be read back
        self._report: ReportFeed | None = ReportFeed(ReportBuilder())
        try:
            for key in ("documents", "dropped"):
                self.writers[key] = LineWriter(
                    self.outputs, getattr(options, key), options.compression, options.shard_bytes
                )
        except BaseException:
            self.abort()
            raise

    def write(self, doc: Document) -> None:
        self.write_prepared(doc.id, self.prepare(doc))

    def prepare(self, doc: Document) -> tuple[bytes, bytes]:
        """The document's line and its report.html line. Reads only the options:
        with worker processes it runs in them (see :class:`~ingest.contract.specs.Sink`)."""
        record = _document_line(doc, self.options)
        try:
            return record_line(record), kept_page_line(record)
        except ENCODING_ERRORS as exc:
            raise UnwritableDocument(f"not encodable as JSON: {error_text(exc)}") from exc

    def write_prepared(self, doc_id: str, prepared: tuple[bytes, bytes]) -> None:
        line, page_line = prepared
        self.writers["documents"].write(line)
        if self._report is not None:
            self._report.add_kept_line(page_line)

    def write_dropped(self, record: DropRecord) -> None:
        out, line = _dropped_line(record, self.options)
        self.writers["dropped"].write(line)
        if self._report is not None:
            self._report.add_dropped(out)

    # -- sharded runs (see ingest.engine.shards) -----------------------------------

    @property
    def shards_dir(self) -> Path:
        """Where the shards of a sharded run work: a hidden folder in the output
        folder (in the local staging folder, for an output folder at a URL)."""
        return self.outputs.folder / SHARDS_FOLDER

    def shard_writer(self, index: int, folder: str) -> JsonlShardWriter:
        """The writer of shard ``index``'s files, to be used in its task, in ``folder``."""
        return JsonlShardWriter(self.options, folder)

    def begin_shards(self) -> None:
        """The run is sharded: kept documents go to the shards' files only. A
        drop recorded here (none is, as the built-in sources stand) still has a
        file to go to: ``dropped.jsonl``, published only if it holds one."""
        self._shards = []
        self._close_report()  # report.html reads the files instead

    def add_shard(self, index: int, folder: str, files: dict[str, str]) -> None:
        """Shard ``index`` is complete, its files in ``folder``: they become
        ``documents-NNNNN.jsonl`` and ``dropped-NNNNN.jsonl`` when the run completes."""
        self._shards.append((index, folder, files))

    def _commit_shards(self) -> tuple[dict[str, Any], list[Path] | list[str]]:
        """Reserve each shard file for its final name; the outputs, and the files of
        an earlier run of the same families that this one does not write."""
        outputs: dict[str, Any] = {}
        written: set[str] = set()
        for key in KINDS:
            stem, suffix = _split_name(getattr(self.options, key), self.options.compression)
            names = []
            for index, folder, files in sorted(self._shards, key=lambda shard: shard[0]):
                if key not in files:
                    continue  # none of this kind in the shard: no file
                name = f"{stem}-{index:05d}{suffix}"
                self.outputs.adopt(os.path.join(folder, files[key]), name)
                names.append(name)
            writer = self.writers[key]
            if writer.size == 0 and len(writer.names) == 1:
                self.outputs.release(writer.tmps[0])  # nothing was recorded here
            else:
                names.append(writer.names[0])
            outputs[key] = [str(self.outputs.target(name)) for name in names]
            written.update(names)
        stale = [
            path
            for writer in self.writers.values()
            for path in self.outputs.find(writer._family())
            if str(path).rpartition("/")[2] not in written
        ]
        return outputs, stale  # type: ignore[return-value]

    def close(self, report: dict[str, Any]) -> None:
        try:
            for writer in self.writers.values():
                writer.close()
        except BaseException:
            self.abort()
            raise
        outputs: dict[str, Any] = {}
        if self._shards is not None:
            outputs, stale = self._commit_shards()
        else:
            for key, writer in self.writers.items():
                targets = [str(t) for t in writer.targets]
                outputs[key] = targets if self.options.shard_bytes else targets[0]
            stale = [path for writer in self.writers.values() for path in writer.stale_files()]
        # Shards of an earlier, longer run would read as part of this one.
        self.outputs.finish(report, outputs, stale=stale)
        # report.html is a view of the files just committed, not an output:
        # failing to write it must not fail the run.
        try:
            feed, self._report = self._report, None
            if self._shards is not None:
                pages = [
                    os.path.join(folder, PAGE_NAME)
                    for _index, folder, _files in sorted(self._shards, key=lambda shard: shard[0])
                ]
                if _write_shards_page(
                    pages, str(self.outputs.folder / HTML_NAME), {**report, "outputs": outputs}
                ):
                    self.outputs.publish(HTML_NAME)
                    return
            if feed is None or not feed.write(
                self.outputs.folder / HTML_NAME, {**report, "outputs": outputs}
            ):
                if feed is not None:
                    log.debug("report.html is read from the files: %s", feed.failed)
                write_html_report(self.outputs.folder, report={**report, "outputs": outputs})
            self.outputs.publish(HTML_NAME)  # uploaded, for an output folder at a URL
        except Exception as exc:  # noqa: BLE001
            log.warning("%s not written: %s", HTML_NAME, exc)
        finally:
            self.outputs.unlock()

    def abort(self) -> None:
        self._close_report()
        for writer in self.writers.values():
            writer.abort()
        self.outputs.discard()

    def _close_report(self) -> None:
        """Stop collecting report.html (its helper process too, if one runs)."""
        feed, self._report = getattr(self, "_report", None), None
        if feed is not None:
            feed.close()

    # -- checkpoints (see ingest.engine.checkpoint) -----------------------------------

    @property
    def checkpoint_dir(self) -> Path:
        """Where the runner keeps the checkpoint and the spool: the output folder."""
        if isinstance(self.outputs, RemoteOutputFolder):
            # The runner checkpoints a sink that has this attribute; an output
            # folder at a URL cannot be reopened by a later run (its files are
            # staged in a temporary folder), so for it the attribute is absent
            # and the run is not checkpointed, like the parquet and csv sinks.
            raise AttributeError("checkpoint_dir: an output folder at a URL does not checkpoint")
        return self.outputs.folder

    def checkpoint(self) -> dict[str, Any]:
        """Make what was written durable; where each file stands."""
        return {key: writer.checkpoint() for key, writer in self.writers.items()}

    def resume(self, state: dict[str, Any] | None) -> None:
        """Called once, before anything is written, in a checkpointed run:
        use fixed temporary names, afresh (``None``) or reopened where a
        :meth:`checkpoint` left them (raises ``CheckpointError`` if they are
        not there)."""
        if state is not None and set(state) != set(self.writers):
            raise CheckpointError("the checkpoint describes other files")
        for key, writer in self.writers.items():
            writer.resume(state[key] if state is not None else None)
        if state is not None:
            # Records written before the interruption were never seen here:
            # report.html reads the complete files at the end instead.
            self._close_report()

    def suspend(self) -> None:
        """The run stops without completing: close the files, keep them."""
        self._close_report()
        for writer in self.writers.values():
            writer.suspend()
        self.outputs.suspend()


@hookimpl
def ingest_stages() -> list[StageSpec]:
    return [
        StageSpec(
            name="jsonl",
            kind=StageKind.SINK,
            factory=JsonlSink,
            options=JsonlSinkOptions,
            summary="Write documents.jsonl, dropped.jsonl (compressed, sharded) and report.json, atomically.",
        )
    ]
