"""Shared plumbing of the built-in sinks: atomic output folders, the report,
and the flat rows that tabular sinks (parquet, csv, sqlite) write.

Every sink writes its files under hidden ``.NAME.*.partial`` names
(:func:`ingest.engine.atomic.temp_path_for`) and renames them into place in
:meth:`OutputFolder.finish`, ``report.json`` last: the report's presence
says the other files are complete. A report left by an earlier run is
removed when the sink opens, so it can never vouch for half-replaced files.

An output folder at a URL (``s3://bucket/out``; sinks whose options have
``storage_options``) is a :class:`RemoteOutputFolder`: object stores have no
rename, so the files are written into a local staging folder and uploaded
when the run completes, report last. See :func:`open_outputs`.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, Union

import attrs

from ingest import Document, DropRecord
from ingest.contract.errors import ConfigError, UnwritableDocument, error_text
from ingest.engine.atomic import commit, temp_path_for
from ingest.engine.jsonutil import ENCODING_ERRORS, dumps, json_safe
from ingest.engine.output_lock import OutputLock
from ingest_plugins import storage

#: Columns of the documents table of tabular sinks, in order.
DOCUMENT_COLUMNS: tuple[str, ...] = ("id", "text", "metadata", "path")
#: Columns of the dropped table of tabular sinks, in order.
DROPPED_COLUMNS: tuple[str, ...] = ("id", "stage", "reason", "duplicate_of", "details", "path")


def document_row(doc: Document) -> dict[str, Any]:
    """A kept document as a flat row; ``metadata`` is a JSON string."""
    return {
        "id": doc.id,
        "text": doc.text,
        "metadata": dumps(doc.metadata),
        "path": doc.origin.path if doc.origin is not None else None,
    }


def dropped_row(record: DropRecord) -> dict[str, Any]:
    """A drop record as a flat row; ``details`` is a JSON string (with the
    plugin that dropped it, when known, so nothing of the record is lost but
    its text)."""
    details = dict(record.details)
    if record.plugin and "plugin" not in details:
        details["plugin"] = record.plugin
    return {
        "id": record.id,
        "stage": record.stage,
        "reason": record.reason,
        "duplicate_of": record.duplicate_of,
        "details": dumps(details),
        "path": record.path,
    }


def checked_document_row(doc: Document) -> dict[str, Any]:
    """:func:`document_row`, or :class:`~ingest.contract.errors.UnwritableDocument` if
    a table cannot hold it (a lone surrogate, an integer too long for JSON)."""
    try:
        row = document_row(doc)
        _check_encodable(row)
    except ENCODING_ERRORS as exc:
        raise UnwritableDocument(f"not encodable: {error_text(exc)}") from exc
    return row


def checked_dropped_row(record: DropRecord) -> dict[str, Any]:
    """:func:`dropped_row`, with whatever a table cannot hold replaced (see
    :func:`~ingest.engine.jsonutil.json_safe`): the record of a drop is always written,
    and says when it was altered."""
    try:
        row = dropped_row(record)
        _check_encodable(row)
    except ENCODING_ERRORS as exc:
        safe = attrs.evolve(
            record,
            id=json_safe(record.id),
            path=json_safe(record.path),
            duplicate_of=json_safe(record.duplicate_of),
            details={**json_safe(record.details), "record_altered": f"not encodable: {error_text(exc)}"},
        )
        row = dropped_row(safe)
    return row


def output_folder(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    """attrs validator of a sink's ``path``: a folder, or nothing yet (the
    sink creates it); never an existing file, which would fail the run only
    once it starts. A URL is accepted by a sink whose options have
    ``storage_options`` (it writes through :class:`RemoteOutputFolder`), when
    fsspec and the filesystem's package are installed."""
    if value and storage.is_url(value):
        if not hasattr(instance, "storage_options"):
            raise ValueError(
                f"{attribute.name}: {value!r} is a URL, and this sink writes only to a local folder "
                "(the jsonl, csv and parquet sinks write to URLs)"
            )
        storage.check_available(value, attribute.name)
        return
    if value and os.path.exists(value) and not os.path.isdir(value):
        raise ValueError(
            f"{attribute.name}: {value} is a file, and the sink writes a folder of files there; "
            "choose another path"
        )


def _check_encodable(row: Mapping[str, Any]) -> None:
    """Raise ``UnicodeEncodeError`` if a text cell holds a lone surrogate
    (which no table format can store), before any of the row is written."""
    for value in row.values():
        if type(value) is str and not value.isascii():
            value.encode("utf-8")


class OutputFolder:
    """A sink's output folder: temporary files renamed into place together.

    :meth:`reserve` hands out a temporary path for each output file;
    :meth:`finish` writes the report and renames everything into place,
    report last; :meth:`discard` deletes the temporary files.
    """

    def __init__(self, folder: str | os.PathLike[str], report_name: str = "report.json") -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        # Before anything in the folder is touched: a second run refuses here.
        self.lock = OutputLock(self.folder)
        self.lock.acquire()
        self.report_target = self.folder / report_name
        self.pending: list[tuple[str, Path]] = []
        # A report left by an earlier run would vouch for files this run is
        # about to replace: remove it now, write the new one last. What that
        # run wrote and this one does not rewrite goes at finish().
        self.earlier = self._earlier_outputs()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.report_target)
        self.remove_leftovers(report_name)

    def _earlier_outputs(self) -> set[Path]:
        """The files the report of an earlier run in this folder lists (only
        those inside the folder), and the report.html page beside it."""
        try:
            with open(self.report_target, encoding="utf-8") as fh:
                listed = json.load(fh).get("outputs") or {}
        except (OSError, ValueError, AttributeError):
            return set()
        earlier = {self.folder / "report.html"}
        for value in listed.values() if isinstance(listed, dict) else ():
            for name in value if isinstance(value, list) else [value]:
                if isinstance(name, str) and Path(name).parent.resolve() == self.folder.resolve():
                    earlier.add(self.folder / Path(name).name)
        return earlier

    def remove_leftovers(self, name: str) -> None:
        """Delete temporary files of ``name`` left by a run that was killed
        (``.NAME.*.partial``; never the fixed ``.NAME.partial`` a checkpoint
        resumes). Safe under the folder's lock: no other run is writing."""
        for leftover in self.folder.glob(f".{glob.escape(name)}.*.partial"):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()

    def unlock(self) -> None:
        """Let another run use the folder (the sink calls this once it is done)."""
        self.lock.release()

    def target(self, name: str) -> Path:
        return self.folder / name

    def find(self, pattern: re.Pattern[str]) -> list[Path]:
        """The files in the folder whose names match ``pattern`` (whole names)."""
        folder = self.folder
        return [
            folder / name
            for name in os.listdir(folder)
            if pattern.fullmatch(name) and (folder / name).is_file()
        ]

    def remove(self, name: str) -> None:
        """Delete the file ``name`` from the folder, if it is there."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.folder / name)

    def publish(self, name: str) -> None:
        """Make a file written into :attr:`folder` after :meth:`finish` (a
        view such as report.html) part of the output: here it already is."""

    def reserve(self, name: str, *, fixed: bool = False) -> str:
        """A fresh temporary path for the output file ``name`` in the folder;
        it becomes ``name`` at :meth:`finish`. With ``fixed`` the path is
        always the same, ``.NAME.partial`` (so a resumed run finds it); the
        caller creates or reopens the file."""
        target = self.folder / name
        self.remove_leftovers(name)
        tmp = str(self.fixed_partial(name)) if fixed else temp_path_for(target)
        self.pending.append((tmp, target))
        return tmp

    def adopt(self, path: str | os.PathLike[str], name: str) -> None:
        """Take the finished file at ``path`` (in the folder or below it: a
        sharded run's shard file) as output file ``name``: it is renamed into
        place at :meth:`finish`, like a reserved one."""
        self.pending.append((str(path), self.folder / name))

    def fixed_partial(self, name: str) -> Path:
        """The fixed temporary name of output file ``name`` (see :meth:`reserve`)."""
        return self.folder / f".{name}.partial"

    def release(self, tmp: str) -> None:
        """Forget (and delete) a reserved temporary file."""
        self.pending = [(t, target) for t, target in self.pending if t != tmp]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)

    def suspend(self) -> None:
        """Stop without finishing and keep the temporary files (a resumed
        run reopens them)."""
        self.pending.clear()
        self.unlock()

    def finish(
        self,
        report: Mapping[str, Any],
        outputs: Mapping[str, Any],
        *,
        stale: Iterable[Path] = (),
        **extra: Any,
    ) -> None:
        """Write ``report`` (plus ``outputs``, the files written, and
        ``extra`` keys) and rename every reserved file into place, report last.
        ``stale`` files (left by an earlier run, not rewritten by this one)
        are deleted before the report appears."""
        report_tmp = temp_path_for(self.report_target)
        written = {Path(p).name for v in outputs.values() for p in (v if isinstance(v, list) else [v])}
        written |= {target.name for _tmp, target in self.pending}
        # An earlier run's files that this one does not replace (another sink's
        # tables, its report.html) would sit beside this run's report as if its own.
        stale = [*stale, *(p for p in self.earlier if p.name not in written and p != self.report_target)]
        try:
            payload = {**report, **extra, "outputs": {**outputs, "report": str(self.report_target)}}
            with open(report_tmp, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(dumps(payload, indent=2) + "\n")
            for tmp, target in self.pending:
                commit(tmp, target)
            self.pending.clear()
            for path in stale:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            commit(report_tmp, self.report_target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(report_tmp)
            self.discard()
            raise

    def discard(self) -> None:
        """Delete every temporary file not yet renamed into place."""
        for tmp, _target in self.pending:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        self.pending.clear()
        self.unlock()


class RemoteOutputFolder:
    """An output folder at a URL (``s3://bucket/out``), with the interface of
    :class:`OutputFolder`.

    Object stores cannot rename, and an object is only ever seen whole once
    its upload completes. So the files are written into a local staging
    folder (a fresh temporary folder: ``TMPDIR`` says where) and uploaded in
    :meth:`finish`: the outputs first, then the report, so its presence
    still says the rest is complete. Nothing is written at the URL before
    the run completes; a report left there by an earlier run is deleted
    when the sink opens, as locally. There is no lock (object stores have no
    ``flock``): two runs writing to one URL at once is the user's to avoid.
    """

    def __init__(
        self, url: str, report_name: str = "report.json", storage_options: Mapping[str, Any] | None = None
    ) -> None:
        self.remote = storage.RemoteFolder(url, storage_options)
        self.folder = Path(tempfile.mkdtemp(prefix="ingest-output-"))
        self.report_name = report_name
        self.report_target = self.remote.url_of(report_name)
        self.pending: list[tuple[str, Path]] = []
        try:
            # Found out now, not after the whole run: a missing bucket, no
            # credentials or no right to write or delete there.
            try:
                self.remote.check_writable()
            except Exception as exc:  # noqa: BLE001 - filesystem libraries raise their own errors
                raise ConfigError(
                    f"[sink] path {url!r} cannot be written: {type(exc).__name__}: {exc}"
                ) from None
            self.earlier = self._earlier_outputs()
            self.remote.remove(report_name)
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise

    def _earlier_outputs(self) -> set[str]:
        """Names of the files an earlier run's report at the URL lists (only
        those in this folder), and report.html."""
        data = self.remote.read_bytes(self.report_name)
        if data is None:
            return set()
        try:
            listed = json.loads(data).get("outputs") or {}
        except (ValueError, AttributeError):
            return set()
        earlier = {"report.html"}
        base = self.remote.url.rstrip("/")
        for value in listed.values() if isinstance(listed, dict) else ():
            for name in value if isinstance(value, list) else [value]:
                if isinstance(name, str) and name.rpartition("/")[0] == base:
                    earlier.add(name.rpartition("/")[2])
        return earlier

    def remove_leftovers(self, name: str) -> None:
        """Nothing to do: temporary files live only in the staging folder."""

    def unlock(self) -> None:
        """The sink is done with the folder: delete the staging folder."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def target(self, name: str) -> str:
        """The URL of output file ``name``."""
        return self.remote.url_of(name)

    def find(self, pattern: re.Pattern[str]) -> list[str]:
        """URLs of the files at the URL whose names match ``pattern``."""
        return [self.remote.url_of(name) for name in self.remote.names() if pattern.fullmatch(name)]

    def remove(self, name: str) -> None:
        """Delete the file ``name`` at the URL, if it is there."""
        self.remote.remove(name)

    def publish(self, name: str) -> None:
        """Upload a file written into the staging folder after :meth:`finish` (report.html)."""
        local = self.folder / name
        if local.is_file():
            self.remote.put_file(str(local), name)

    def reserve(self, name: str, *, fixed: bool = False) -> str:
        """A temporary path in the staging folder for output file ``name``."""
        if fixed:
            raise RuntimeError("an output folder at a URL does not checkpoint")
        target = self.folder / name
        tmp = temp_path_for(target)
        self.pending.append((tmp, target))
        return tmp

    def release(self, tmp: str) -> None:
        """Forget (and delete) a reserved temporary file."""
        self.pending = [(t, target) for t, target in self.pending if t != tmp]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)

    def adopt(self, path: str | os.PathLike[str], name: str) -> None:
        """Take the finished file at ``path`` (in the staging folder) as output
        file ``name``: it is uploaded at :meth:`finish`, like a reserved one."""
        self.pending.append((str(path), self.folder / name))

    def suspend(self) -> None:
        self.discard()

    def finish(
        self,
        report: Mapping[str, Any],
        outputs: Mapping[str, Any],
        *,
        stale: Iterable[str | Path] = (),
        **extra: Any,
    ) -> None:
        """Upload every reserved file, delete ``stale`` files and what an
        earlier run's report listed that this run did not write, then upload
        the report: the report appears last, as locally. The staged files stay
        (under their final names) until :meth:`unlock`, for report.html."""
        written = {
            str(p).rpartition("/")[2] for v in outputs.values() for p in (v if isinstance(v, list) else [v])
        }
        written |= {target.name for _tmp, target in self.pending}
        stale_names = [PurePosixPath(str(p)).name for p in stale]
        stale_names += [n for n in self.earlier if n not in written and n != self.report_name]
        try:
            payload = {**report, **extra, "outputs": {**outputs, "report": self.report_target}}
            report_local = self.folder / self.report_name
            with open(report_local, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(dumps(payload, indent=2) + "\n")
            for tmp, target in self.pending:
                os.replace(tmp, target)
                self.remote.put_file(str(target), target.name)
            self.pending.clear()
            for name in stale_names:
                self.remote.remove(name)
            self.remote.put_file(str(report_local), self.report_name)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """Delete the staging folder. Nothing is written at the URL before
        :meth:`finish`; if an upload there fails, the files uploaded before
        it stay, without a report."""
        self.pending.clear()
        shutil.rmtree(self.folder, ignore_errors=True)


#: Either kind of output folder.
Outputs = Union[OutputFolder, RemoteOutputFolder]


def open_outputs(
    path: str, report_name: str = "report.json", storage_options: Mapping[str, Any] | None = None
) -> Outputs:
    """The output folder of a sink: :class:`OutputFolder` for a local path,
    :class:`RemoteOutputFolder` for a URL (``s3://bucket/out``)."""
    if storage.is_url(path):
        return RemoteOutputFolder(path, report_name, storage_options)
    return OutputFolder(path, report_name)


class TableWriter(Protocol):
    """One table of a :class:`TableSink`, written to a reserved temporary path."""

    def add(self, row: dict[str, Any]) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


class TableSink:
    """A sink of two tables, ``documents`` and ``dropped``, plus report.json.

    The format lives in ``open_table(tmp_path, columns) -> TableWriter``; this
    class reserves the temporary files, routes rows, and commits (or
    discards) everything atomically. ``options`` needs ``path``, ``report``,
    ``documents`` and ``dropped``.
    """

    def __init__(self, options: Any, open_table: Callable[[str, tuple[str, ...]], TableWriter]) -> None:
        self.options = options
        self.outputs = open_outputs(options.path, options.report, getattr(options, "storage_options", None))
        self.tables: dict[str, TableWriter] = {}
        try:
            for key, columns in (("documents", DOCUMENT_COLUMNS), ("dropped", DROPPED_COLUMNS)):
                self.tables[key] = open_table(self.outputs.reserve(getattr(options, key)), columns)
        except BaseException:
            self.abort()
            raise

    def write(self, doc: Document) -> None:
        self.tables["documents"].add(checked_document_row(doc))

    def write_dropped(self, record: DropRecord) -> None:
        self.tables["dropped"].add(checked_dropped_row(record))

    def close(self, report: dict[str, Any]) -> None:
        try:
            for table in self.tables.values():
                table.close()
        except BaseException:
            self.abort()
            raise
        self.outputs.finish(
            report,
            {key: str(self.outputs.target(getattr(self.options, key))) for key in ("documents", "dropped")},
        )
        self.outputs.unlock()

    def abort(self) -> None:
        for table in self.tables.values():
            table.abort()
        self.outputs.discard()
