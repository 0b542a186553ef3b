"""Built-in sink ``csv``: CSV files for spreadsheets and quick looks.

Writes into ``path`` (UTF-8, a header row, fields quoted as needed, so texts
with newlines and delimiters survive):

* ``documents.csv``: ``id``, ``text``, ``metadata`` (JSON), ``path``;
* ``dropped.csv``: ``id``, ``stage``, ``reason``, ``duplicate_of``,
  ``details`` (JSON, with the plugin), ``path``;
* ``report.json``: the run report.

Files appear atomically, report last. Readers using Python's ``csv`` module
must raise ``csv.field_size_limit`` for texts over 128 KiB.
"""

from __future__ import annotations

import csv
from typing import IO, Any

import attrs

from ingest import Document, DropRecord, StageContext, StageKind, StageSpec, hookimpl, path_field
from ingest_plugins.outputs import DOCUMENT_COLUMNS, DROPPED_COLUMNS, OutputFolder, document_row, dropped_row


def _one_character(instance: object, attribute: attrs.Attribute, value: str) -> None:
    if len(value) != 1 or value in "\r\n\"":
        raise ValueError(f"{attribute.name}: expected one character (not a quote or line end), got {value!r}")


@attrs.define
class CsvSinkOptions:
    """Options of the ``csv`` sink."""

    path: str = path_field("out", metadata={"help": "output folder (created if missing)"})
    documents: str = attrs.field(default="documents.csv", metadata={"help": "file name for kept documents"})
    dropped: str = attrs.field(default="dropped.csv", metadata={"help": "file name for dropped documents"})
    report: str = attrs.field(default="report.json", metadata={"help": "file name for the run report"})
    delimiter: str = attrs.field(
        default=",", validator=_one_character, metadata={"help": 'field separator (e.g. "\\t" or ";")'}
    )


class CsvSink:
    """Writes kept and dropped documents as CSV files, atomically."""

    def __init__(self, options: CsvSinkOptions, ctx: StageContext) -> None:
        self.options = options
        self.outputs = OutputFolder(options.path, options.report)
        self.files: dict[str, IO[str]] = {}
        self.writers: dict[str, Any] = {}
        try:
            for key, columns in (("documents", DOCUMENT_COLUMNS), ("dropped", DROPPED_COLUMNS)):
                tmp = self.outputs.reserve(getattr(options, key))
                # newline="": the csv module writes its own line ends and
                # quotes the newlines inside texts.
                fh = open(tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed in close/abort
                self.files[key] = fh
                writer = csv.DictWriter(fh, fieldnames=columns, delimiter=options.delimiter)
                writer.writeheader()
                self.writers[key] = writer
        except BaseException:
            self.abort()
            raise

    def write(self, doc: Document) -> None:
        self.writers["documents"].writerow(document_row(doc))

    def write_dropped(self, record: DropRecord) -> None:
        self.writers["dropped"].writerow(dropped_row(record))

    def close(self, report: dict[str, Any]) -> None:
        try:
            for fh in self.files.values():
                fh.close()
        except BaseException:
            self.abort()
            raise
        self.outputs.finish(
            report,
            {
                "documents": str(self.outputs.target(self.options.documents)),
                "dropped": str(self.outputs.target(self.options.dropped)),
            },
        )

    def abort(self) -> None:
        for fh in self.files.values():
            try:
                fh.close()
            except OSError:
                pass  # the file is deleted next anyway
        self.outputs.discard()


@hookimpl
def ingest_stages() -> list[StageSpec]:
    return [
        StageSpec(
            name="csv",
            kind=StageKind.SINK,
            factory=CsvSink,
            options=CsvSinkOptions,
            summary="Write documents.csv, dropped.csv (metadata and details as JSON) and report.json.",
        )
    ]
