"""Built-in source ``text_files``: a folder of text files, one document each.

The id of each document is its path relative to the folder, with ``/``
separators (``000_0641a12947d22cdf.txt``, ``2025/07/a.txt``). Files are read
in sorted order so runs are reproducible. A file that cannot be read is
recorded in the ledger (stage ``source``) with the reason, and the run goes
on: ``undecodable`` (with the byte offset), ``binary`` (NUL bytes),
``empty``, ``unreadable`` (an OS error).
"""

from __future__ import annotations

import codecs
import fnmatch
from collections.abc import Iterator
from pathlib import Path

import attrs

from ingest import Document, Origin, StageContext, StageKind, StageSpec, hookimpl, path_field
from ingest.errors import ConfigError


@attrs.define
class TextFilesOptions:
    """Options of the ``text_files`` source."""

    path: str = path_field(".", metadata={"help": "folder to read (or a single file)"})
    include: list[str] = attrs.field(
        factory=lambda: ["**/*.txt"], metadata={"help": "glob patterns of files to read, relative to path"}
    )
    exclude: list[str] = attrs.field(factory=list, metadata={"help": "glob patterns of files to skip"})
    encoding: str = attrs.field(default="utf-8", metadata={"help": "text encoding of the files"})
    normalize_newlines: bool = attrs.field(
        default=True, metadata={"help": "turn CRLF and CR line ends into LF"}
    )

    @encoding.validator
    def _known_encoding(self, attribute: attrs.Attribute, value: str) -> None:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"encoding: unknown encoding {value!r}") from None


class TextFilesSource:
    """Iterates the matching files of a folder as documents."""

    def __init__(self, options: TextFilesOptions, ctx: StageContext) -> None:
        self.options = options
        self.ctx = ctx
        self.root = Path(options.path)
        if not self.root.exists():
            raise ConfigError(f"[source] path {str(self.root)!r} does not exist")

    def files(self) -> list[Path]:
        if self.root.is_file():
            return [self.root]
        found: set[Path] = set()
        for pattern in self.options.include:
            found.update(p for p in self.root.glob(pattern) if p.is_file())
        relative = {p: p.relative_to(self.root).as_posix() for p in found}
        return sorted(
            (p for p in found if not any(fnmatch.fnmatch(relative[p], ex) for ex in self.options.exclude)),
            key=lambda p: relative[p],
        )

    def __iter__(self) -> Iterator[Document]:
        for path in self.files():
            doc_id = path.name if path == self.root else path.relative_to(self.root).as_posix()
            doc = self.read(path, doc_id)
            if doc is not None:
                yield doc

    def read(self, path: Path, doc_id: str) -> Document | None:
        where = str(path)
        try:
            data = path.read_bytes()
            mtime = path.stat().st_mtime
        except OSError as exc:
            self.ctx.drop(doc_id, "unreadable", error=f"{where}: {exc.strerror or exc}", path=where)
            return None
        if not data:
            self.ctx.drop(doc_id, "empty", error=f"{where}: the file is empty", path=where)
            return None
        if b"\x00" in data[:8192] and not self.options.encoding.lower().startswith("utf-16"):
            self.ctx.drop(doc_id, "binary", error=f"{where}: NUL bytes; not a text file", path=where)
            return None
        encoding = self.options.encoding
        if codecs.lookup(encoding).name == "utf-8":
            encoding = "utf-8-sig"  # a BOM is not part of the text
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            self.ctx.drop(
                doc_id,
                "undecodable",
                error=f"{where}:{line}: not valid {self.options.encoding} at byte {exc.start}: {exc.reason}",
                path=where,
            )
            return None
        if self.options.normalize_newlines and "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        return Document(id=doc_id, text=text, origin=Origin(source="text_files", path=where, mtime=mtime))


@hookimpl
def ingest_stages() -> list[StageSpec]:
    return [
        StageSpec(
            name="text_files",
            kind=StageKind.SOURCE,
            factory=TextFilesSource,
            options=TextFilesOptions,
            summary="Read a folder of text files (recursive globs), one document per file.",
        )
    ]
