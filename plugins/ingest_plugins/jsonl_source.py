"""Built-in source ``jsonl_files``: JSON Lines files, one document per line.

(The registry has one namespace for sources, sinks and stages, and ``jsonl``
is the sink, hence ``jsonl_files``, like ``text_files``.)

Each non-blank line is a JSON object. ``id_field`` gives the document id
(missing: ``<relative file>:<line number>``), ``text_field`` the text,
``metadata_field`` an object merged into the metadata, and
``metadata_fields`` which other fields become metadata (default: all).
Files may be compressed (``.gz``, ``.bz2``, ``.xz``, ``.zst``). A line that is
not JSON, not an object, not UTF-8 or without text is recorded in the ledger
with file and line, and the run goes on. So is:

* a line longer than ``max_bytes`` (64 MiB by default): ``too_large``; it is
  read past in pieces, never held whole (a decompression bomb without
  newlines costs time, not memory);
* a record nested more than :data:`MAX_DEPTH` levels deep: ``too_deep``
  (deeper structures cannot be copied to worker processes or written);
* a record whose id an earlier record already has: ``duplicate_id``, under
  the id ``<file>:<line>`` (the id itself is taken), with the id and where
  the first record is in the details. The first record keeps the id, so ids
  stay unique in every output. The check holds every id read in memory
  (about 125 MB per million ids of 15 characters); a sharded run checks the
  ids in tasks before the shards read their records (:meth:`JsonlFilesSource.shard_keys`).

A sharded run cuts the files into parts of so many lines, where a line ends
(:meth:`JsonlFilesSource.plan`); a compressed file, or one at a URL, is read
whole by one part.

Integers with more digits than Python converts (4300 by default, see
:func:`sys.get_int_max_str_digits`) are kept as strings of digits, with a
warning. Bytes of a file name that are not UTF-8 appear in ids and messages
as ``\\xNN`` escapes.

``path`` may be a URL (``s3://bucket/in``), read through fsspec with
``storage_options`` exactly as by the ``text_files`` source.

:class:`LineParser` is shared with the ``stdin`` source.
"""

from __future__ import annotations

import codecs
import contextlib
import fnmatch
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple, Protocol, TypeVar

import attrs

from ingest import Document, Origin, StageContext, StageKind, StageSpec, hookimpl, path_field
from ingest_plugins import io_util
from ingest_plugins.text_files import (
    STORAGE_OPTIONS_HELP,
    check_root,
    open_remote,
    remote_found,
    remote_scan,
    report_skipped,
    source_path,
    warn_if_nothing_matches,
    warn_if_nothing_matches_remote,
)

#: What a file's lines are read as: documents, or the ids they claim.
_Item = TypeVar("_Item")


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

    path: str = path_field(
        ".",
        validator=source_path,
        metadata={"help": "a JSONL file, or a folder to read; a URL (s3://bucket/in) is read through fsspec"},
    )
    include: list[str] = attrs.field(
        factory=lambda: ["**/*.jsonl"],
        metadata={"help": "glob patterns of files to read in a folder (compressed variants match too)"},
    )
    exclude: list[str] = attrs.field(factory=list, metadata={"help": "glob patterns of files to skip"})
    compressed: bool = attrs.field(
        default=True, metadata={"help": "also read the .gz, .bz2, .xz and .zst variants of matching files"}
    )
    max_bytes: int = attrs.field(
        default=io_util.DEFAULT_MAX_BYTES,
        validator=attrs.validators.ge(0),
        metadata={
            "help": "drop lines longer than this many bytes (64 MiB by default) after decompression as "
            "too_large, without holding them in memory; 0 = no limit"
        },
    )
    id_field: str = _MAPPING["id_field"]
    text_field: str = _MAPPING["text_field"]
    metadata_fields: list[str] = _MAPPING["metadata_fields"]
    metadata_field: str = _MAPPING["metadata_field"]
    storage_options: dict[str, Any] = attrs.field(factory=dict, metadata={"help": STORAGE_OPTIONS_HELP})


#: Records nested deeper than this (objects and arrays) are dropped as ``too_deep``.
MAX_DEPTH = 100

#: Bits of a packed first-use location that hold the line (the rest: the input).
_LINE_BITS = 40


def _too_deep(obj: Any, limit: int) -> bool:
    """Whether ``obj`` nests objects and arrays more than ``limit`` levels
    deep (the record itself is level 1); iterative, so any depth is safe."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _int_or_digits(digits: str) -> int | str:
    """``parse_int`` for a record with an integer too long to convert."""
    try:
        return int(digits)
    except ValueError:
        return digits


class _Where(NamedTuple):
    """Where a line came from: the label used in ids and messages, the file, the line."""

    label: str
    path: str | None
    line: int


class LineParser:
    """Turns JSONL lines into documents, recording bad lines in the ledger.

    One parser sees all the lines of a source: it drops a record whose id an
    earlier one has (``duplicate_id``), holding every id read meanwhile."""

    def __init__(self, mapping: FieldMapping, ctx: StageContext, source: str) -> None:
        self.mapping = mapping
        self.ctx = ctx
        self.source = source
        reserved = {mapping.id_field, mapping.text_field}
        if mapping.metadata_field:
            reserved.add(mapping.metadata_field)
        self.reserved = reserved
        self.keep_all = "*" in mapping.metadata_fields
        # id -> where it was first used, packed as (input number << _LINE_BITS) | line:
        # one small int per id rather than a tuple and a string.
        self._first_use: dict[str, int] = {}
        self._labels: list[str] = []
        self._label_numbers: dict[str, int] = {}
        #: in a shard of a sharded run: the records (``label:line``) whose id an earlier
        #: record of any shard has, with where that one is (see ``JsonlFilesSource.shard_keys``)
        self.taken: dict[str, str] | None = None

    def _keep_field(self, name: str) -> bool:
        if name in self.reserved:
            return False
        return self.keep_all or any(fnmatch.fnmatchcase(name, p) for p in self.mapping.metadata_fields)

    def parse_lines(
        self,
        lines: Iterable[bytes | io_util.LongLine],
        *,
        label: str,
        path: str | None,
        first_line: int = 1,
    ) -> Iterator[Document]:
        """Documents from binary lines; ``label`` names the input in default
        ids (``label:line``) and messages, ``path`` goes into the origin. A
        :class:`~ingest_plugins.io_util.LongLine` is dropped as ``too_large``."""
        for number, line in _records(lines, first_line):
            if isinstance(line, io_util.LongLine):
                message = io_util.long_line_text(line)
                self._drop(f"{label}:{number}", "too_large", message, _Where(label, path, number))
                continue
            doc = self.parse(line, label=label, path=path, line=number)
            if doc is not None:
                yield doc

    def claimed_ids(
        self, lines: Iterable[bytes | io_util.LongLine], *, label: str, path: str | None, first_line: int = 1
    ) -> Iterator[tuple[str, str]]:
        """``(id, "label:line")`` of each record that claims an id, in order: what
        :meth:`parse_lines` would check for duplicates (drops are recorded in the
        parser's context: give it one whose ledger is thrown away)."""
        for number, line in _records(lines, first_line):
            if isinstance(line, io_util.LongLine):
                continue
            identified = self._identify(line, _Where(label, path, number))
            if identified is not None:
                yield identified[1], f"{label}:{number}"

    def _drop(self, doc_id: str, reason: str, message: str, where: _Where, **details: Any) -> None:
        label, path, line = where
        self.ctx.drop(doc_id, reason, error=f"{label}:{line}: {message}", line=line, path=path, **details)

    def _claim(self, doc_id: str, where: _Where) -> str | None:
        """Note that ``doc_id`` is used at ``where``; None if it is new, else
        where it was first used (``label:line``)."""
        if self.taken is not None:  # the run's duplicates, found across its shards
            return self.taken.get(f"{where.label}:{where.line}")
        first = self._first_use.get(doc_id)
        if first is not None:
            return f"{self._labels[first >> _LINE_BITS]}:{first & ((1 << _LINE_BITS) - 1)}"
        number = self._label_numbers.get(where.label)
        if number is None:
            number = self._label_numbers[where.label] = len(self._labels)
            self._labels.append(where.label)
        self._first_use[doc_id] = (number << _LINE_BITS) | where.line
        return None

    def _load(self, raw: bytes, text_line: str, where: _Where) -> tuple[Any, bool] | None:
        """The JSON value of a line and whether over-long integers were kept
        as strings; None after recording why it cannot be read."""
        default_id = f"{where.label}:{where.line}"
        digits_kept = False
        try:
            try:
                obj = json.loads(text_line)
            except json.JSONDecodeError:
                raise
            except ValueError:
                # An integer longer than Python converts (sys.get_int_max_str_digits):
                # read the line again, keeping such integers as their digits.
                digits_kept = True
                obj = json.loads(text_line, parse_int=_int_or_digits)
        except json.JSONDecodeError as exc:
            self._drop(default_id, "invalid_json", f"not JSON: {exc.msg} (column {exc.colno})", where)
            return None
        except RecursionError:  # deeper than the interpreter's stack allows
            self._drop(default_id, "too_deep", f"nested more than {MAX_DEPTH} levels deep", where)
            return None
        # Counting brackets is cheap; only a line with many of them is walked.
        if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _too_deep(obj, MAX_DEPTH):
            self._drop(default_id, "too_deep", f"nested more than {MAX_DEPTH} levels deep", where)
            return None
        return obj, digits_kept

    def _identify(self, raw: bytes, where: _Where) -> tuple[dict[str, Any], str, bool] | None:
        """A line's JSON object, the id it claims and whether over-long integers were
        kept as strings; None after recording why the line is no record."""
        default_id = f"{where.label}:{where.line}"
        try:
            text_line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self._drop(
                default_id,
                "undecodable",
                f"not valid utf-8 at byte {exc.start} of the line: {exc.reason}",
                where,
            )
            return None
        loaded = self._load(raw, text_line, where)
        if loaded is None:
            return None
        obj, digits_kept = loaded
        if not isinstance(obj, dict):
            self._drop(
                default_id, "invalid_record", f"expected a JSON object, got {type(obj).__name__}", where
            )
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
        return obj, doc_id, digits_kept

    def parse(self, raw: bytes, *, label: str, path: str | None, line: int) -> Document | None:
        """One line as a document, or None after recording why not."""
        default_id = f"{label}:{line}"
        where = _Where(label, path, line)
        identified = self._identify(raw, where)
        if identified is None:
            return None
        obj, doc_id, digits_kept = identified
        mapping = self.mapping
        first = self._claim(doc_id, where)
        if first is not None:
            # The id is taken (by a document, or a record dropped under it), so
            # this record is recorded under its place in the input.
            self._drop(
                default_id,
                "duplicate_id",
                f"id {doc_id!r} is already used by the record at {first}; ids must be unique",
                where,
                duplicate_id=doc_id,
                first=first,
            )
            return None
        if mapping.text_field not in obj or obj[mapping.text_field] is None:
            self._drop(doc_id, "missing_text", f"no field {mapping.text_field!r}", where)
            return None
        text = obj[mapping.text_field]
        if not isinstance(text, str):
            self._drop(
                doc_id,
                "missing_text",
                f"field {mapping.text_field!r} is {type(text).__name__}, not a string",
                where,
            )
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
        if digits_kept:
            self.ctx.warn(
                f"integers longer than {sys.get_int_max_str_digits()} digits kept as strings",
                doc=doc,
                line=line,
            )
        return doc


def _records(
    lines: Iterable[bytes | io_util.LongLine], first_line: int
) -> Iterator[tuple[int, bytes | io_util.LongLine]]:
    """The numbered lines that may be records: a file's byte-order mark off its first
    line, blank lines left out."""
    for number, line in enumerate(lines, start=first_line):
        if isinstance(line, io_util.LongLine):
            yield number, line
            continue
        if number == 1 and line.startswith(codecs.BOM_UTF8):
            line = line[len(codecs.BOM_UTF8) :]
        if line.strip():
            yield number, line


@attrs.frozen
class JsonlPart:
    """One shard's share of the input (see :meth:`JsonlFilesSource.plan`): ranges of
    lines of files in reading order, each ``(relative path, first byte, end byte
    (-1: the end of the file), number of its first line)``; and, for the first part,
    what the folder walk could not read."""

    ranges: tuple[tuple[str, int, int, int], ...]
    skipped: tuple[io_util.Skipped, ...] = ()


#: Bytes read at a time when a plan looks for where lines end.
_PLAN_CHUNK = 1 << 20


def _line_ranges(path: Path, first: int, every: int, start: int = 0) -> Iterator[tuple[int, int, int, int]]:
    """``(first byte, end byte, number of the first line, lines)`` of a file from byte
    ``start`` (where a line starts; its lines numbered from 1) cut after its
    ``first``-th line, then after every ``every`` lines more (the last range holds what
    is left; an empty file has none)."""
    line, need, seen, offset, tail_open = 1, first, 0, start, False
    with open(path, "rb") as fh:
        fh.seek(start)
        while chunk := fh.read(_PLAN_CHUNK):
            at = 0
            while True:
                newlines = chunk.count(b"\n", at)
                if seen + newlines < need:
                    seen += newlines
                    break
                for _ in range(need - seen):
                    at = chunk.index(b"\n", at) + 1
                end = offset + at
                yield start, end, line, need
                start, line, need, seen = end, line + need, every, 0
            offset += len(chunk)
            tail_open = not chunk.endswith(b"\n")
    if offset > start:  # the last line has no newline when tail_open
        yield start, offset, line, seen + tail_open


class JsonlFilesSource:
    """Iterates the lines of one or more JSONL files as documents."""

    #: what ``[run] shard_files`` counts for this source (see :meth:`plan`)
    plan_unit = "lines"

    def __init__(self, options: JsonlFilesOptions, ctx: StageContext) -> None:
        self.options = options
        self.ctx = ctx
        self.root = Path(options.path)
        #: the folder at a URL path, read through fsspec; None for a local path
        self.remote = open_remote(options.path, options.storage_options)
        if self.remote is None:
            check_root(self.root)
        self.parser = LineParser(options, ctx, "jsonl_files")

    def _scan(self) -> io_util.Scan:
        options = self.options
        if self.remote is not None:
            return remote_scan(self.remote, options)
        return io_util.scan(self.root, options.include, options.exclude, compressed=options.compressed)

    def check(self) -> None:
        """For ``ingest check``: walk the folder (reading no file) and warn
        when no file matches, saying what is there."""
        if self.remote is not None:
            warn_if_nothing_matches_remote(self.ctx, self.remote, self.options, self._scan())
        elif not self.root.is_file():
            warn_if_nothing_matches(self.ctx, self.root, self.options, self._scan())

    def __iter__(self) -> Iterator[Document]:
        if self.remote is not None:
            scan = self._scan()
            warn_if_nothing_matches_remote(self.ctx, self.remote, self.options, scan)
            for url, relative in remote_found(self.remote, scan):
                yield from self.read_file(url, relative)
            return
        if self.root.is_file():
            yield from self.read_file(self.root, self.root.name)
            return
        scan = self._scan()
        report_skipped(self.ctx, self.root, scan.skipped)
        warn_if_nothing_matches(self.ctx, self.root, self.options, scan)
        for relative in scan.files:
            yield from self.read_file(self.root / relative, relative)

    # -- sharded runs ---------------------------------------------------------------

    def _entries(self) -> tuple[list[tuple[str, Path | str]], list[io_util.Skipped]]:
        """``(relative path, path or URL)`` of each file, in reading order, and what
        the folder walk could not read."""
        if self.remote is not None:
            return [(rel, url) for url, rel in remote_found(self.remote, self._scan())], []
        if self.root.is_file():
            return [(self.root.name, self.root)], []
        scan = self._scan()
        return [(rel, self.root / rel) for rel in scan.files], list(scan.skipped)

    def plan(self, lines_per_shard: int) -> list[JsonlPart]:
        """The input cut into parts of about ``lines_per_shard`` lines, in reading
        order (a sharded run reads each with :meth:`read_shard`): a file is cut where
        a line ends, found by a quick pass over its bytes; a compressed file, or one
        at a URL, is read whole by the part it is in (and closes it). The lines of
        the last two parts are cut anew into smaller parts when they are all counted
        (:func:`~ingest_plugins.io_util.tail_sizes`; 9 lines in parts of 4: 4, 3, 1
        and 1), as the ``text_files`` source's files are. What the
        folder walk could not read goes with the first part. No file: no part."""
        entries, skipped = self._entries()
        parts: list[JsonlPart] = []
        ranges: list[tuple[str, int, int, int]] = []
        # the lines of each range of the last two parts (None: a file read whole, its lines guessed)
        counts: list[list[int | None]] = []
        counted: list[int | None] = []
        lines = 0

        def close() -> None:
            nonlocal lines
            parts.append(JsonlPart(tuple(ranges), tuple(skipped) if not parts else ()))
            counts.append(list(counted))
            del counts[:-2]
            ranges.clear()
            counted.clear()
            lines = 0

        for relative, path in entries:
            compressed = self.options.compressed and io_util.compression_of(relative) is not None
            if self.remote is None and not compressed:
                try:
                    for start, end, first_line, count in _line_ranges(
                        Path(path), lines_per_shard - lines, lines_per_shard
                    ):
                        ranges.append((relative, start, end, first_line))
                        counted.append(count)
                        lines += count
                        if lines >= lines_per_shard:
                            close()
                    continue
                except OSError:
                    pass  # read whole by its part, which records why it cannot be read
            ranges.append((relative, 0, -1, 1))
            counted.append(None)
            lines += self._estimated_lines(path, compressed, lines_per_shard)
            if lines >= lines_per_shard:
                close()
        if ranges:
            close()
        if len(parts) >= 2:
            self._cut_tail(parts, counts)
        return parts

    def _cut_tail(self, parts: list[JsonlPart], counts: list[list[int | None]]) -> None:
        """Cut the lines of the last two parts anew into parts that get smaller
        (:func:`~ingest_plugins.io_util.tail_sizes`), when every line of both is
        counted (local files, not compressed); ``counts``: the lines of each range of
        the two."""
        merged: list[tuple[str, int, int, int]] = []
        lines: list[int] = []
        for part, part_counts in zip(parts[-2:], counts):
            for (relative, start, end, first_line), count in zip(part.ranges, part_counts):
                if count is None:
                    return  # a file read whole: its lines are only guessed
                if merged and merged[-1][0] == relative and merged[-1][2] == start:
                    # the same file, where the part before stopped: one range again
                    merged[-1] = (relative, merged[-1][1], end, merged[-1][3])
                    lines[-1] += count
                else:
                    merged.append((relative, start, end, first_line))
                    lines.append(count)
        cut: list[list[tuple[str, int, int, int]]] = [[]]
        sizes = io_util.tail_sizes(sum(lines))
        need = sizes[0]
        for (relative, start, end, first_line), count in zip(merged, lines):
            while count > need:  # the range goes on into the next part: cut where a line ends
                path = self.root if self.root.is_file() else self.root / relative
                _, at, _, _ = next(_line_ranges(path, need, need, start))
                cut[-1].append((relative, start, at, first_line))
                start, first_line, count = at, first_line + need, count - need
                cut.append([])
                need = sizes[len(cut) - 1]
            cut[-1].append((relative, start, end, first_line))
            need -= count
            if need == 0 and len(cut) < len(sizes):
                cut.append([])
                need = sizes[len(cut) - 1]
        parts[-2:] = [attrs.evolve(parts[-2], ranges=tuple(cut[0]))] + [JsonlPart(tuple(r)) for r in cut[1:]]

    def _estimated_lines(self, path: Path | str, compressed: bool, lines_per_shard: int) -> int:
        """About how many lines a file read whole holds, from its size (about a
        record per KiB compressed, per 4 KiB plain); a whole shard's worth if
        its size cannot be had."""
        try:
            if self.remote is not None:
                size = int(self.remote.fs.size(self.remote.path_of_url(str(path))))
            else:
                size = os.stat(path).st_size
        except Exception:  # noqa: BLE001 - only a guess: the part that reads the file says what is wrong
            return lines_per_shard
        return max(1, size // (1024 if compressed else 4096))

    def _ranges(self, part: JsonlPart) -> Iterator[tuple[Path | str, str, int, int, int]]:
        single = self.remote is not None and self.remote.is_file()
        for relative, start, end, first_line in part.ranges:
            if self.remote is not None:
                path: Path | str = self.remote.url if single else self.remote.url_of(relative)
            else:
                path = self.root if self.root.is_file() else self.root / relative
            yield path, relative, start, end, first_line

    def read_shard(self, part: JsonlPart, taken: dict[str, str] | None = None) -> Iterator[Document]:
        """The documents of one part of :meth:`plan`: what ``__iter__`` yields (and
        records) for those lines. ``taken``: the records (``file:line``) whose id an
        earlier record has, anywhere in the input, with where that one is (found from
        every part's :meth:`shard_keys`); they are dropped as ``duplicate_id``."""
        self.parser.taken = taken
        if self.remote is None:
            report_skipped(self.ctx, self.root, list(part.skipped))
        for path, relative, start, end, first_line in self._ranges(part):
            yield from self.read_file(path, relative, start=start, end=end, first_line=first_line)

    def shard_keys(self, part: JsonlPart) -> Iterator[tuple[str, str]]:
        """``(id, "file:line")`` of each record of a part that claims an id, in reading
        order: a sharded run finds the duplicate ids across parts from them. What
        cannot be read is recorded in this source's context as :meth:`read_shard`
        records it (a sharded run gives this pass a ledger it throws away: the
        shard's read records it)."""
        for path, relative, start, end, first_line in self._ranges(part):
            yield from self._read(path, relative, self.parser.claimed_ids, start, end, first_line)

    def read_file(
        self, path: Path | str, relative: str, *, start: int = 0, end: int = -1, first_line: int = 1
    ) -> Iterator[Document]:
        """The documents of one file (``path`` is a URL string when the source's path
        is a URL), or of its lines from byte ``start`` to ``end`` (the first of them
        line ``first_line``)."""
        return self._read(path, relative, self.parser.parse_lines, start, end, first_line)

    def _read(
        self,
        path: Path | str,
        relative: str,
        read: Callable[..., Iterator[_Item]],
        start: int,
        end: int,
        first_line: int,
    ) -> Iterator[_Item]:
        """What ``read`` (the parser's ``parse_lines`` or ``claimed_ids``) makes of the
        file's lines, recording what cannot be read."""
        where = io_util.text_path(str(path))
        relative = io_util.text_path(relative)
        compression = io_util.compression_of(str(path)) if self.options.compressed else None
        try:
            if self.remote is not None:
                raw: IO[bytes] = self.remote.open_input(str(path))[0]
            else:
                raw = open(path, "rb")  # noqa: SIM115 - closed below
                if start:
                    raw.seek(start)
        except OSError as exc:
            self.ctx.drop(relative, "unreadable", error=f"{where}: {exc.strerror or exc}", path=where)
            return
        lines = _LineCounter(end - start if end >= 0 else None)
        with contextlib.closing(raw):
            try:
                with io_util.open_decompressed(raw, compression) as stream:
                    yield from read(
                        lines.count(stream, self.options.max_bytes),
                        label=relative,
                        path=where,
                        first_line=first_line,
                    )
            except io_util.MissingDependencyError as exc:
                self.ctx.drop(relative, "unsupported_compression", error=f"{where}: {exc}", path=where)
            except _ReadError as failure:
                error = failure.original
                # The lines before the damage were read; the rest of the file
                # is one record, so the loss is visible.
                line = first_line + lines.read
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

    def __init__(self, limit: int | None = None) -> None:
        self.read = 0
        self.limit = limit  # bytes to read (a range of a file), or None: to the end

    def count(self, stream: IO[bytes], max_bytes: int = 0) -> Iterator[bytes | io_util.LongLine]:
        errors = io_util.decompression_errors()
        it = io_util.read_lines(stream, max_bytes)
        left = self.limit
        while left is None or left > 0:
            try:
                line = next(it)
            except StopIteration:
                return
            except errors as exc:
                raise _ReadError(exc) from exc
            self.read += 1
            if left is not None:
                left -= line.length if isinstance(line, io_util.LongLine) else len(line)
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
