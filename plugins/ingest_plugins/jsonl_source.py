"""Built-in source ``jsonl_files``: JSON Lines files, one document per line.

(The registry has one namespace for sources, sinks and stages, and ``jsonl``
is the sink, hence ``jsonl_files``, like ``text_files``.)

Each non-blank line is a JSON object. ``id_field`` gives the document id
(missing: ``<relative file>:<line number>``), ``text_field`` the text,
``metadata_field`` an object merged into the metadata, and
``metadata_fields`` which other fields become metadata (default: all).
Files may be compressed (``.gz``, ``.bz2``, ``.xz``, ``.zst``). A line that is
not JSON, not an object, not UTF-8 or without text is recorded in the ledger
with file and line, and the run goes on.

:class:`LineParser` is shared with the ``stdin`` source.
"""

from __future__ import annotations

import codecs
import contextlib
import fnmatch
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple, Protocol

import attrs

from ingest import Document, Origin, StageContext, StageKind, StageSpec, hookimpl, path_field
from ingest.errors import ConfigError
from ingest_plugins import io_util


class FieldMapping(Protocol):
    """How the fields of a JSON object become a document: the options the
    ``jsonl_files`` and ``stdin`` sources share (see :func:`mapping_options`)."""

    id_field: str
    text_field: str
    metadata_fields: list[str]
    metadata_field: str


def mapping_options() -> dict[str, Any]:
    """Fresh attrs fields for the :class:`FieldMapping` options; a source's
    options class assigns them by name (see :class:`JsonlFilesOptions`), so
    the options are defined once and listed after the source's own."""
    return {
        "id_field": attrs.field(
            default="id", metadata={"help": 'field holding the document id; missing: "<file>:<line>"'}
        ),
        "text_field": attrs.field(default="text", metadata={"help": "field holding the text (required)"}),
        "metadata_fields": attrs.field(
            factory=lambda: ["*"],
            metadata={"help": 'other fields to keep as metadata (glob patterns; "*" = all, [] = none)'},
        ),
        "metadata_field": attrs.field(
            default="metadata",
            metadata={"help": 'field holding a metadata object, merged into the metadata ("" = none)'},
        ),
    }


_MAPPING = mapping_options()


@attrs.define
class JsonlFilesOptions:
    """Options of the ``jsonl_files`` source."""

    path: str = path_field(".", metadata={"help": "a JSONL file, or a folder to read"})
    include: list[str] = attrs.field(
        factory=lambda: ["**/*.jsonl"],
        metadata={"help": "glob patterns of files to read in a folder (compressed variants match too)"},
    )
    exclude: list[str] = attrs.field(factory=list, metadata={"help": "glob patterns of files to skip"})
    compressed: bool = attrs.field(
        default=True, metadata={"help": "also read the .gz, .bz2, .xz and .zst variants of matching files"}
    )
    id_field: str = _MAPPING["id_field"]
    text_field: str = _MAPPING["text_field"]
    metadata_fields: list[str] = _MAPPING["metadata_fields"]
    metadata_field: str = _MAPPING["metadata_field"]


class _Where(NamedTuple):
    """Where a line came from: the label used in ids and messages, the file, the line."""

    label: str
    path: str | None
    line: int


class LineParser:
    """Turns JSONL lines into documents, recording bad lines in the ledger."""

    def __init__(self, mapping: FieldMapping, ctx: StageContext, source: str) -> None:
        self.mapping = mapping
        self.ctx = ctx
        self.source = source
        reserved = {mapping.id_field, mapping.text_field}
        if mapping.metadata_field:
            reserved.add(mapping.metadata_field)
        self.reserved = reserved
        self.keep_all = "*" in mapping.metadata_fields

    def _keep_field(self, name: str) -> bool:
        if name in self.reserved:
            return False
        return self.keep_all or any(fnmatch.fnmatchcase(name, p) for p in self.mapping.metadata_fields)

    def parse_lines(
        self,
        lines: Iterable[bytes],
        *,
        label: str,
        path: str | None,
        first_line: int = 1,
    ) -> Iterator[Document]:
        """Documents from binary lines; ``label`` names the input in default
        ids (``label:line``) and messages, ``path`` goes into the origin."""
        for number, line in enumerate(lines, start=first_line):
            if number == 1 and line.startswith(codecs.BOM_UTF8):
                line = line[len(codecs.BOM_UTF8) :]
            if not line.strip():
                continue  # blank lines are not records
            doc = self.parse(line, label=label, path=path, line=number)
            if doc is not None:
                yield doc

    def _drop(self, doc_id: str, reason: str, message: str, where: _Where) -> None:
        label, path, line = where
        self.ctx.drop(doc_id, reason, error=f"{label}:{line}: {message}", line=line, path=path)

    def parse(self, raw: bytes, *, label: str, path: str | None, line: int) -> Document | None:
        """One line as a document, or None after recording why not."""
        default_id = f"{label}:{line}"
        where = _Where(label, path, line)
        try:
            text_line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self._drop(default_id, "undecodable", f"not valid utf-8 at byte {exc.start} of the line: {exc.reason}", where)
            return None
        try:
            obj = json.loads(text_line)
        except json.JSONDecodeError as exc:
            self._drop(default_id, "invalid_json", f"not JSON: {exc.msg} (column {exc.colno})", where)
            return None
        if not isinstance(obj, dict):
            self._drop(default_id, "invalid_record", f"expected a JSON object, got {type(obj).__name__}", where)
            return None
        mapping = self.mapping
        raw_id = obj.get(mapping.id_field)
        if raw_id is None:
            doc_id = default_id
        elif isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool):
            doc_id = str(raw_id)
        else:
            self._drop(
                default_id,
                "invalid_record",
                f"field {mapping.id_field!r} must be a string or an integer, got {type(raw_id).__name__}",
                where,
            )
            return None
        if mapping.text_field not in obj or obj[mapping.text_field] is None:
            self._drop(doc_id, "missing_text", f"no field {mapping.text_field!r}", where)
            return None
        text = obj[mapping.text_field]
        if not isinstance(text, str):
            self._drop(doc_id, "missing_text", f"field {mapping.text_field!r} is {type(text).__name__}, not a string", where)
            return None
        if not text:
            self._drop(doc_id, "empty", f"field {mapping.text_field!r} is empty", where)
            return None
        metadata = {key: value for key, value in obj.items() if self._keep_field(key)}
        nested = obj.get(mapping.metadata_field) if mapping.metadata_field else None
        odd_nested = nested is not None and not isinstance(nested, dict)
        if isinstance(nested, dict):
            metadata.update(nested)  # the explicit metadata object wins over top-level fields
        elif odd_nested:
            metadata[mapping.metadata_field] = nested  # keep the value rather than lose it
        origin = Origin(source=self.source, path=path, line=line)
        doc = Document(id=doc_id, text=text, metadata=metadata, origin=origin)
        if odd_nested:
            self.ctx.warn(
                f"field {mapping.metadata_field!r} is {type(nested).__name__}, not an object; kept as is",
                doc=doc,
                line=line,
            )
        return doc


class JsonlFilesSource:
    """Iterates the lines of one or more JSONL files as documents."""

    def __init__(self, options: JsonlFilesOptions, ctx: StageContext) -> None:
        self.options = options
        self.ctx = ctx
        self.root = Path(options.path)
        if not self.root.exists():
            raise ConfigError(f"[source] path {str(self.root)!r} does not exist")
        self.parser = LineParser(options, ctx, "jsonl_files")

    def __iter__(self) -> Iterator[Document]:
        files = io_util.find_files(
            self.root, self.options.include, self.options.exclude, compressed=self.options.compressed
        )
        for path, relative in files:
            yield from self.read_file(path, relative)

    def read_file(self, path: Path, relative: str) -> Iterator[Document]:
        where = str(path)
        compression = io_util.compression_of(path.name) if self.options.compressed else None
        try:
            raw: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            self.ctx.drop(relative, "unreadable", error=f"{where}: {exc.strerror or exc}", path=where)
            return
        lines = _LineCounter()
        with contextlib.closing(raw):
            try:
                with io_util.open_decompressed(raw, compression) as stream:
                    yield from self.parser.parse_lines(lines.count(stream), label=relative, path=where)
            except io_util.MissingDependencyError as exc:
                self.ctx.drop(relative, "unsupported_compression", error=f"{where}: {exc}", path=where)
            except _ReadError as failure:
                error = failure.original
                # The lines before the damage were read; the rest of the file
                # is one record, so the loss is visible.
                line = lines.read + 1
                reason = "corrupt" if compression else "unreadable"
                self.ctx.drop(
                    f"{relative}:{line}",
                    reason,
                    error=f"{where}:{line}: cannot read from here on: {type(error).__name__}: {error}",
                    line=line,
                    path=where,
                )


class _ReadError(Exception):
    """Reading the input failed (damaged compressed data, an I/O error); kept
    apart from errors raised while handling a line (a sink's disk full)."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(str(original))
        self.original = original


class _LineCounter:
    """Counts the lines read from a stream (to say where damage starts)."""

    def __init__(self) -> None:
        self.read = 0

    def count(self, stream: IO[bytes]) -> Iterator[bytes]:
        errors = io_util.decompression_errors()
        it = iter(stream)
        while True:
            try:
                line = next(it)
            except StopIteration:
                return
            except errors as exc:
                raise _ReadError(exc) from exc
            self.read += 1
            yield line


@hookimpl
def ingest_stages() -> list[StageSpec]:
    return [
        StageSpec(
            name="jsonl_files",
            kind=StageKind.SOURCE,
            factory=JsonlFilesSource,
            options=JsonlFilesOptions,
            summary="Read JSON Lines files (a file or a folder, compressed too), one document per line.",
        )
    ]
