"""Shared plumbing of the built-in sinks: atomic output folders, the report,
and the flat rows that tabular sinks (parquet, csv, sqlite) write.

Every sink writes its files under hidden ``.NAME.*.partial`` names
(:func:`ingest.engine.atomic.temp_path_for`) and renames them into place in
:meth:`OutputFolder.finish`, ``report.json`` last: the report's presence
says the other files are complete. A report left by an earlier run is
removed when the sink opens, so it can never vouch for half-replaced files.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

import attrs

from ingest import Document, DropRecord
from ingest.contract.errors import UnwritableDocument, error_text
from ingest.engine.atomic import commit, temp_path_for
from ingest.engine.jsonutil import ENCODING_ERRORS, dumps, json_safe
from ingest.engine.output_lock import OutputLock

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


def output_folder(_instance: Any, attribute: attrs.Attribute, value: str) -> None:
    """attrs validator of a sink's ``path``: a folder, or nothing yet (the
    sink creates it); never an existing file, which would fail the run only
    once it starts."""
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
        self.outputs = OutputFolder(options.path, options.report)
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
