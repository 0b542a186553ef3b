"""Built-in sink ``csv``: CSV files for spreadsheets and quick looks.

Writes into ``path`` (UTF-8, a header row, fields quoted as needed, so texts
with newlines and delimiters survive):

* ``documents.csv``: ``id``, ``text``, ``metadata`` (JSON), ``path``;
* ``dropped.csv``: ``id``, ``stage``, ``reason``, ``duplicate_of``,
  ``details`` (JSON, with the plugin), ``path``;
* ``report.json``: the run report.

Files appear atomically, report last. Readers using Python's ``csv`` module
must raise ``csv.field_size_limit`` for texts over 128 KiB.

Cells hold the values as they are. A spreadsheet that opens the file may
take a cell starting with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage
return) as a formula ("CSV injection"), and a crawled document can start with
anything. ``neutralize_formulas = true`` prefixes such cells with ``'``, so the
spreadsheet shows them as text; a cell that starts with ``'`` gets one more,
so that removing one leading ``'`` from every cell that has one gives the
values back exactly. It is off by default: the file then holds exactly what
the other sinks write.
"""

from __future__ import annotations

import csv
from typing import IO, Any

import attrs

from ingest import StageContext, StageKind, StageSpec, hookimpl, path_field
from ingest_plugins.outputs import TableSink, output_folder
from ingest_plugins.text_files import STORAGE_OPTIONS_HELP

#: what a spreadsheet may read as the start of a formula (OWASP's list), and the quote itself
FORMULA_STARTS = frozenset("=+-@\t\r'")


def neutralize_formula(cell: str) -> str:
    """``cell`` with a ``'`` in front if it starts with one of :data:`FORMULA_STARTS`."""
    return "'" + cell if cell[:1] in FORMULA_STARTS else cell


def _one_character(instance: object, attribute: attrs.Attribute, value: str) -> None:
    if len(value) != 1 or value in '\r\n"':
        raise ValueError(f"{attribute.name}: expected one character (not a quote or line end), got {value!r}")


@attrs.define
class CsvSinkOptions:
    """Options of the ``csv`` sink."""

    path: str = path_field(
        "out",
        validator=output_folder,
        metadata={
            "help": "output folder (created if missing); a URL (s3://bucket/out) is written through fsspec"
        },
    )
    documents: str = attrs.field(default="documents.csv", metadata={"help": "file name for kept documents"})
    dropped: str = attrs.field(default="dropped.csv", metadata={"help": "file name for dropped documents"})
    report: str = attrs.field(default="report.json", metadata={"help": "file name for the run report"})
    delimiter: str = attrs.field(
        default=",", validator=_one_character, metadata={"help": 'field separator (e.g. "\\t" or ";")'}
    )
    neutralize_formulas: bool = attrs.field(
        default=False,
        metadata={
            "help": "prefix cells starting with = + - @ (or tab, CR, ') with ' so a spreadsheet shows them "
            "as text, not formulas; remove one leading ' to get a value back"
        },
    )
    storage_options: dict[str, Any] = attrs.field(factory=dict, metadata={"help": STORAGE_OPTIONS_HELP})


class _CsvTable:
    """One CSV file with a header row."""

    def __init__(
        self, tmp: str, columns: tuple[str, ...], delimiter: str, neutralize_formulas: bool = False
    ) -> None:
        # newline="": the csv module writes its own line ends and quotes the
        # newlines inside texts.
        self.file: IO[str] = open(tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed in close/abort
        self.writer = csv.DictWriter(self.file, fieldnames=columns, delimiter=delimiter)
        self.writer.writeheader()
        self.neutralize_formulas = neutralize_formulas

    def add(self, row: dict[str, Any]) -> None:
        if self.neutralize_formulas:
            row = {k: neutralize_formula(v) if isinstance(v, str) else v for k, v in row.items()}
        self.writer.writerow(row)

    def close(self) -> None:
        self.file.close()

    def abort(self) -> None:
        try:
            self.file.close()
        except OSError:
            pass  # the file is deleted next anyway


def csv_sink(options: CsvSinkOptions, ctx: StageContext) -> TableSink:
    """Kept and dropped documents as CSV files, written atomically."""
    return TableSink(
        options, lambda tmp, columns: _CsvTable(tmp, columns, options.delimiter, options.neutralize_formulas)
    )


@hookimpl
def ingest_stages() -> list[StageSpec]:
    return [
        StageSpec(
            name="csv",
            kind=StageKind.SINK,
            factory=csv_sink,
            options=CsvSinkOptions,
            summary="Write documents.csv, dropped.csv (metadata and details as JSON) and report.json.",
        )
    ]
