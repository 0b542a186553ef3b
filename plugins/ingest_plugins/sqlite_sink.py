"""Built-in sink ``sqlite``: one SQLite database that runs update in place.

The database ``path/database`` has three tables::

    documents (id TEXT PRIMARY KEY, text, metadata JSON, path, run_id)
    dropped   (id TEXT PRIMARY KEY, stage, reason, duplicate_of, details JSON, path, run_id)
    runs      (run_id TEXT PRIMARY KEY, report JSON)

Rows are upserted by id, so running again over the same input updates rows
instead of duplicating them, and a document kept in one run and dropped in
the next moves from ``documents`` to ``dropped`` (and back). Rows of ids a
later run did not see stay, with the ``run_id`` of the run that wrote them
(``replace = true`` empties both tables first instead).

The whole run is one transaction, committed in ``close`` and rolled back by
``abort``, so a crash never leaves a half-written run: the database shows the
previous complete run or this one. ``report.json`` is written beside the
database after the commit (atomically, as every sink's report).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import attrs

from ingest import Document, DropRecord, StageContext, StageKind, StageSpec, hookimpl, path_field
from ingest.engine.jsonutil import dumps
from ingest_plugins.outputs import (
    OutputFolder,
    checked_document_row,
    checked_dropped_row,
    output_folder,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL,      -- JSON object
    path TEXT,
    run_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dropped (
    id TEXT PRIMARY KEY,
    stage TEXT NOT NULL,
    reason TEXT NOT NULL,
    duplicate_of TEXT,
    details TEXT NOT NULL,       -- JSON object
    path TEXT,
    run_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    report TEXT NOT NULL         -- JSON object: the run report
);
"""

# The WHERE clause makes a second row with the same id in the same run a
# no-op (rowcount 0), so it is noticed and reported instead of silently
# overwriting the first.
UPSERT_DOCUMENT = """
INSERT INTO documents (id, text, metadata, path, run_id) VALUES (:id, :text, :metadata, :path, :run_id)
ON CONFLICT(id) DO UPDATE SET
    text = excluded.text, metadata = excluded.metadata, path = excluded.path, run_id = excluded.run_id
WHERE documents.run_id <> excluded.run_id
"""
UPSERT_DROPPED = """
INSERT INTO dropped (id, stage, reason, duplicate_of, details, path, run_id)
VALUES (:id, :stage, :reason, :duplicate_of, :details, :path, :run_id)
ON CONFLICT(id) DO UPDATE SET
    stage = excluded.stage, reason = excluded.reason, duplicate_of = excluded.duplicate_of,
    details = excluded.details, path = excluded.path, run_id = excluded.run_id
WHERE dropped.run_id <> excluded.run_id
"""


@attrs.define
class SqliteSinkOptions:
    """Options of the ``sqlite`` sink."""

    path: str = path_field(
        "out",
        validator=output_folder,
        metadata={"help": "folder of the database and report.json (created if missing)"},
    )
    database: str = attrs.field(default="ingest.sqlite", metadata={"help": "database file name in path"})
    report: str = attrs.field(default="report.json", metadata={"help": "file name for the run report"})
    replace: bool = attrs.field(
        default=False,
        metadata={"help": "empty the documents and dropped tables first (in the same transaction)"},
    )
    timeout: float = attrs.field(
        default=30.0,
        validator=attrs.validators.ge(0),
        metadata={"help": "seconds to wait for another writer to finish before failing"},
    )


def new_run_id() -> str:
    """Sortable and unique: ``20250707T120000Z-1a2b3c4d``."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


class SqliteSink:
    """Upserts kept and dropped documents into SQLite in one transaction."""

    def __init__(self, options: SqliteSinkOptions, ctx: StageContext) -> None:
        self.options = options
        self.ctx = ctx
        self.run_id = new_run_id()
        self.outputs = OutputFolder(options.path, options.report)
        self.db_path = Path(options.path) / options.database
        self.created = not self.db_path.exists()
        # Autocommit mode: the transaction is ours, begun and ended explicitly.
        self.conn: sqlite3.Connection | None = sqlite3.connect(
            self.db_path, timeout=options.timeout, isolation_level=None
        )
        try:
            # IMMEDIATE takes the write lock now: a second concurrent run
            # waits (timeout) or fails here, before any work.
            self.conn.execute("BEGIN IMMEDIATE")
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self.conn.execute(statement)
            if options.replace:
                self.conn.execute("DELETE FROM documents")
                self.conn.execute("DELETE FROM dropped")
        except BaseException:
            self.abort()
            raise

    def _execute(self, sql: str, params: Any) -> sqlite3.Cursor:
        assert self.conn is not None, "the sink is closed"
        return self.conn.execute(sql, params)

    def write(self, doc: Document) -> None:
        row = {**checked_document_row(doc), "run_id": self.run_id}
        if self._execute(UPSERT_DOCUMENT, row).rowcount == 0:
            self.ctx.warn(f"id {doc.id!r} was kept twice in this run; the database has the first", doc=doc)
            return
        # Kept now: it is no longer dropped (unless dropped in this very run).
        self._execute("DELETE FROM dropped WHERE id = ? AND run_id <> ?", (doc.id, self.run_id))

    def write_dropped(self, record: DropRecord) -> None:
        row = {**checked_dropped_row(record), "run_id": self.run_id}
        if self._execute(UPSERT_DROPPED, row).rowcount == 0:
            self.ctx.warn(f"id {record.id!r} was dropped twice in this run; the database has the first")
            return
        self._execute("DELETE FROM documents WHERE id = ? AND run_id <> ?", (record.id, self.run_id))

    def close(self, report: dict[str, Any]) -> None:
        try:
            self._execute("INSERT INTO runs (run_id, report) VALUES (?, ?)", (self.run_id, dumps(report)))
            assert self.conn is not None
            self.conn.execute("COMMIT")
            self.conn.close()
            self.conn = None
        except BaseException:
            self.abort()
            raise
        self.outputs.finish(report, {"database": str(self.db_path)}, run_id=self.run_id)
        self.outputs.unlock()

    def abort(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        if self.created:
            # A database this failed run created holds nothing worth keeping.
            for suffix in ("", "-journal", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{self.db_path}{suffix}")
        self.outputs.discard()


@hookimpl
def ingest_stages() -> list[StageSpec]:
    return [
        StageSpec(
            name="sqlite",
            kind=StageKind.SINK,
            factory=SqliteSink,
            options=SqliteSinkOptions,
            summary="Upsert documents and dropped records into one SQLite database, one transaction per run.",
        )
    ]
