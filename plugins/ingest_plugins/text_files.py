"""Built-in source ``text_files``: a folder of text files, one document each.

The id of each document is its path relative to the folder, with ``/``
separators (``000_0641a12947d22cdf.txt``, ``2025/07/a.txt``,
``2025/07/b.txt.gz``). Files are read in sorted order so runs are
reproducible. Compressed files (``.gz``, ``.bz2``, ``.xz``, and ``.zst`` with
the ``zstd`` extra) are decompressed; an include pattern matches the
compressed variants of the names it matches.

A file that cannot be read is recorded in the ledger (stage ``source``) with
the reason, and the run goes on: ``undecodable`` (with line and byte offset),
``binary`` (NUL bytes), ``empty``, ``unreadable`` (an OS error), ``corrupt``
(damaged compressed data), ``unsupported_compression`` (a ``.zst`` file
without ``zstandard``), ``too_large`` (over ``max_bytes``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import attrs

from ingest import Document, Origin, StageContext, StageKind, StageSpec, hookimpl, path_field
from ingest.errors import ConfigError
from ingest_plugins import io_util

#: How far into a file to look for NUL bytes before calling it binary.
BINARY_SNIFF_BYTES = 8192


@attrs.define
class TextFilesOptions:
    """Options of the ``text_files`` source."""

    path: str = path_field(".", metadata={"help": "folder to read (or a single file)"})
    include: list[str] = attrs.field(
        factory=lambda: ["**/*.txt"],
        metadata={
            "help": "glob patterns of files to read, relative to path; with compressed = true a pattern "
            "also matches NAME.gz/.bz2/.xz/.zst for each NAME it matches"
        },
    )
    exclude: list[str] = attrs.field(factory=list, metadata={"help": "glob patterns of files to skip"})
    compressed: bool = attrs.field(
        default=True, metadata={"help": "also read the .gz, .bz2, .xz and .zst variants of matching files"}
    )
    encoding: str = attrs.field(
        default="utf-8",
        validator=io_util.validate_encodings,
        metadata={
            "help": 'text encoding of the files, or "auto": a byte-order mark (UTF-8/16/32), else UTF-8'
        },
    )
    fallback_encodings: list[str] = attrs.field(
        factory=list,
        validator=io_util.validate_encodings,
        metadata={"help": 'encodings to try, in order, when a file is not valid in `encoding` (e.g. ["cp1252"])'},
    )
    normalize_newlines: bool = attrs.field(
        default=True, metadata={"help": "turn CRLF and CR line ends into LF"}
    )
    max_bytes: int = attrs.field(
        default=0,
        validator=attrs.validators.ge(0),
        metadata={"help": "drop files larger than this (after decompression) as too_large; 0 = no limit"},
    )


class TextFilesSource:
    """Iterates the matching files of a folder as documents."""

    def __init__(self, options: TextFilesOptions, ctx: StageContext) -> None:
        self.options = options
        self.ctx = ctx
        self.root = Path(options.path)
        if not self.root.exists():
            raise ConfigError(f"[source] path {str(self.root)!r} does not exist")

    def files(self) -> list[Path]:
        """The files to read, in the order they are read."""
        return [path for path, _ in self._found()]

    def _found(self) -> Iterator[tuple[Path, str]]:
        # Relative path strings are held, and each Path made as it is read: a
        # Path per file held for the whole run would cost ~0.5 KB each (half
        # a GB for a million files).
        return io_util.iter_files(
            self.root, self.options.include, self.options.exclude, compressed=self.options.compressed
        )

    def __iter__(self) -> Iterator[Document]:
        for path, doc_id in self._found():
            doc = self.read(path, doc_id)
            if doc is not None:
                yield doc

    def _drop(self, doc_id: str, reason: str, where: str, message: str) -> None:
        self.ctx.drop(doc_id, reason, error=f"{where}: {message}", path=where)

    def read_bytes(self, path: Path, doc_id: str) -> tuple[bytes, float] | None:
        """The file's (decompressed) bytes and mtime, or None after recording why not."""
        where = str(path)
        compression = io_util.compression_of(path.name) if self.options.compressed else None
        try:
            raw = open(where, "rb")  # noqa: SIM115 - closed below
            mtime = os.fstat(raw.fileno()).st_mtime  # the file opened, not a second lookup of its path
        except OSError as exc:
            self._drop(doc_id, "unreadable", where, str(exc.strerror or exc))
            return None
        with contextlib.closing(raw):
            if compression is None:
                try:
                    return io_util.read_all(raw, self.options.max_bytes), mtime
                except io_util.TooLargeError as exc:
                    self._drop(doc_id, "too_large", where, str(exc))
                except OSError as exc:
                    self._drop(doc_id, "unreadable", where, str(exc.strerror or exc))
                return None
            try:
                with io_util.open_decompressed(raw, compression) as stream:
                    return io_util.read_all(stream, self.options.max_bytes), mtime
            except io_util.MissingDependencyError as exc:
                self._drop(doc_id, "unsupported_compression", where, str(exc))
            except io_util.TooLargeError as exc:
                self._drop(doc_id, "too_large", where, f"decompressed, {exc}")
            except io_util.decompression_errors() as exc:
                self._drop(doc_id, "corrupt", where, f"damaged {compression} data: {type(exc).__name__}: {exc}")
        return None

    def read(self, path: Path, doc_id: str) -> Document | None:
        """One file as a document, or None after recording why it could not be read."""
        where = str(path)
        loaded = self.read_bytes(path, doc_id)
        if loaded is None:
            return None
        data, mtime = loaded
        del loaded  # so that `del data` below really frees the bytes
        if not data:
            self._drop(doc_id, "empty", where, "the file is empty")
            return None
        encoding = self.options.encoding
        if encoding == "auto":
            bom = io_util.sniff_bom(data)
            wide = bom is not None and io_util.is_wide_encoding(bom[0])
        else:
            wide = io_util.is_wide_encoding(encoding)
        if not wide and b"\x00" in data[:BINARY_SNIFF_BYTES]:
            self._drop(doc_id, "binary", where, "NUL bytes; not a text file")
            return None
        try:
            decoded = io_util.decode(data, encoding, self.options.fallback_encodings)
        except io_util.DecodeFailure as exc:
            # The message starts with the line: "path:3: not valid utf-8 at byte 81: ..."
            self.ctx.drop(doc_id, "undecodable", error=f"{where}:{exc}", path=where)
            return None
        del data  # free the bytes before newline normalisation makes a second copy of the text
        text = decoded.text
        if self.options.normalize_newlines:
            text = io_util.normalize_newlines(text)
        doc = Document(id=doc_id, text=text, origin=Origin(source="text_files", path=where, mtime=mtime))
        if decoded.fallback:
            primary = "utf-8" if encoding == "auto" else encoding
            self.ctx.warn(f"not valid {primary}; decoded as {decoded.encoding}", doc=doc)
        return doc


@hookimpl
def ingest_stages() -> list[StageSpec]:
    return [
        StageSpec(
            name="text_files",
            kind=StageKind.SOURCE,
            factory=TextFilesSource,
            options=TextFilesOptions,
            summary="Read a folder of text files (recursive globs, compressed, any encoding), one document per file.",
        )
    ]
