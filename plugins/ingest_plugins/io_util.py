"""Shared input/output helpers of the built-in sources and sinks.

* compression: which files are compressed (by suffix), opening them for
  reading and writing (``.gz``, ``.bz2``, ``.xz`` from the standard library,
  ``.zst`` through the optional ``zstandard`` package, ``pip install
  'ingest[zstd]'``);
* decoding: byte-order-mark sniffing, strict decoding with a declared list of
  fallback encodings, and error messages that name the line and byte;
* limits: a per-document size limit (:data:`DEFAULT_MAX_BYTES`) that stops
  reading, and so decompressing, at the limit (a decompression bomb never
  inflates), for whole files and for single lines;
* finding files: include/exclude globs that also match the compressed
  variants of the names they match, and what a folder walk could not read
  (unlistable folders, dangling links, link loops);
* file names as text: bytes that are not UTF-8 become ``\\xNN`` escapes.

Everything here works on whole streams or single reads, never on repeated
slicing, so a 50 MB one-line file costs one pass.
"""

from __future__ import annotations

import bz2
import codecs
import collections
import contextlib
import errno
import fnmatch
import gzip
import importlib.util
import io
import lzma
import os
import re
import stat
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Literal

import attrs

#: File-name suffix -> compression name.
COMPRESSION_SUFFIXES: dict[str, str] = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}
#: Compression name -> the suffix a written file gets.
SUFFIX_OF: dict[str, str] = {name: suffix for suffix, name in COMPRESSION_SUFFIXES.items()}

Compression = Literal["none", "gzip", "bz2", "xz", "zstd"]

ZSTD_HINT = "reading and writing .zst files needs the zstandard package: pip install 'ingest[zstd]'"


class MissingDependencyError(RuntimeError):
    """An optional package that this input or output needs is not installed."""


#: The default per-document size limit of the built-in sources (64 MiB):
#: a larger file, or JSON Lines line, is dropped as ``too_large`` without
#: being read past the limit.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024

#: Reads of a stream of unknown length grow up to this size.
_MAX_CHUNK = 16 * 1024 * 1024


class TooLargeError(ValueError):
    """A file (after decompression) is larger than the configured limit."""


class TruncatedError(EOFError):
    """Compressed data that ends before its end marker (a cut-off download)."""


class DecodeFailure(ValueError):
    """The bytes are not text in any of the encodings tried; the message says
    where (line and byte offset) and which encodings were tried."""


# -- compression -----------------------------------------------------------


#: How many shards the inputs of a plan's last two parts are cut into anew (see :func:`tail_sizes`).
TAIL_SHARDS = 4


def tail_sizes(total: int) -> list[int]:
    """How a sharded source cuts anew the ``total`` inputs of its plan's last two parts:
    the larger half of what is left, three times, then the rest, no empty one (3,620
    files: 1,810, 905, 453 and 452; 9 lines: 5, 2, 1 and 1). A phase ends when its
    last shard does: with shards that get smaller at the end, the workers that finish
    first wait for a fraction of a shard, where 11 equal shards on 2 workers kept one
    of them idle through the eleventh (about 8% of the run on 21,720 pages)."""
    sizes: list[int] = []
    left = total
    while left and len(sizes) < TAIL_SHARDS - 1:
        take = left - left // 2
        sizes.append(take)
        left -= take
    if left:
        sizes.append(left)
    return sizes


def compression_of(name: str) -> str | None:
    """``"gzip"``, ``"bz2"``, ``"xz"``, ``"zstd"`` from a file name's suffix, else None."""
    for suffix, compression in COMPRESSION_SUFFIXES.items():
        if name.endswith(suffix):
            return compression
    return None


def strip_compression(name: str) -> str:
    """The name without its compression suffix (``a.txt.gz`` -> ``a.txt``)."""
    compression = compression_of(name)
    return name[: -len(SUFFIX_OF[compression])] if compression else name


def _zstd_module() -> Any:
    """The zstd implementation: the ``zstandard`` package, or the standard
    library's ``compression.zstd`` (Python 3.14+); None when neither exists."""
    if importlib.util.find_spec("zstandard") is not None:
        import zstandard

        return zstandard
    if importlib.util.find_spec("compression") is not None:
        try:
            from compression import zstd  # type: ignore[import-not-found]
        except ImportError:
            return None
        return zstd
    return None


def zstd_available() -> bool:
    return _zstd_module() is not None


def decompression_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the compressed data is damaged" (truncated,
    bad header, bad checksum). ``OSError`` is among them: gzip and bz2 raise
    it for bad data."""
    errors: list[type[BaseException]] = [OSError, EOFError, zlib.error, lzma.LZMAError]
    module = _zstd_module()
    for name in ("ZstdError",):
        error = getattr(module, name, None) if module is not None else None
        if isinstance(error, type) and issubclass(error, BaseException):
            errors.append(error)
    return tuple(errors)


def open_decompressed(raw: IO[bytes], compression: str | None) -> IO[bytes]:
    """Wrap an open binary file so reads return decompressed bytes.

    Closing the wrapper leaves ``raw`` open; the caller closes it. Raises
    :class:`MissingDependencyError` for zstd without an implementation.
    """
    if compression is None or compression == "none":
        return raw
    if compression == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if compression == "bz2":
        return bz2.BZ2File(raw, "rb")  # type: ignore[return-value]
    if compression == "xz":
        return lzma.LZMAFile(raw, "rb")  # type: ignore[return-value]
    if compression == "zstd":
        module = _zstd_module()
        if module is None:
            raise MissingDependencyError(ZSTD_HINT)
        if hasattr(module, "ZstdDecompressor") and hasattr(module.ZstdDecompressor, "stream_reader"):
            # zstandard: read concatenated frames too (like gzip members), and
            # buffer it so line iteration works.
            reader = module.ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=False)
            return io.BufferedReader(_CheckedZstdReader(reader, raw), buffer_size=256 * 1024)
        return module.ZstdFile(raw, "rb")  # type: ignore[no-any-return]
    raise ValueError(f"unknown compression {compression!r}")


class _CheckedZstdReader(io.RawIOBase):
    """A ``zstandard`` stream reader that raises :class:`TruncatedError` at
    the end of a cut-off file. The reader itself ends such a file silently,
    as if it were complete (a truncated file read as ``empty``); at the end
    of the data the frame structure of the file is checked (block headers
    only, a few bytes per 128 KiB of text)."""

    def __init__(self, reader: Any, raw: IO[bytes]) -> None:
        super().__init__()
        self._reader = reader
        self._raw = raw
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count: int = self._reader.readinto(buffer)
        if count == 0 and len(buffer) > 0 and not self._checked:
            self._checked = True
            problem = zstd_truncation(self._raw)
            if problem is not None:
                raise TruncatedError(problem)
        return count

    def close(self) -> None:
        if not self.closed:
            self._reader.close()
        super().close()


_ZSTD_MAGIC = 0xFD2FB528
_ZSTD_DICT_ID_BYTES = (0, 1, 2, 4)


def zstd_truncation(raw: IO[bytes]) -> str | None:
    """Why the zstd data in ``raw`` (a seekable binary file) is cut off, or
    None when every frame is complete (or ``raw`` cannot seek). Walks the
    frame and block headers (RFC 8878) without decompressing; data that is
    not zstd at all is left to the decompressor to reject."""
    try:
        if not raw.seekable():
            return None
        end = raw.seek(0, io.SEEK_END)
    except (OSError, ValueError):
        return None

    def read_at(offset: int, count: int) -> bytes:
        raw.seek(offset)
        return raw.read(count)

    pos = 0
    try:
        while pos < end:
            head = read_at(pos, 5)
            if len(head) < 4:
                return f"truncated: {len(head)} stray bytes at byte {pos}"
            magic = int.from_bytes(head[:4], "little")
            if magic & 0xFFFFFFF0 == 0x184D2A50:  # a skippable frame: magic, 4-byte size, data
                length = read_at(pos + 4, 4)
                if len(length) < 4:
                    return f"truncated: skippable frame at byte {pos} has no size"
                pos += 8 + int.from_bytes(length, "little")
                if pos > end:
                    return f"truncated: skippable frame ends at byte {pos}, the file at byte {end}"
                continue
            if magic != _ZSTD_MAGIC:
                return None
            if len(head) < 5:
                return f"truncated: frame at byte {pos} has no header"
            descriptor = head[4]
            single_segment = (descriptor >> 5) & 1
            content_size_bytes = (single_segment, 2, 4, 8)[descriptor >> 6]
            pos += 5 + (1 - single_segment) + _ZSTD_DICT_ID_BYTES[descriptor & 3] + content_size_bytes
            while True:
                block = read_at(pos, 3)
                if len(block) < 3:
                    return f"truncated: the data ends at byte {end} inside a frame (no end-of-frame block)"
                fields = int.from_bytes(block, "little")
                block_type, size = (fields >> 1) & 3, fields >> 3
                pos += 3 + (1 if block_type == 1 else size)  # an RLE block holds one byte
                if pos > end:
                    return f"truncated: a block ends at byte {pos}, the file at byte {end}"
                if fields & 1:  # the last block of the frame
                    break
            if (descriptor >> 2) & 1:  # a content checksum follows
                pos += 4
                if pos > end:
                    return f"truncated: the frame's checksum is cut off at byte {end}"
        return None
    finally:
        with contextlib.suppress(OSError, ValueError):
            raw.seek(end)


def open_compressed_writer(raw: IO[bytes], compression: str) -> IO[bytes]:
    """Wrap an open binary file so writes are compressed; closing the wrapper
    finishes the compressed stream and leaves ``raw`` open."""
    if compression == "none":
        return raw
    if compression == "gzip":
        # No file name and a zero mtime in the header: the temporary name is
        # not the real one, and equal input should give equal output.
        return gzip.GzipFile(fileobj=raw, mode="wb", filename="", mtime=0, compresslevel=6)  # type: ignore[return-value]
    if compression == "bz2":
        return bz2.BZ2File(raw, "wb")  # type: ignore[return-value]
    if compression == "xz":
        return lzma.LZMAFile(raw, "wb")  # type: ignore[return-value]
    if compression == "zstd":
        module = _zstd_module()
        if module is None:
            raise MissingDependencyError(ZSTD_HINT)
        if hasattr(module, "ZstdCompressor") and hasattr(module.ZstdCompressor, "stream_writer"):
            return module.ZstdCompressor(level=3).stream_writer(raw, closefd=False)  # type: ignore[no-any-return]
        return module.ZstdFile(raw, "wb")  # type: ignore[no-any-return]
    raise ValueError(f"unknown compression {compression!r}")


def check_compression_available(compression: str) -> None:
    """Raise ``ValueError`` (turned into a config error) when ``compression``
    needs a package that is not installed."""
    if compression == "zstd" and not zstd_available():
        raise ValueError(f"compression 'zstd': {ZSTD_HINT}")


def size_text(count: int) -> str:
    """``67108864`` -> ``"67,108,864 bytes (64 MiB)"``: exact, and readable."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= factor:
            return f"{count:,} bytes ({count / factor:.3g} {unit})"
    return f"{count:,} bytes"


def too_large_text(max_bytes: int) -> str:
    return f"larger than max_bytes = {size_text(max_bytes)}; not read past the limit"


def read_all(stream: IO[bytes], max_bytes: int = 0, *, size_hint: int | None = None) -> bytes:
    """Read a whole stream; with ``max_bytes > 0`` raise :class:`TooLargeError`
    instead of reading past it (a decompression bomb stops there, and never
    holds more than the limit in memory).

    ``size_hint`` (the size of an uncompressed file) makes it one read;
    otherwise reads start small and grow, so a small document does not
    reserve ``max_bytes`` of memory."""
    if max_bytes <= 0:
        return stream.read()
    if size_hint is not None and size_hint > max_bytes:
        raise TooLargeError(too_large_text(max_bytes))
    chunk = max(size_hint + 1 if size_hint is not None else 0, 64 * 1024)
    chunks: list[bytes] = []
    total = 0
    while True:
        data = stream.read(min(chunk, max_bytes + 1 - total))
        if not data:
            break
        chunks.append(data)
        total += len(data)
        if total > max_bytes:
            raise TooLargeError(too_large_text(max_bytes))
        chunk = min(chunk * 2, _MAX_CHUNK)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


@attrs.frozen
class LongLine:
    """A line longer than the limit, in place of its bytes (see
    :func:`read_lines`): ``length`` is its size, newline included, and
    ``limit`` the ``max_bytes`` it exceeds."""

    length: int
    limit: int


def long_line_text(line: LongLine) -> str:
    """What a drop record says about a :class:`LongLine`."""
    return (
        f"the line is {size_text(line.length)}, larger than max_bytes = {size_text(line.limit)}; "
        "read past, never held in memory"
    )


def read_lines(stream: IO[bytes], max_bytes: int = 0) -> Iterator[bytes | LongLine]:
    """The lines of a binary stream; with ``max_bytes > 0`` a longer line is
    read past in pieces and given as a :class:`LongLine`, so one giant line
    (a decompression bomb without newlines) never sits in memory."""
    if max_bytes <= 0:
        yield from stream
        return
    readline = stream.readline
    limit = max_bytes + 1
    while True:
        line = readline(limit)
        if len(line) < limit or line.endswith(b"\n"):
            if not line:
                return
            yield line
            continue
        length = len(line)
        while True:  # skip the rest of the line without keeping it
            piece = readline(_MAX_CHUNK)
            length += len(piece)
            if not piece or piece.endswith(b"\n"):
                break
        yield LongLine(length, max_bytes)


# -- decoding --------------------------------------------------------------

# UTF-32 before UTF-16: the UTF-32-LE mark starts with the UTF-16-LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def sniff_bom(data: bytes) -> tuple[str, int] | None:
    """``(encoding, length of the mark)`` when ``data`` starts with a Unicode
    byte-order mark, else None."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding, len(bom)
    return None


def is_wide_encoding(encoding: str) -> bool:
    """UTF-16 and UTF-32 text is full of NUL bytes; other text is not."""
    name = codecs.lookup(encoding).name
    return name.startswith(("utf-16", "utf-32"))


def check_encoding(value: str, *, allow_auto: bool = True) -> None:
    """Raise ``ValueError`` for an encoding name Python does not know."""
    if allow_auto and value == "auto":
        return
    try:
        codecs.lookup(value)
    except LookupError:
        hint = ' (or "auto")' if allow_auto else ""
        raise ValueError(f"unknown encoding {value!r}{hint}") from None


def validate_encodings(instance: object, attribute: attrs.Attribute, value: object) -> None:
    """attrs validator for an ``encoding`` option (``"auto"`` allowed) or a
    list of fallback encodings (``"auto"`` not allowed)."""
    values = value if isinstance(value, list) else [value]
    for item in values:
        try:
            check_encoding(str(item), allow_auto=not isinstance(value, list))
        except ValueError as exc:
            raise ValueError(f"{attribute.name}: {exc}") from None


@attrs.frozen
class Decoded:
    """Decoded text and the encoding it was decoded with; ``fallback`` is true
    when the primary encoding failed and a fallback encoding was used."""

    text: str
    encoding: str
    fallback: bool = False


def _failure_text(data: bytes, offset: int, encoding: str, exc: UnicodeDecodeError) -> str:
    line = data.count(b"\n", 0, exc.start + offset) + 1
    return f"{line}: not valid {encoding} at byte {exc.start + offset}: {exc.reason}"


def decode(data: bytes, encoding: str = "utf-8", fallbacks: Sequence[str] = ()) -> Decoded:
    """Decode ``data`` strictly.

    ``encoding = "auto"``: a byte-order mark decides (UTF-8, UTF-16, UTF-32),
    else UTF-8. A declared UTF-8 (or UTF-16/32 with a mark) drops the mark.
    When the primary encoding fails, each of ``fallbacks`` is tried in order.
    Raises :class:`DecodeFailure` whose message starts with the 1-based line
    (``"3: not valid utf-8 at byte 81: invalid start byte"``).
    """
    offset = 0
    if encoding == "auto":
        bom = sniff_bom(data)
        if bom is not None:
            # A byte-order mark is a declaration: no fallback second-guesses it.
            primary, offset = bom
            fallbacks = ()
        else:
            primary = "utf-8"
    else:
        primary = encoding
        if codecs.lookup(encoding).name == "utf-8" and data.startswith(codecs.BOM_UTF8):
            offset = len(codecs.BOM_UTF8)  # a BOM is not part of the text
    try:
        # A memoryview skips the mark without copying the bytes.
        return Decoded(str(memoryview(data)[offset:], primary), primary)
    except UnicodeDecodeError as exc:
        failure = _failure_text(data, offset, primary, exc)
    for fallback in fallbacks:
        try:
            return Decoded(data.decode(fallback), fallback, fallback=True)
        except UnicodeDecodeError:
            continue
    if fallbacks:
        failure += f" (fallback encodings {', '.join(fallbacks)} failed too)"
    raise DecodeFailure(failure)


def normalize_newlines(text: str) -> str:
    """CRLF and lone CR become LF (two linear passes, only when needed)."""
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


# -- finding files ---------------------------------------------------------


def _matches(relative: str, patterns: Iterable[str], compressed: bool) -> bool:
    names = [relative]
    if compressed and compression_of(relative):
        names.append(strip_compression(relative))
    return any(fnmatch.fnmatchcase(name, pattern) for name in names for pattern in patterns)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A regex matching the relative POSIX paths that :meth:`Path.glob`
    matches with ``pattern``: ``**`` is any number of directories (none
    included), ``*`` and ``?`` stay within one path segment, ``[...]`` is a
    character class (``[!...]`` negated)."""
    parts: list[str] = []
    segments = [seg for seg in pattern.strip("/").split("/") if seg not in ("", ".")]
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == "**":
            # directories only: "**" as the last segment matches no file
            parts.append("(?:[^/]+/)*" if not last else "(?!)")
            continue
        parts.append(_segment_regex(segment) + ("" if last else "/"))
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


def _segment_regex(segment: str) -> str:
    """One path segment of a glob pattern as a regex (``/`` never matched)."""
    out: list[str] = []
    i, n = 0, len(segment)
    while i < n:
        c = segment[i]
        i += 1
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = i
            if j < n and segment[j] in "!^":
                j += 1
            if j < n and segment[j] == "]":
                j += 1
            while j < n and segment[j] != "]":
                j += 1
            if j >= n:  # no closing bracket: a literal "["
                out.append(r"\[")
                continue
            body = segment[i:j].replace("\\", "\\\\")
            i = j + 1
            if body[:1] in ("!", "^"):
                body = "^" + body[1:]
            out.append(f"[{body}]")
        else:
            out.append(re.escape(c))
    return "".join(out)


def text_path(path: str) -> str:
    """``path`` as valid text, for ids, records and messages. A file name
    that is not UTF-8 reaches Python with each bad byte as a lone surrogate
    (``surrogateescape``), which no UTF-8 output can hold; each such byte
    becomes a ``\\xNN`` escape (the bytes ``bad\\xff.txt`` give the text
    ``bad\\xff.txt``, with a real backslash). Valid names are unchanged.
    Open the file with the original string, not this one."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        pass
    try:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that is not an escaped byte (a Windows name)
        return path.encode("utf-8", "backslashreplace").decode("utf-8")


@attrs.frozen
class Skipped:
    """Something a folder walk found and could not read as a file.

    Attributes:
        relative: relative POSIX path as the walk found it (a folder's ends
            with ``/``, the root is ``./``); see :func:`text_path`.
        reason: ``unreadable`` (a folder that cannot be listed, an entry that
            cannot be examined, a named pipe or device), ``broken_link`` (a
            symbolic link to nothing), ``link_loop`` (a symbolic link that
            leads back to itself) or ``folder_link`` (a symbolic link to a
            folder, not followed: see :func:`find_relative`).
        message: what happened, without the path.
        folder: the entry is a folder (its files are the ones not read).
    """

    relative: str
    reason: str
    message: str
    folder: bool = False

    @property
    def warning(self) -> bool:
        """True when nothing is lost for sure (a link to a folder whose files
        may be read elsewhere): a warning rather than a dropped input."""
        return self.reason == "folder_link"


def _os_error(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _not_a_file(entry: os.DirEntry[str], rel: str) -> Skipped:
    """Why an entry that is neither a folder nor a regular file is not read."""
    try:
        if entry.is_symlink():
            try:
                target = text_path(os.readlink(entry.path))
            except OSError:
                target = "?"
            try:
                mode = os.stat(entry.path).st_mode
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    return Skipped(rel, "broken_link", f"symbolic link to {target!r}, which does not exist")
                if exc.errno == errno.ELOOP:
                    return Skipped(rel, "link_loop", f"symbolic link to {target!r} leads back to itself")
                return Skipped(rel, "unreadable", f"symbolic link to {target!r}: {_os_error(exc)}")
            if stat.S_ISDIR(mode):
                return Skipped(
                    rel + "/",
                    "folder_link",
                    f"symbolic link to the folder {target!r}: not followed, its files are not read here",
                    folder=True,
                )
            return Skipped(rel, "unreadable", f"symbolic link to {target!r}: {_special_kind(mode)}")
        mode = entry.stat(follow_symlinks=False).st_mode
    except OSError as exc:
        return Skipped(rel, "unreadable", _os_error(exc))
    return Skipped(rel, "unreadable", _special_kind(mode))


def _walk(root: str) -> Iterator[tuple[str, Skipped | None]]:
    """``(relative POSIX path, None)`` for each regular file under ``root``,
    and ``(relative path, Skipped)`` for what cannot be read, in the order of
    the sorted relative paths. Like ``**`` in :meth:`Path.glob`, symbolic
    links to folders are not descended into (so a link loop cannot make the
    walk endless); links to files count.

    Each folder's entries are sorted with a folder's name read as ending in
    ``/`` ("a/b" sorts after "a-c", as the whole paths do), and a folder is
    walked where it sorts: the walk holds the names of the folders it is in,
    never the whole list of files, so a caller can take the files in order
    as they come (a sharded run's plan)."""
    stack: list[Iterator[tuple[str, str, os.DirEntry[str] | None]]] = [iter([("", root, None)])]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
            continue
        rel, path, entry = item
        if entry is not None:
            # neither a folder nor a regular file (or it could not be told)
            yield rel, _not_a_file(entry, rel)
            continue
        if not rel.endswith("/") and rel:
            yield rel, None
            continue
        try:
            listed = _listed(rel, path)
        except OSError as exc:
            yield (
                rel,
                Skipped(
                    rel or "./",
                    "unreadable",
                    f"cannot list the folder: {_os_error(exc)}; the files in it are not read",
                    folder=True,
                ),
            )
            continue
        stack.append(iter(listed))


def _listed(prefix: str, folder: str) -> list[tuple[str, str, os.DirEntry[str] | None]]:
    """The entries of ``folder`` in sorted order as ``(relative path, path, entry)``:
    a folder's relative path ends in ``/``, a regular file's does not, and only
    an entry that is neither keeps its ``DirEntry`` (to say what it is)."""
    listed = []
    with os.scandir(folder) as entries:
        for entry in entries:
            rel = prefix + entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    listed.append((rel + "/", entry.path, None))
                    continue
                if entry.is_file():
                    listed.append((rel, "", None))
                    continue
            except OSError:
                pass  # a link loop, for one: _not_a_file says what
            listed.append((rel, entry.path, entry))
    listed.sort(key=lambda item: item[0])
    return listed


def _could_hold(folders: Sequence[str], segments: Sequence[str]) -> bool:
    """Whether the glob pattern ``segments`` can match a file under the
    folder path ``folders`` (both split at ``/``)."""
    if not folders:
        return bool(segments) and list(segments) != ["**"]  # "**" as the last segment matches no file
    if not segments:
        return False
    head = segments[0]
    if head == "**":
        return _could_hold(folders, segments[1:]) or _could_hold(folders[1:], segments)
    if len(segments) == 1:
        return False  # the last segment names files, not folders
    if re.fullmatch(_segment_regex(head), folders[0]) is None:
        return False
    return _could_hold(folders[1:], segments[1:])


def _folder_wanted(relative: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    """Whether files under the folder ``relative`` (ending with ``/``) could
    be read: an include pattern can match below it, and no exclude pattern
    matches the folder (``private/*`` matches ``private/``)."""
    if any(fnmatch.fnmatchcase(relative, pattern) for pattern in exclude):
        return False
    folders = [part for part in relative.split("/") if part not in ("", ".")]
    return any(
        _could_hold(folders, [seg for seg in pattern.strip("/").split("/") if seg not in ("", ".")])
        for pattern in include
    )


@attrs.frozen
class Scan:
    """What a folder walk found: the files that match (relative POSIX paths,
    sorted) and what could not be read among the entries that match, or
    the folders that could hold files that match (sorted by path).
    ``others`` counts the files it did not take by kind (``.html``,
    ``.txt.gz``, ``no extension``), ``excluded`` those of them that match
    an include pattern and an exclude pattern: what to tell a user whose
    patterns matched nothing."""

    files: list[str]
    skipped: list[Skipped]
    others: dict[str, int] = attrs.field(factory=dict)
    excluded: int = 0


def file_kind(name: str) -> str:
    """What a file name says the file is, for counts: its extension with a
    compression suffix kept (``.html``, ``.txt.gz``), or ``no extension``."""
    name = name.rpartition("/")[2].lower()
    bare = strip_compression(name) if compression_of(name) else name
    stem, ext = os.path.splitext(bare)
    suffix = name[len(bare) :]  # the compression suffix, or ""
    if stem and ext:
        return ext + suffix
    return suffix or "no extension"


def scan(
    root: Path,
    include: Sequence[str],
    exclude: Sequence[str] = (),
    *,
    compressed: bool = True,
) -> Scan:
    """The files under ``root`` that match, and what could not be read
    (see :func:`find_relative` for the matching and :class:`Skipped`).
    ``root`` may be a single file."""
    walk = FolderWalk(root, include, exclude, compressed=compressed)
    return walk.scan(list(walk))


class FolderWalk:
    """The files under ``root`` that match, one at a time in reading order (the
    sorted relative paths, as :func:`scan` lists them) without a list of them
    all; once they are all taken, :meth:`scan` tells what else the walk saw.
    ``root`` may be a single file."""

    def __init__(
        self, root: Path, include: Sequence[str], exclude: Sequence[str] = (), *, compressed: bool = True
    ) -> None:
        self.root = root
        self.selection = _Selection(include, exclude, compressed)

    def __iter__(self) -> Iterator[str]:
        if self.root.is_file():
            yield self.root.name
            return
        yield from self.selection.files(_walk(str(self.root)))

    def scan(self, files: list[str]) -> Scan:
        """The :class:`Scan` of the walk, with ``files`` for the files it found
        (the walk has been taken to its end)."""
        return self.selection.scan(files)


def scan_names(
    names: Iterable[str],
    include: Sequence[str],
    exclude: Sequence[str] = (),
    *,
    compressed: bool = True,
) -> Scan:
    """:func:`scan` over a listing of relative POSIX paths (the objects
    under a URL prefix) instead of a folder walk: the same matching, the
    same sorted order."""
    selection = _Selection(include, exclude, compressed)
    return selection.scan(sorted(selection.files((name, None) for name in names)))


class _Selection:
    """What a walk or a listing found, taken apart: :meth:`files` passes on the
    files that match and counts or keeps the rest for :meth:`scan`."""

    def __init__(self, include: Sequence[str], exclude: Sequence[str], compressed: bool) -> None:
        self.include = include
        self.exclude = exclude
        self.compressed = compressed
        self.plain: list[re.Pattern[str]] = []
        # matched against the path without its compression suffix
        self.stripped: list[re.Pattern[str]] = []
        for pattern in include:
            rx = glob_regex(pattern)
            self.plain.append(rx)
            last = pattern.rstrip("/").rpartition("/")[2]
            if compressed and not compression_of(pattern) and last != "**" and last:
                self.stripped.append(rx)
        self.skipped: list[Skipped] = []
        self.others: collections.Counter[str] = collections.Counter()
        self.excluded = 0

    def _included(self, rel: str) -> bool:
        if not any(rx.match(rel) for rx in self.plain):
            if not (self.stripped and compression_of(rel)):
                return False
            bare = strip_compression(rel)
            if not any(rx.match(bare) for rx in self.stripped):
                return False
        return True

    def files(self, entries: Iterable[tuple[str, Skipped | None]]) -> Iterator[str]:
        """The relative paths of ``entries`` that match, in their order."""
        exclude, compressed = self.exclude, self.compressed
        for rel, problem in entries:
            if problem is None:
                if not self._included(rel):
                    self.others[file_kind(rel)] += 1
                elif _matches(rel, exclude, compressed):
                    self.others[file_kind(rel)] += 1
                    self.excluded += 1
                else:
                    yield rel
            elif (
                _folder_wanted(problem.relative, self.include, exclude)
                if problem.folder
                else self._included(rel) and not _matches(rel, exclude, compressed)
            ):
                self.skipped.append(problem)

    def scan(self, files: list[str]) -> Scan:
        return Scan(
            files, sorted(self.skipped, key=lambda item: item.relative), dict(self.others), self.excluded
        )


def find_relative(
    root: Path,
    include: Sequence[str],
    exclude: Sequence[str] = (),
    *,
    compressed: bool = True,
) -> list[str]:
    """The files under ``root`` that match, as relative POSIX paths, sorted
    (``root / path`` is the file). ``root`` may be a single file (then the
    list holds its name). One directory walk for all patterns, and strings
    rather than :class:`Path` objects: for a million files that is several
    hundred MB less than :meth:`Path.glob` results, and far faster.

    ``include`` patterns are :meth:`Path.glob` patterns (``**/*.txt``); with
    ``compressed`` a pattern also matches ``NAME.gz``, ``.bz2``, ``.xz`` and
    ``.zst`` for every ``NAME`` it would match. ``exclude`` patterns are
    matched (``fnmatch``) against the relative path and, for a compressed
    file, against it without the compression suffix. What cannot be read is
    left out; :func:`scan` lists it.
    """
    return scan(root, include, exclude, compressed=compressed).files


def iter_files(
    root: Path,
    include: Sequence[str],
    exclude: Sequence[str] = (),
    *,
    compressed: bool = True,
) -> Iterator[tuple[Path, str]]:
    """Like :func:`find_relative`, as ``(path, relative posix path)`` pairs
    made one at a time (only the relative strings are held meanwhile)."""
    if root.is_file():
        yield root, root.name
        return
    for rel in find_relative(root, include, exclude, compressed=compressed):
        yield root / rel, rel


def find_files(
    root: Path,
    include: Sequence[str],
    exclude: Sequence[str] = (),
    *,
    compressed: bool = True,
) -> list[tuple[Path, str]]:
    """:func:`iter_files` as a list (for a handful of files, e.g. JSONL inputs)."""
    return list(iter_files(root, include, exclude, compressed=compressed))
