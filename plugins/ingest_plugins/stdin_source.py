"""Built-in source ``stdin``: documents from standard input.

``format = "jsonl"`` (the default): one JSON object per line, mapped to
documents exactly as by the ``jsonl_files`` source (ids default to
``stdin:<line>``). ``format = "text"``: the whole input is one document (id
``id``), or with ``split = "line"`` each non-blank line is one
(``stdin:<line>``). Lines that cannot be read are recorded in the ledger with
their line number, and the run goes on. ``max_bytes`` (64 MiB by default)
limits each line (the whole input for ``format = "text"`` without
``split``): a longer one is dropped as ``too_large`` without being held in
memory.

Use it in shell pipelines::

    zcat dump.jsonl.gz | ingest run -c config.toml
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from typing import IO, Literal

import attrs

from ingest import Document, Origin, StageContext, StageKind, StageSpec, hookimpl
from ingest_plugins import io_util
from ingest_plugins.jsonl_source import LineParser, mapping_options

_MAPPING = mapping_options()

#: The ``path`` recorded for documents and drop records from standard input.
STDIN_PATH = "<stdin>"


@attrs.define
class StdinOptions:
    """Options of the ``stdin`` source."""

    format: Literal["jsonl", "text"] = attrs.field(
        default="jsonl", metadata={"help": '"jsonl": one JSON object per line; "text": plain text'}
    )
    split: Literal["none", "line"] = attrs.field(
        default="none",
        metadata={"help": 'for format = "text": "none" = all input is one document, "line" = one per line'},
    )
    id: str = attrs.field(
        default="stdin",
        metadata={"help": 'id of the text document; prefix of line ids ("stdin:3")'},
    )
    encoding: str = attrs.field(
        default="utf-8",
        validator=io_util.validate_encodings,
        metadata={
            "help": 'for format = "text": encoding of the input, or "auto" (byte-order mark, else UTF-8)'
        },
    )
    fallback_encodings: list[str] = attrs.field(
        factory=list,
        validator=io_util.validate_encodings,
        metadata={"help": 'for format = "text": encodings to try when the input is not valid in `encoding`'},
    )
    normalize_newlines: bool = attrs.field(
        default=True, metadata={"help": 'for format = "text": turn CRLF and CR line ends into LF'}
    )
    max_bytes: int = attrs.field(
        default=io_util.DEFAULT_MAX_BYTES,
        validator=attrs.validators.ge(0),
        metadata={
            "help": 'drop a line (with format = "text" and no split: the input) longer than this many '
            "bytes (64 MiB by default) as too_large, without holding it in memory; 0 = no limit"
        },
    )
    # For format = "jsonl", as in the jsonl_files source.
    id_field: str = _MAPPING["id_field"]
    text_field: str = _MAPPING["text_field"]
    metadata_fields: list[str] = _MAPPING["metadata_fields"]
    metadata_field: str = _MAPPING["metadata_field"]


def _stdin_bytes() -> IO[bytes]:
    # Looked up at iteration time, so tests (and embedding code) can swap
    # sys.stdin; a text-only replacement is read through its encoding.
    stream = sys.stdin
    if stream is None:  # no standard input at all (a detached process)
        return io.BytesIO(b"")
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        return buffer  # type: ignore[no-any-return]
    return io.BytesIO(stream.read().encode("utf-8"))


class StdinSource:
    """Yields documents read from standard input."""

    def __init__(self, options: StdinOptions, ctx: StageContext) -> None:
        self.options = options
        self.ctx = ctx

    def __iter__(self) -> Iterator[Document]:
        stream = _stdin_bytes()
        options = self.options
        if options.format == "jsonl":
            parser = LineParser(options, self.ctx, "stdin")
            lines = io_util.read_lines(stream, options.max_bytes)
            yield from parser.parse_lines(lines, label=options.id, path=STDIN_PATH)
        elif options.split == "line":
            yield from self._lines(stream)
        else:
            doc = self._whole(stream)
            if doc is not None:
                yield doc

    def _text(self, data: bytes, doc_id: str, line: int | None) -> str | None:
        where = f"{STDIN_PATH}:{line}" if line is not None else STDIN_PATH
        try:
            decoded = io_util.decode(data, self.options.encoding, self.options.fallback_encodings)
        except io_util.DecodeFailure as exc:
            message = str(exc)
            if line is not None:
                # decode() counts lines within `data`, which is one line here.
                message = message.split(": ", 1)[1]
                self.ctx.drop(doc_id, "undecodable", error=f"{where}: {message}", line=line, path=STDIN_PATH)
            else:
                self.ctx.drop(doc_id, "undecodable", error=f"{where}:{message}", path=STDIN_PATH)
            return None
        text = decoded.text
        if self.options.normalize_newlines:
            text = io_util.normalize_newlines(text)
        return text

    def _lines(self, stream: IO[bytes]) -> Iterator[Document]:
        for number, raw in enumerate(io_util.read_lines(stream, self.options.max_bytes), start=1):
            doc_id = f"{self.options.id}:{number}"
            if isinstance(raw, io_util.LongLine):
                error = f"{STDIN_PATH}:{number}: {io_util.long_line_text(raw)}"
                self.ctx.drop(doc_id, "too_large", error=error, line=number, path=STDIN_PATH)
                continue
            if not raw.strip():
                continue  # blank lines are not documents
            text = self._text(raw.rstrip(b"\r\n"), doc_id, number)
            if text is not None:
                if number == 1:
                    text = text.lstrip("\ufeff")
                yield Document(
                    id=doc_id, text=text, origin=Origin(source="stdin", path=STDIN_PATH, line=number)
                )

    def _whole(self, stream: IO[bytes]) -> Document | None:
        doc_id = self.options.id
        try:
            data = io_util.read_all(stream, self.options.max_bytes)
        except io_util.TooLargeError as exc:
            self.ctx.drop(doc_id, "too_large", error=f"{STDIN_PATH}: the input is {exc}", path=STDIN_PATH)
            return None
        if not data.strip():
            self.ctx.drop(doc_id, "empty", error=f"{STDIN_PATH}: the input is empty", path=STDIN_PATH)
            return None
        text = self._text(data, doc_id, None)
        if text is None:
            return None
        return Document(id=doc_id, text=text, origin=Origin(source="stdin", path=STDIN_PATH))


@hookimpl
def ingest_stages() -> list[StageSpec]:
    return [
        StageSpec(
            name="stdin",
            kind=StageKind.SOURCE,
            factory=StdinSource,
            options=StdinOptions,
            summary="Read documents from standard input: JSON Lines, or plain text (whole or one per line).",
        )
    ]
