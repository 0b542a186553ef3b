"""Built-in source ``text_files``: a folder of text files, one document each.

The id of each document is its path relative to the folder, with ``/``
separators (``000_0641a12947d22cdf.txt``, ``2025/07/a.txt``,
``2025/07/b.txt.gz``). Bytes of a file name that are not UTF-8 appear in the
id as ``\\xNN`` escapes (the name ``bad<0xff>.txt`` gives the id
``bad\\xff.txt``); the file is read all the same. Files are read in sorted
order so runs are reproducible. Compressed files (``.gz``, ``.bz2``, ``.xz``,
and ``.zst`` with the ``zstd`` extra) are decompressed; an include pattern
matches the compressed variants of the names it matches.

A file that cannot be read is recorded in the ledger (stage ``source``) with
the reason, and the run goes on: ``undecodable`` (with line and byte offset),
``binary`` (NUL bytes), ``empty``, ``unreadable`` (an OS error, a named pipe,
or a folder that cannot be listed: id ``<folder>/``), ``broken_link`` (a
symbolic link to nothing), ``link_loop`` (a symbolic link that leads back to
itself), ``corrupt`` (damaged or truncated compressed data),
``unsupported_compression`` (a ``.zst`` file without ``zstandard``),
``too_large`` (over ``max_bytes``, 64 MiB by default, after decompression:
reading stops at the limit, so a decompression bomb never inflates). A
symbolic link to a folder is not followed, with a warning. A folder in which
no file matches ``include`` is a warning that says what is there instead
(``no file in /x matches include ['**/*.txt'] (found 12 files: 12 .html);
nothing to do``), in the run's report and from ``ingest check``.

``path`` may be a URL (``s3://bucket/in``, ``gs://...``, ``memory://...``),
read through fsspec with ``storage_options`` (see
:mod:`ingest_plugins.storage`): every object under the prefix is listed, and
matched, ordered, read and recorded as a local file would be, its URL as
its path (an object store has no links or unlistable folders to report).
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, Protocol

import attrs

from ingest import Document, Origin, StageContext, StageKind, StageSpec, hookimpl, path_field
from ingest.contract.errors import ConfigError
from ingest_plugins import io_util, storage

#: How far into a file to look for NUL bytes before calling it binary.
BINARY_SNIFF_BYTES = 8192

#: How many kinds of file (extensions) a "no file matches" warning lists.
MAX_KINDS_SHOWN = 5

STORAGE_OPTIONS_HELP = (
    "for a URL path (s3://, gs://, memory://): options of its fsspec filesystem, e.g. "
    '{endpoint_url = "http://127.0.0.1:9000"} for an S3-compatible server; credentials also come '
    "from the usual environment (AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL, ...)"
)


def source_path(_instance: Any, attribute: attrs.Attribute, value: str) -> None:
    """attrs validator of a source's ``path``: a URL needs fsspec (and the
    filesystem's package), said at config time with what to install."""
    if storage.is_url(value):
        storage.check_available(value, attribute.name)


@attrs.define
class TextFilesOptions:
    """Options of the ``text_files`` source."""

    path: str = path_field(
        ".",
        validator=source_path,
        metadata={"help": "folder to read (or a single file); a URL (s3://bucket/in) is read through fsspec"},
    )
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
        metadata={
            "help": 'encodings to try, in order, when a file is not valid in `encoding` (e.g. ["cp1252"])'
        },
    )
    normalize_newlines: bool = attrs.field(
        default=True, metadata={"help": "turn CRLF and CR line ends into LF"}
    )
    max_bytes: int = attrs.field(
        default=io_util.DEFAULT_MAX_BYTES,
        validator=attrs.validators.ge(0),
        metadata={
            "help": "drop files larger than this many bytes (64 MiB by default) after decompression as "
            "too_large, without reading past it; 0 = no limit"
        },
    )
    storage_options: dict[str, Any] = attrs.field(factory=dict, metadata={"help": STORAGE_OPTIONS_HELP})


@attrs.frozen
class FilesPart:
    """One shard's share of a folder: its files' relative paths in reading order,
    joined by NUL (no file name holds one), and, for the first, what the folder
    walk could not read. One string a shard instead of one a file: a run plans
    every shard at the start, and a million paths as strings of their own took
    ~75 MB in the ``ingest run`` process and in each worker it forks."""

    names: str
    skipped: tuple[io_util.Skipped, ...] = ()

    @property
    def files(self) -> list[str]:
        """The relative paths, in reading order."""
        return self.names.split("\0") if self.names else []


class TextFilesSource:
    """Iterates the matching files of a folder as documents."""

    def __init__(self, options: TextFilesOptions, ctx: StageContext) -> None:
        self.options = options
        self.ctx = ctx
        self.root = Path(options.path)
        #: the folder at a URL path, read through fsspec; None for a local path
        self.remote = open_remote(options.path, options.storage_options)
        if self.remote is None:
            check_root(self.root)

    def files(self) -> list[Path] | list[str]:
        """The files to read, in the order they are read (for a URL path:
        their URLs)."""
        if self.remote is not None:
            return [url for url, _ in remote_found(self.remote, self._scan())]
        return [path for path, _ in self._found(self._scan())]

    def _scan(self) -> io_util.Scan:
        if self.remote is not None:
            return remote_scan(self.remote, self.options)
        return io_util.scan(
            self.root, self.options.include, self.options.exclude, compressed=self.options.compressed
        )

    def _found(self, scan: io_util.Scan) -> Iterator[tuple[Path, str]]:
        # Relative path strings are held, and each Path made as it is read: a
        # Path per file held for the whole run would cost ~0.5 KB each (half
        # a GB for a million files).
        if self.root.is_file():
            yield self.root, self.root.name
            return
        for rel in scan.files:
            yield self.root / rel, rel

    def check(self) -> None:
        """For ``ingest check``: walk the folder (reading no file) and warn
        when no file matches, saying what is there."""
        if self.remote is not None:
            warn_if_nothing_matches_remote(self.ctx, self.remote, self.options, self._scan())
            return
        warn_if_nothing_matches(self.ctx, self.root, self.options, self._scan())

    def __iter__(self) -> Iterator[Document]:
        if self.remote is not None:
            scan = self._scan()
            warn_if_nothing_matches_remote(self.ctx, self.remote, self.options, scan)
            for url, rel in remote_found(self.remote, scan):
                doc = self.read(url, io_util.text_path(rel))
                if doc is not None:
                    yield doc
            return
        scan = self._scan()
        report_skipped(self.ctx, self.root, scan.skipped)
        warn_if_nothing_matches(self.ctx, self.root, self.options, scan)
        for path, rel in self._found(scan):
            doc = self.read(path, io_util.text_path(rel))
            if doc is not None:
                yield doc

    # -- shards (see ingest.engine.shards) -------------------------------------

    def plan(self, files_per_shard: int) -> Generator[FilesPart, None, FilesPart | None]:
        """The matching files cut into parts of ``files_per_shard`` files, in
        reading order, the files of the last two cut anew into smaller parts
        (:func:`~ingest_plugins.io_util.tail_sizes`; 9 files in parts of 4: 4, 3,
        1 and 1): a sharded run reads each with :meth:`read_shard`. What
        the folder walk could not read goes with the first part, where
        ``__iter__`` records it, so the shards' records in order are this
        source's records. No file: no part.

        A generator: the parts come as the walk finds the files, in order, and the
        two last wait until it ends (a run writes them to disk as they come, so
        that no list of every path, nor of every part, is ever held: a million
        paths as strings were ~85 MB, as parts ~18 MB). The first part is known
        complete only when the walk ends: the generator returns it then, with what
        the walk could not read (None when that is nothing);
        :func:`ingest.engine.shards.planned_list` makes the list."""
        found: Iterator[str]
        if self.remote is not None:
            scan = self._scan()
            found, skipped = iter(scan.files), lambda: scan.skipped
        else:
            walk = io_util.FolderWalk(
                self.root, self.options.include, self.options.exclude, compressed=self.options.compressed
            )
            found, skipped = iter(walk), lambda: walk.scan([]).skipped
        first: FilesPart | None = None
        last_two: list[FilesPart] = []  # cut anew once the walk ends
        while chunk := list(itertools.islice(found, files_per_shard)):
            last_two.append(FilesPart("\0".join(chunk)))
            if len(last_two) > 2:
                part = last_two.pop(0)
                first = part if first is None else first
                yield part
        if len(last_two) == 2:
            # the last two parts' files in parts that get smaller: the workers that finish
            # a phase first wait for a small one, not for a whole shard
            tail, start = last_two[0].files + last_two[1].files, 0
            last_two = []
            for size in io_util.tail_sizes(len(tail)):
                last_two.append(FilesPart("\0".join(tail[start : start + size])))
                start += size
        for part in last_two:
            first = part if first is None else first
            yield part
        # what the walk could not read goes with the first part (known once it ends)
        cannot = tuple(skipped())
        return attrs.evolve(first, skipped=cannot) if first is not None and cannot else None

    def read_shard(self, part: FilesPart) -> Iterator[Document]:
        """The documents of one part of :meth:`plan`: what ``__iter__`` yields
        (and records) for those files."""
        if self.remote is not None:
            for url, rel in remote_found(self.remote, io_util.Scan(part.files, [])):
                doc = self.read(url, io_util.text_path(rel))
                if doc is not None:
                    yield doc
            return
        report_skipped(self.ctx, self.root, list(part.skipped))
        for path, rel in self._found(io_util.Scan(part.files, [])):
            doc = self.read(path, io_util.text_path(rel))
            if doc is not None:
                yield doc

    def _drop(self, doc_id: str, reason: str, where: str, message: str) -> None:
        self.ctx.drop(doc_id, reason, error=f"{where}: {message}", path=where)

    def read_bytes(self, path: Path | str, doc_id: str) -> tuple[bytes, float | None] | None:
        """The file's (decompressed) bytes and mtime, or None after recording why not.
        ``path`` is a URL string when the source's path is a URL."""
        if self.remote is not None:
            return self._read_remote_bytes(str(path), doc_id)
        assert isinstance(path, Path)
        where = io_util.text_path(str(path))
        compression = io_util.compression_of(path.name) if self.options.compressed else None
        try:
            raw = open(path, "rb")  # noqa: SIM115 - closed below
            status = os.fstat(raw.fileno())  # the file opened, not a second lookup of its path
        except OSError as exc:
            self._drop(doc_id, "unreadable", where, str(exc.strerror or exc))
            return None
        mtime = status.st_mtime
        max_bytes = self.options.max_bytes
        with contextlib.closing(raw):
            if compression is None:
                try:
                    return io_util.read_all(raw, max_bytes, size_hint=status.st_size), mtime
                except io_util.TooLargeError as exc:
                    self._drop(doc_id, "too_large", where, f"{io_util.size_text(status.st_size)}, {exc}")
                except OSError as exc:
                    self._drop(doc_id, "unreadable", where, str(exc.strerror or exc))
                return None
            try:
                with io_util.open_decompressed(raw, compression) as stream:
                    return io_util.read_all(stream, max_bytes), mtime
            except io_util.MissingDependencyError as exc:
                self._drop(doc_id, "unsupported_compression", where, str(exc))
            except io_util.TooLargeError as exc:
                self._drop(doc_id, "too_large", where, f"decompressed, {exc}")
            except io_util.decompression_errors() as exc:
                self._drop(
                    doc_id, "corrupt", where, f"damaged {compression} data: {type(exc).__name__}: {exc}"
                )
        return None

    def _read_remote_bytes(self, url: str, doc_id: str) -> tuple[bytes, float | None] | None:
        """:meth:`read_bytes` for a file at a URL: the same reasons, the URL as the path."""
        assert self.remote is not None
        compression = io_util.compression_of(url) if self.options.compressed else None
        try:
            raw, size, mtime = self.remote.open_input(url)
        except OSError as exc:
            self._drop(doc_id, "unreadable", url, str(exc.strerror or exc))
            return None
        max_bytes = self.options.max_bytes
        with contextlib.closing(raw):
            try:
                if compression is None:
                    return io_util.read_all(raw, max_bytes, size_hint=size), mtime
                with io_util.open_decompressed(raw, compression) as stream:
                    return io_util.read_all(stream, max_bytes), mtime
            except io_util.MissingDependencyError as exc:
                self._drop(doc_id, "unsupported_compression", url, str(exc))
            except io_util.TooLargeError as exc:
                if compression:
                    size_said = "decompressed"
                else:
                    size_said = io_util.size_text(size) if size is not None else "uncompressed"
                self._drop(doc_id, "too_large", url, f"{size_said}, {exc}")
            except io_util.decompression_errors() as exc:
                if compression is None:  # an OSError of the read itself (the network, the store)
                    self._drop(doc_id, "unreadable", url, str(getattr(exc, "strerror", None) or exc))
                else:
                    self._drop(
                        doc_id, "corrupt", url, f"damaged {compression} data: {type(exc).__name__}: {exc}"
                    )
            except Exception as exc:  # noqa: BLE001 - a store's own error mid-read: this input is lost, not the run
                self._drop(doc_id, "unreadable", url, f"{type(exc).__name__}: {exc}")
        return None

    def read(self, path: Path | str, doc_id: str) -> Document | None:
        """One file as a document, or None after recording why it could not be read."""
        where = io_util.text_path(str(path))
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


def open_remote(path: str, storage_options: dict[str, Any]) -> storage.RemoteFolder | None:
    """The folder or file at ``path`` when it is a URL (None for a local
    path); :class:`ConfigError` when it does not exist or cannot be listed
    (a wrong bucket, no credentials, an unreachable endpoint)."""
    if not storage.is_url(path):
        return None
    try:
        remote = storage.RemoteFolder(path, storage_options)
        exists = remote.exists()
    except ValueError as exc:  # a missing package, an unknown protocol, a bad storage option
        raise ConfigError(f"[source] {exc}") from None
    except Exception as exc:  # noqa: BLE001 - filesystem libraries raise their own errors
        raise ConfigError(f"[source] path {path!r} cannot be listed: {type(exc).__name__}: {exc}") from None
    if not exists:
        raise ConfigError(f"[source] path {path!r} does not exist (no object under that prefix)")
    return remote


def remote_scan(remote: storage.RemoteFolder, options: FileSelection) -> io_util.Scan:
    """The objects under a URL prefix that match ``include`` and ``exclude``,
    sorted like a local folder's files (a single file: just it)."""
    if remote.is_file():
        return io_util.Scan([""], [])
    return io_util.scan_names(
        remote.list_files(), options.include, options.exclude, compressed=options.compressed
    )


def remote_found(remote: storage.RemoteFolder, scan: io_util.Scan) -> Iterator[tuple[str, str]]:
    """``(URL, relative path)`` of each file of a :func:`remote_scan`; a
    single file's relative path is its name, as for a local file."""
    for rel in scan.files:
        if rel:
            yield remote.url_of(rel), rel
        else:
            yield remote.url, remote.url.rpartition("/")[2]


def warn_if_nothing_matches_remote(
    ctx: StageContext, remote: storage.RemoteFolder, options: FileSelection, scan: io_util.Scan
) -> None:
    """:func:`warn_if_nothing_matches` for a URL prefix."""
    if scan.files:
        return
    message = nothing_matches(Path(), options, scan, where=remote.url)
    if message is not None:
        ctx.warn(message)


def check_root(root: Path) -> None:
    """Raise :class:`ConfigError` when the configured path is missing or is
    a folder that cannot be listed (nothing at all could be read)."""
    if not root.exists():
        raise ConfigError(f"[source] path {io_util.text_path(str(root))!r} does not exist")
    if root.is_dir():
        try:
            with os.scandir(root):
                pass
        except OSError as exc:
            raise ConfigError(
                f"[source] path {io_util.text_path(str(root))!r} cannot be listed: {exc.strerror or exc}"
            ) from None


class FileSelection(Protocol):
    """The options of a source that reads the matching files of a folder."""

    include: list[str]
    exclude: list[str]
    compressed: bool


def nothing_matches(
    root: Path, options: FileSelection, scan: io_util.Scan, *, where: str | None = None
) -> str | None:
    """When a folder holds no file to read (and nothing was lost reading
    it), what was looked for and what is there: ``no file in /x matches
    include ['**/*.txt'] (found 12 files: 12 .html); nothing to do``.
    None when there is something to read, or a single file was named.
    ``where`` names a folder that is not ``root`` (a URL)."""
    if scan.files or (where is None and root.is_file()) or any(not item.warning for item in scan.skipped):
        return None
    if where is None:
        where = io_util.text_path(str(root))
    total = sum(scan.others.values())
    if not total:
        found = "the folder holds no files"
    else:
        kinds = sorted(scan.others.items(), key=lambda item: (-item[1], item[0]))
        shown = ", ".join(f"{count} {kind}" for kind, count in kinds[:MAX_KINDS_SHOWN])
        more = f" and {len(kinds) - MAX_KINDS_SHOWN} more kinds" if len(kinds) > MAX_KINDS_SHOWN else ""
        found = f"found {total} file{'s' if total != 1 else ''}: {shown}{more}"
        if scan.excluded:
            found += f"; {scan.excluded} of them match include but also exclude {list(options.exclude)!r}"
    links = sum(1 for item in scan.skipped if item.warning)
    if links:
        found += f"; {links} link{'s' if links != 1 else ''} to folders not followed"
    return f"no file in {where} matches include {list(options.include)!r} ({found}); nothing to do"


def warn_if_nothing_matches(
    ctx: StageContext, root: Path, options: FileSelection, scan: io_util.Scan
) -> None:
    """Record :func:`nothing_matches`'s message as a warning of the source, if any."""
    message = nothing_matches(root, options, scan)
    if message is not None:
        ctx.warn(message)


def report_skipped(ctx: StageContext, root: Path, skipped: list[io_util.Skipped]) -> None:
    """Record what a folder walk could not read: a drop (stage ``source``,
    id = the relative path) for each input lost, a warning for a link to a
    folder, each naming the path."""
    for item in skipped:
        full = str(root) if item.relative == "./" else os.path.join(str(root), item.relative)
        where = io_util.text_path(full)
        if item.warning:
            ctx.warn(f"{where}: {item.message}")
        else:
            doc_id = io_util.text_path(item.relative)
            ctx.drop(doc_id, item.reason, error=f"{where}: {item.message}", path=where)


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
