"""Shared input/output helpers of the built-in sources and sinks.

* compression: which files are compressed (by suffix), opening them for
  reading and writing (``.gz``, ``.bz2``, ``.xz`` from the standard library,
  ``.zst`` through the optional ``zstandard`` package, ``pip install
  'ingest[zstd]'``);
* decoding: byte-order-mark sniffing, strict decoding with a declared list of
  fallback encodings, and error messages that name the line and byte;
* finding files: include/exclude globs that also match the compressed
  variants of the names they match.

Everything here works on whole streams or single reads, never on repeated
slicing, so a 50 MB one-line file costs one pass.
"""

from __future__ import annotations

import bz2
import codecs
import fnmatch
import gzip
import importlib.util
import io
import lzma
import os
import re
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


class TooLargeError(ValueError):
    """A file (after decompression) is larger than the configured limit."""


class DecodeFailure(ValueError):
    """The bytes are not text in any of the encodings tried; the message says
    where (line and byte offset) and which encodings were tried."""


# -- compression -----------------------------------------------------------


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
            return io.BufferedReader(reader)  # type: ignore[arg-type]
        return module.ZstdFile(raw, "rb")  # type: ignore[no-any-return]
    raise ValueError(f"unknown compression {compression!r}")


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


def read_all(stream: IO[bytes], max_bytes: int = 0) -> bytes:
    """Read a whole stream in one call; with ``max_bytes > 0`` raise
    :class:`TooLargeError` instead of reading past it (a decompression bomb
    stops there)."""
    if max_bytes <= 0:
        return stream.read()
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise TooLargeError(f"larger than max_bytes = {max_bytes}")
    return data


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


def _walk_files(root: str) -> Iterator[str]:
    """Relative POSIX paths of the regular files under ``root``. Like ``**``
    in :meth:`Path.glob`, symbolic links to directories are not descended
    into (so a link loop cannot make the walk endless); links to files count."""
    stack = [("", root)]
    while stack:
        prefix, folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((f"{prefix}{entry.name}/", entry.path))
                elif entry.is_file():
                    yield prefix + entry.name
            except OSError:
                continue


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
    file, against it without the compression suffix.
    """
    if root.is_file():
        return [root.name]
    plain: list[re.Pattern[str]] = []
    stripped: list[re.Pattern[str]] = []  # matched against the path without its compression suffix
    for pattern in include:
        rx = glob_regex(pattern)
        plain.append(rx)
        last = pattern.rstrip("/").rpartition("/")[2]
        if compressed and not compression_of(pattern) and last != "**" and last:
            stripped.append(rx)
    found = []
    for rel in _walk_files(str(root)):
        if any(rx.match(rel) for rx in plain) or (
            stripped and compression_of(rel) and any(rx.match(strip_compression(rel)) for rx in stripped)
        ):
            if not _matches(rel, exclude, compressed):
                found.append(rel)
    found.sort()
    return found


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
