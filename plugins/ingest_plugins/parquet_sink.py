"""Built-in sink ``parquet``: Parquet files for analytics tools.

Writes into ``path``:

* ``documents.parquet``: ``id``, ``text``, ``metadata`` (a JSON string),
  ``path``;
* ``dropped.parquet``: ``id``, ``stage``, ``reason``, ``duplicate_of``,
  ``details`` (a JSON string, with the plugin), ``path``;
* ``report.json``: the run report.

Rows are buffered and written as a row group every ``row_group_rows`` rows or
``row_group_bytes`` bytes of buffered text, so memory stays bounded. Needs
``pyarrow`` (``pip install 'ingest[parquet]'``); without it the config is
rejected before any work. Files appear atomically, report last.
"""

from __future__ import annotations

import contextlib
import importlib.util
from typing import Any, Literal

import attrs

from ingest import StageContext, StageKind, StageSpec, hookimpl, path_field
from ingest_plugins.outputs import TableSink, output_folder
from ingest_plugins.text_files import STORAGE_OPTIONS_HELP

PYARROW_HINT = "the parquet sink needs pyarrow: pip install 'ingest[parquet]'"


@attrs.define
class ParquetSinkOptions:
    """Options of the ``parquet`` sink."""

    path: str = path_field(
        "out",
        validator=output_folder,
        metadata={
            "help": "output folder (created if missing); a URL (s3://bucket/out) is written through fsspec"
        },
    )
    documents: str = attrs.field(
        default="documents.parquet", metadata={"help": "file name for kept documents"}
    )
    dropped: str = attrs.field(
        default="dropped.parquet", metadata={"help": "file name for dropped documents"}
    )
    report: str = attrs.field(default="report.json", metadata={"help": "file name for the run report"})
    compression: Literal["zstd", "snappy", "gzip", "brotli", "lz4", "none"] = attrs.field(
        default="zstd", metadata={"help": "Parquet column compression"}
    )
    row_group_rows: int = attrs.field(
        default=10_000,
        validator=attrs.validators.ge(1),
        metadata={"help": "write a row group after this many rows"},
    )
    row_group_bytes: int = attrs.field(
        default=64 * 1024 * 1024,
        validator=[attrs.validators.ge(1), attrs.validators.le(1024 * 1024 * 1024)],
        metadata={"help": "write a row group once its buffered text reaches this many bytes (at most 1 GiB)"},
    )
    storage_options: dict[str, Any] = attrs.field(factory=dict, metadata={"help": STORAGE_OPTIONS_HELP})

    def __attrs_post_init__(self) -> None:
        # Checked here so `ingest check` reports it, before any work.
        if importlib.util.find_spec("pyarrow") is None:
            raise ValueError(PYARROW_HINT)


class _TableWriter:
    """Buffers rows of one table and writes them as Parquet row groups."""

    def __init__(self, tmp: str, columns: tuple[str, ...], options: ParquetSinkOptions) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa = pa
        self.columns = columns
        # Every column is a string; only id is never null.
        self.schema = pa.schema([pa.field(name, pa.string(), nullable=name != "id") for name in columns])
        self.options = options
        self.writer = pq.ParquetWriter(tmp, self.schema, compression=options.compression)
        self.buffer: dict[str, list[Any]] = {name: [] for name in columns}
        self.rows = 0
        self.bytes = 0

    def add(self, row: dict[str, Any]) -> None:
        for name in self.columns:
            value = row[name]
            self.buffer[name].append(value)
            if isinstance(value, str):
                self.bytes += len(value)
        self.rows += 1
        if self.rows >= self.options.row_group_rows or self.bytes >= self.options.row_group_bytes:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        table = self.pa.Table.from_pydict(self.buffer, schema=self.schema)
        self.writer.write_table(table, row_group_size=self.rows)
        self.buffer = {name: [] for name in self.columns}
        self.rows = self.bytes = 0

    def close(self) -> None:
        self.flush()
        self.writer.close()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


def parquet_sink(options: ParquetSinkOptions, ctx: StageContext) -> TableSink:
    """Kept and dropped documents as Parquet files, written atomically."""
    return TableSink(options, lambda tmp, columns: _TableWriter(tmp, columns, options))


@hookimpl
def ingest_stages() -> list[StageSpec]:
    return [
        StageSpec(
            name="parquet",
            kind=StageKind.SINK,
            factory=parquet_sink,
            options=ParquetSinkOptions,
            summary="Write documents.parquet, dropped.parquet (row groups, bounded memory) and report.json.",
        )
    ]
