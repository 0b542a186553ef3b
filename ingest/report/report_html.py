"""``report.html``: a run's output folder as one self-contained web page.

People would rather look at a run than read counts. This module reads what
the ``jsonl`` sink wrote (``report.json``, ``dropped.jsonl``,
``documents.jsonl``) and renders a single HTML file with inline CSS, inline
SVG charts and a little inline JavaScript: no network, no external assets,
no JS libraries, so the file can be mailed around or opened from a CI
artefact.

The page shows the headline numbers, where documents went (a flow chart and
a table per stage and reason), where *lines* went (lines removed per rule,
from the documents' ``history``), duplicate clusters (grouped by survivor,
following ``duplicate_of`` chains), samples of removed lines, timings per
stage and warning samples.

The JSONL files are streamed (compressed ones and shards too, as the
report's ``outputs`` name them): texts are never held, and every list on the
page is capped (``max_clusters``, ``samples_per_rule``, ...) while every
count stays exact. What does grow with the run is a row of numbers and the
two ids per duplicate record (~80 bytes), needed to resolve chains, and 8
bytes per kept document (to tell which survivors were kept). A sharded run's
page, merged from what each shard's writer collected, leaves the records and the
kept ids in the shards' files: it reads them a shard at a time to find the
clusters, holding ~30 bytes for each document a record names as its
``duplicate_of`` (a cluster's survivor, or a link of a chain), and asks the files
about the survivors of the clusters it lists.

The ``jsonl`` sink does not read its files back: it feeds each record to a
:class:`ReportBuilder` as it writes it (a resumed run reads the files).

Use it from Python (:func:`write_html_report`, :func:`render_html`) or from
the command line::

    python -m ingest.report.report_html OUTPUT_DIR [-o report.html]
"""

from __future__ import annotations

import argparse
import array
import base64
import bisect
import bz2
import collections
import gzip
import hashlib
import heapq
import html
import io
import json
import lzma
import math
import pickle
import re
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import attrs

from ingest.engine.atomic import atomic_write

#: File names the ``jsonl`` sink uses by default.
REPORT_NAME = "report.json"
DOCUMENTS_NAME = "documents.jsonl"
DROPPED_NAME = "dropped.jsonl"
HTML_NAME = "report.html"

BLANK_LINE = '<span class="muted">(blank line)</span>'

#: Caps on what the page lists (counts are always exact).
MAX_CLUSTERS = 30
MAX_MEMBERS = 25
SAMPLES_PER_RULE = 5
MAX_RULES = 40
MAX_RULES_TRACKED = 500
MAX_WARNINGS = 100
MAX_LINE_CHARS = 300
#: Distinct targets read from the records, at least, before they are joined with the
#: rest (as many as a quarter of those joined already, past this): see ``_first_rows``.
TARGETS_JOINED_AFTER = 1 << 16
MAX_LABEL_CHARS = 28

# Tableau 10 without its green, which means "kept": distinguishable on
# light and dark backgrounds.
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
KEPT_COLOR = "#59a14f"
FLOW_COLOR = "#8fa9c8"

_SURROGATES = re.compile("[\ud800-\udfff]")
# C0/C1 controls other than tab and newline are not allowed in HTML text.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\x7f-\x9f]")
_UNSAFE = re.compile("[\ud800-\udfff\x00-\x08\x0b\x0c\x0d\x0e-\x1f\x7f-\x9f]")


# --------------------------------------------------------------------------
# Escaping and formatting


def _clean(value: Any) -> str:
    """Text safe to put in an HTML file: lone surrogates (possible in
    JSON) and control characters become visible replacements."""
    text = value if isinstance(value, str) else str(value)
    if _UNSAFE.search(text) is None:  # nearly always: one scan, no copies
        return text
    text = _SURROGATES.sub("\ufffd", text)
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def esc(value: Any) -> str:
    """Escape anything for HTML text or a quoted attribute."""
    return html.escape(_clean(value), quote=True)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _label(text: Any, limit: int = MAX_LABEL_CHARS) -> str:
    """A short escaped label with the full text as a tooltip."""
    full = _clean(text)
    return f"<title>{esc(full)}</title>{esc(_truncate(full, limit))}"


def _num(value: Any) -> str:
    """Integers with thin-space thousands separators for display."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return esc(value)
    if isinstance(value, float) and not value.is_integer():
        return esc(f"{value:,.2f}".replace(",", "\u2009"))
    return esc(f"{int(value):,}".replace(",", "\u2009"))


def _plain_int(value: Any) -> str:
    """The plain number for elements tests and scripts read (no separators)."""
    try:
        return str(int(value))
    except (TypeError, ValueError):
        return esc(value)


def _seconds(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "\u2013"
    if value < 1:
        return f"{value * 1000:.1f} ms"
    if value < 120:
        return f"{value:.2f} s"
    return f"{int(value) // 60} min {value % 60:.0f} s"


def _similarity(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "" if value is None else esc(value)
    return f"{value:.3f}"


def _percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "\u2013"


# --------------------------------------------------------------------------
# Reading the output folder


@attrs.define
class ReadProblems:
    """What could not be read from the JSONL files: counted and shown on
    the page instead of costing the whole page."""

    bad_lines: int = 0
    first_bad: list[str] = attrs.field(factory=list)
    notes: list[str] = attrs.field(factory=list)

    def messages(self) -> list[str]:
        out = list(self.notes)
        if self.bad_lines:
            out.append(
                f"{self.bad_lines} lines of the JSONL files are not JSON objects and were skipped "
                f"(first: {', '.join(self.first_bad)})."
            )
        return out


def _zstd_reader(raw: IO[bytes]) -> IO[bytes]:
    try:
        import zstandard  # type: ignore[import-not-found]
    except ImportError:
        try:
            from compression import zstd  # type: ignore[import-not-found]  # Python 3.14+
        except ImportError:
            raise OSError("reading .zst files needs the zstandard package (pip install zstandard)") from None
        return zstd.ZstdFile(raw, "rb")  # type: ignore[no-any-return]
    reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    return io.BufferedReader(reader)  # type: ignore[arg-type]


def _open_text(path: Path) -> IO[str]:
    """Open a JSONL file for reading text, decompressing by suffix (the
    ``jsonl`` sink's ``compression``: .gz, .bz2, .xz, .zst)."""
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    if suffix == ".bz2":
        return bz2.open(path, "rt", encoding="utf-8", errors="replace")
    if suffix == ".xz":
        return lzma.open(path, "rt", encoding="utf-8", errors="replace")
    if suffix == ".zst":
        raw = path.open("rb")
        try:
            return io.TextIOWrapper(_zstd_reader(raw), encoding="utf-8", errors="replace")
        except BaseException:
            raw.close()
            raise
    return path.open(encoding="utf-8", errors="replace")


def iter_jsonl(
    paths: str | Path | Iterable[str | Path], problems: ReadProblems | None = None
) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of one JSONL file, or of its shards in order,
    one by one, decompressing by suffix; a missing file yields nothing.

    A line that is not a JSON object is skipped, and a file that cannot be
    read (damaged compression, no zstd module) is abandoned where it broke;
    both are noted in ``problems`` when given.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    for path in map(Path, paths):
        if not path.exists():
            continue
        number = 0
        try:
            with _open_text(path) as fh:
                for number, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except ValueError:
                        record = None
                    if isinstance(record, dict):
                        yield record
                    elif problems is not None:
                        problems.bad_lines += 1
                        if len(problems.first_bad) < 5:
                            problems.first_bad.append(f"{path.name}:{number}")
        except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error) as exc:
            if problems is None:
                raise
            problems.notes.append(f"{path.name}: could not read past line {number}: {exc}")


# --------------------------------------------------------------------------
# Collecting what the page shows, in one streaming pass


@attrs.define
class _LineSample:
    doc_id: str
    line: Any
    text: str
    stage: str
    fate: str  # "kept" or "dropped": what became of the document


def _line_order(line: Any) -> tuple[int, str]:
    return (line, "") if isinstance(line, int) and not isinstance(line, bool) else (1 << 62, str(line))


@attrs.define
class _RuleStats:
    lines_in_kept: int = 0
    lines_in_dropped: int = 0
    documents: int = 0
    stages: set[str] = attrs.field(factory=set)
    #: the samples with the smallest keys, as a max-heap of (-key, tie-breaker, sample)
    sample_heap: list[tuple[int, int, _LineSample]] = attrs.field(factory=list)

    @property
    def samples(self) -> list[_LineSample]:
        """The kept samples in document order."""
        return sorted((s for _, _, s in self.sample_heap), key=lambda s: (s.doc_id, _line_order(s.line)))

    @property
    def lines(self) -> int:
        return self.lines_in_kept + self.lines_in_dropped


@attrs.define
class _Member:
    id: str
    duplicate_of: str
    stage: str
    reason: str
    similarity: Any
    method: Any


@attrs.define
class _Cluster:
    survivor: str
    size: int = 0
    members: list[_Member] = attrs.field(factory=list)
    min_similarity: float | None = None
    max_similarity: float | None = None
    survivor_kept: bool = False
    chained: int = 0  # members reached through another duplicate


@attrs.define
class _ClusterTable:
    """The duplicate clusters the page lists (the largest, with their first members)
    and how many there are in all."""

    count: int = 0
    duplicates: int = 0
    listed: list[_Cluster] = attrs.field(factory=list)


def _id_hash(doc_id: str) -> int:
    """Eight bytes of a document id, the same in every process (``hash`` of a
    string is not: collectors of a sharded run's tasks are merged)."""
    return int.from_bytes(
        hashlib.blake2b(doc_id.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
        "little",
        signed=True,
    )


class _InRow:
    """In :attr:`_Duplicates.kinds`: the record's similarity is the finite number in its
    row (a class: it stays itself through pickling)."""


def _finite_number(value: Any) -> float | None:
    """``value`` when it is a finite number (not a bool), else None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return None


@attrs.define
class _Duplicates:
    """The duplicate records, in the order they came: a row of numbers each (the ids as
    :func:`_id_hash`, the similarity, the kind), and each record's id and
    ``duplicate_of`` packed one after another, read back only for the clusters the
    page lists. About 80 bytes a duplicate, where dicts of strings and an object a
    record took ~900 (320 MB for a million documents' 317,000 duplicates).

    Records merged from a saved builder (:meth:`extend` with ``source``: a sharded
    run's shards) stay in that file, numbers and ids: the clusters are found reading
    the files a few times (:meth:`segments`), and the ids of the few records the page
    shows are read back (:meth:`prefetch`). The arrays here hold the other records
    ("own"), in the order they came."""

    ids: array.array = attrs.field(factory=lambda: array.array("q"))
    targets: array.array = attrs.field(factory=lambda: array.array("q"))
    #: the record's similarity when it is a finite number, else NaN
    similarity: array.array = attrs.field(factory=lambda: array.array("d"))
    #: the record's kind: its index in ``kinds``
    kind: array.array = attrs.field(factory=lambda: array.array("i"))
    #: where each own record's "id NUL duplicate_of" (UTF-8) starts in ``packed``
    starts: array.array = attrs.field(factory=lambda: array.array("q"))
    packed: bytearray = attrs.field(factory=bytearray)
    #: the distinct (stage, reason, similarity unless a finite number, method) of the records
    kinds: list[tuple[str, str, Any, Any]] = attrs.field(factory=list)
    _kind_index: dict[str, int] = attrs.field(factory=dict)
    #: records in a saved builder: (first row, rows, the file), by first row, and for
    #: each, its kinds' numbers in ``kinds``
    sources: list[tuple[int, int, str]] = attrs.field(factory=list)
    source_kinds: list[list[int]] = attrs.field(factory=list)
    _in_sources: int = 0
    #: records read back from the sources, by row: (id, duplicate_of, kind, similarity)
    _fetched: dict[int, tuple[str, str, int, float]] = attrs.field(factory=dict)

    def __len__(self) -> int:
        return len(self.ids) + self._in_sources

    def _kind_number(self, kind: tuple[str, str, Any, Any]) -> int:
        key = repr(kind)  # the values come from JSON: repr tells them apart (1 from 1.0 too)
        index = self._kind_index.get(key)
        if index is None:
            index = self._kind_index[key] = len(self.kinds)
            self.kinds.append(kind)
        return index

    def add(self, doc_id: str, target: str, stage: str, reason: str, similarity: Any, method: Any) -> None:
        """One duplicate record (its ids cleaned for the page)."""
        number = _finite_number(similarity)
        self.kind.append(
            self._kind_number((stage, reason, _InRow if number is not None else similarity, method))
        )
        self.ids.append(_id_hash(doc_id))
        self.targets.append(_id_hash(target))
        self.similarity.append(math.nan if number is None else number)
        self.starts.append(len(self.packed))
        self.packed += f"{doc_id}\0{target}".encode("utf-8", "surrogatepass")

    def extend(self, other: _Duplicates, source: str | None = None) -> None:
        """Add ``other``'s records after these; with ``source``, the file ``other`` was
        loaded from (a pickled :class:`ReportBuilder`, holding its records): they stay
        there, read when asked."""
        renumber = [self._kind_number(kind) for kind in other.kinds]
        shift = len(self)
        if source is not None and len(other):
            if other.sources:
                raise ValueError(
                    "records merged from files can only be merged from a builder that holds their ids"
                )
            self.sources.append((shift, len(other), source))
            self.source_kinds.append(renumber)
            self._in_sources += len(other)
            return
        for (first, count, path), kinds in zip(other.sources, other.source_kinds):
            self.sources.append((first + shift, count, path))  # their records stay where they are
            self.source_kinds.append([renumber[k] for k in kinds])
            self._in_sources += count
        start = len(self.packed)
        self.starts.extend(array.array("q", [at + start for at in other.starts]))
        self.packed += other.packed
        self.kind.extend(array.array("i", [renumber[k] for k in other.kind]))
        self.ids.extend(other.ids)
        self.targets.extend(other.targets)
        self.similarity.extend(other.similarity)

    def segments(self) -> Iterator[tuple[int, Any, Any, Any, Any]]:
        """``(first row, ids, targets, similarities, kinds)`` of every record, as numpy
        arrays, a run of own records or a source's (read from its file) at a time, in
        row order."""
        import numpy as np  # here: the page of a run with no duplicate does without it

        own, row = 0, 0

        def own_run(count: int) -> tuple[Any, Any, Any, Any]:
            nonlocal own
            at = slice(own, own + count)
            own += count
            return (
                _numbers(self.ids, np.int64)[at],
                _numbers(self.targets, np.int64)[at],
                _numbers(self.similarity, np.float64)[at],
                _numbers(self.kind, np.int32)[at],
            )

        for (first, count, path), kinds in zip(self.sources, self.source_kinds):
            if first > row:
                yield (row, *own_run(first - row))
            theirs = _saved_duplicates(path)
            renumber = np.asarray(kinds, dtype=np.int32)
            yield (
                first,
                _numbers(theirs.ids, np.int64),
                _numbers(theirs.targets, np.int64),
                _numbers(theirs.similarity, np.float64),
                renumber[_numbers(theirs.kind, np.int32)],
            )
            row = first + count
        if own < len(self.ids):
            yield (row, *own_run(len(self.ids) - own))

    def _source_index(self, row: int) -> int | None:
        """The index in ``sources`` of the one holding record ``row``, or None."""
        k = bisect.bisect_right(self.sources, (row, math.inf)) - 1
        if k >= 0:
            first, count, _ = self.sources[k]
            if row < first + count:
                return k
        return None

    def _own_index(self, row: int) -> int:
        """Record ``row``'s place among the records held here."""
        return row - sum(count for first, count, _ in self.sources if first < row)

    def _read_back(self, rows: Iterable[int]) -> Iterator[tuple[int, tuple[str, str, int, float]]]:
        """``(row, (id, duplicate_of, kind, similarity))`` of records ``rows``; those in
        a source are read grouped by it (each source read once, nothing kept)."""
        wanted: dict[int, list[int]] = {}
        for row in rows:
            k = self._source_index(row) if self.sources else None
            if k is None or row in self._fetched:
                yield row, self._record(row)
            else:
                wanted.setdefault(k, []).append(row)
        for k, asked in wanted.items():
            first, _, path = self.sources[k]
            theirs = _saved_duplicates(path)
            kinds = self.source_kinds[k]
            for row in asked:
                doc_id, target, kind, similarity = theirs._record(row - first)
                yield row, (doc_id, target, kinds[kind], similarity)

    def prefetch(self, rows: Iterable[int]) -> None:
        """Read records ``rows`` held in sources, each source once (kept until the page
        is made: for the few records it lists)."""
        self._fetched.update(self._read_back(rows))

    def targets_of(self, rows: Iterable[int]) -> Iterator[tuple[int, str]]:
        """``(row, duplicate_of)`` of records ``rows``, read back as :meth:`_read_back` does."""
        return ((row, record[1]) for row, record in self._read_back(rows))

    def _record(self, row: int) -> tuple[str, str, int, float]:
        if self.sources:
            fetched = self._fetched.get(row)
            if fetched is not None:
                return fetched
            if self._source_index(row) is not None:
                self.prefetch([row])
                return self._fetched[row]
            row = self._own_index(row)
        end = self.starts[row + 1] if row + 1 < len(self.starts) else len(self.packed)
        doc_id, _, target = (
            self.packed[self.starts[row] : end].decode("utf-8", "surrogatepass").partition("\0")
        )
        return doc_id, target, self.kind[row], self.similarity[row]

    def target_of(self, row: int) -> str:
        """The ``duplicate_of`` of record ``row``."""
        return self._record(row)[1]

    def member(self, row: int) -> _Member:
        """What the page shows of record ``row``."""
        doc_id, target, kind, number = self._record(row)
        stage, reason, similarity, method = self.kinds[kind]
        if similarity is _InRow:
            similarity = number
        return _Member(doc_id, target, stage, reason, similarity, method)


def _numbers(values: array.array, dtype: Any) -> Any:
    """``values`` as a numpy array (no copy)."""
    import numpy as np

    return np.frombuffer(values, dtype=dtype) if len(values) else np.zeros(0, dtype=dtype)


def _saved_duplicates(path: str) -> _Duplicates:
    """The duplicate records of the builder saved at ``path``."""
    with open(path, "rb") as fh:
        return pickle.load(fh)._collector.duplicates


@attrs.define
class _Collector:
    """Streams records in and keeps exact counts plus capped samples."""

    samples_per_rule: int = SAMPLES_PER_RULE
    max_members: int = MAX_MEMBERS
    rules: dict[str, _RuleStats] = attrs.field(factory=dict)
    events: collections.Counter[tuple[str, str]] = attrs.field(factory=collections.Counter)
    history_seen: bool = False
    kept_records: int = 0
    dropped_records: int = 0
    # Duplicates: a row per duplicate record, grouped into clusters at the end
    duplicates: _Duplicates = attrs.field(factory=_Duplicates)
    clusters: _ClusterTable | None = None
    #: raw stage/action/rule name -> cleaned, so each name is cleaned once per run
    _names: dict[str, str] = attrs.field(factory=dict)
    kept_hashes: array.array = attrs.field(factory=lambda: array.array("q"))
    #: saved builders (a sharded run's shards) whose kept ids stay in their files: the
    #: page asks them only about the survivors of the clusters it lists
    kept_sources: list[str] = attrs.field(factory=list)
    _sample_seq: int = 0

    def add_dropped(self, record: dict[str, Any]) -> None:
        self.dropped_records += 1
        doc_id = _clean(record.get("id", "?"))
        stage, reason = _clean(record.get("stage", "?")), _clean(record.get("reason", "?"))
        self._add_history(doc_id, record.get("history"), "dropped")
        target = record.get("duplicate_of")
        if target is None or target == "":
            return
        given = record.get("details")
        details: dict[str, Any] = given if isinstance(given, dict) else {}
        self.duplicates.add(
            doc_id, _clean(target), stage, reason, details.get("similarity"), details.get("method")
        )

    def add_kept(self, record: dict[str, Any]) -> None:
        self.kept_records += 1
        doc_id = _clean(record.get("id", "?"))
        self._add_history(doc_id, record.get("history"), "kept")
        # 8 bytes per kept document, so kept and dropped records may come in
        # any order (a sink feeds them as it writes) and survivors are still
        # known at the end. ``hash`` is stable within the process.
        self.kept_hashes.append(_id_hash(doc_id))

    def _add_history(self, doc_id: str, history: Any, fate: str) -> None:
        if not isinstance(history, list):
            return
        self.history_seen = True
        for event in history:
            if not isinstance(event, dict):
                continue
            stage, action = self._name(event.get("stage", "?")), self._name(event.get("action", "?"))
            self.events[(stage, action)] += 1
            if action == "removed_lines":
                self._add_removed_lines(doc_id, stage, event.get("lines") or [], fate)

    def _name(self, raw: Any) -> str:
        """A stage, action or rule name cleaned for the page, cached: the same
        few names come with every document."""
        name = self._names.get(raw) if isinstance(raw, str) else None
        if name is None:
            name = _clean(raw)
            if isinstance(raw, str) and len(self._names) < MAX_RULES_TRACKED * 4:
                self._names[raw] = name
        return name

    def _add_removed_lines(self, doc_id: str, stage: str, lines: list[Any], fate: str) -> None:
        """Count one event's removed lines per rule and keep a few samples.

        Runs once for every document of the run, so lines are grouped by
        their raw rule name first and each name is cleaned once per run
        rather than once per line."""
        by_rule: dict[Any, list[Any]] = {}
        for line in lines:
            key = (line.get("rule") or "(no rule)") if isinstance(line, dict) else "(no rule)"
            group = by_rule.get(key)
            if group is None:
                by_rule[key] = [line]
            else:
                group.append(line)
        counted: set[str] = set()
        for raw_rule, group in by_rule.items():
            rule = self._name(raw_rule)
            stats = self.rules.get(rule)
            if stats is None:
                if len(self.rules) >= MAX_RULES_TRACKED:
                    rule = "(other rules)"
                    stats = self.rules.setdefault(rule, _RuleStats())
                else:
                    stats = self.rules[rule] = _RuleStats()
            if fate == "kept":
                stats.lines_in_kept += len(group)
            else:
                stats.lines_in_dropped += len(group)
            if len(stats.stages) < 10:
                stats.stages.add(stage)
            if rule not in counted:  # several unknown rules may share "(other rules)"
                counted.add(rule)
                stats.documents += 1
            # At most two samples per document and rule, for variety; which
            # ones by a hash of (document, line), so the page does not depend
            # on the order records arrive in (the sink's or the files').
            for line in group[:2] if self.samples_per_rule > 0 else ():
                if isinstance(line, dict):
                    number, text = line.get("line"), line.get("text", "")
                else:  # a bare string: the line's text
                    number, text = None, line
                where = f"{doc_id}\x00{number}".encode("utf-8", "replace")
                key = -((zlib.crc32(where) << 32) | zlib.adler32(where))  # negated: a max-heap
                heap = stats.sample_heap
                full = len(heap) >= self.samples_per_rule
                if full and key <= heap[0][0]:
                    continue
                shown = text if isinstance(text, str) else json.dumps(text, default=str)
                sample = _LineSample(doc_id, number, _truncate(_clean(shown), MAX_LINE_CHARS), stage, fate)
                self._sample_seq += 1  # breaks ties (equal keys) without comparing samples
                if full:
                    heapq.heapreplace(heap, (key, self._sample_seq, sample))
                else:
                    heapq.heappush(heap, (key, self._sample_seq, sample))

    def merge(self, other: _Collector, source: str | None = None) -> None:
        """Add what ``other`` collected from the records that follow these (a
        sharded run's next shard): the page is the one these records and then
        the other's, read in that order, make. ``source``: the file ``other``'s
        builder was loaded from (see :meth:`_Duplicates.extend`)."""
        for name, theirs in other.rules.items():
            if name not in self.rules and len(self.rules) >= MAX_RULES_TRACKED:
                name = "(other rules)"
            mine = self.rules.setdefault(name, _RuleStats())
            mine.lines_in_kept += theirs.lines_in_kept
            mine.lines_in_dropped += theirs.lines_in_dropped
            mine.documents += theirs.documents
            for stage in sorted(theirs.stages):
                if len(mine.stages) < 10:
                    mine.stages.add(stage)
            for key, _seq, sample in sorted(theirs.sample_heap, key=lambda item: (-item[0], item[1])):
                heap = mine.sample_heap
                if len(heap) >= self.samples_per_rule and key <= heap[0][0]:
                    continue
                self._sample_seq += 1
                if len(heap) >= self.samples_per_rule:
                    heapq.heapreplace(heap, (key, self._sample_seq, sample))
                else:
                    heapq.heappush(heap, (key, self._sample_seq, sample))
        self.events.update(other.events)
        self.history_seen = self.history_seen or other.history_seen
        self.kept_records += other.kept_records
        self.dropped_records += other.dropped_records
        self.duplicates.extend(other.duplicates, source)
        if source is None:
            self.kept_hashes.extend(other.kept_hashes)
        elif len(other.kept_hashes):
            self.kept_sources.append(source)
        self.kept_sources.extend(other.kept_sources)
        self.clusters = None

    def resolve_clusters(self, max_clusters: int = MAX_CLUSTERS) -> _ClusterTable:
        """Group the duplicates by the document at the end of their chain (a
        cluster), and list the ``max_clusters`` largest with their first members.

        Called once every record has been added; a survivor counts as kept
        when a kept record had its id.
        """
        self.clusters = _cluster_table(self.duplicates, self._kept_among, max_clusters, self.max_members)
        return self.clusters

    def _kept_among(self, hashes: set[int]) -> set[int]:
        """Which of the id hashes ``hashes`` a kept record had: those held here, then
        each saved builder's (read once each)."""
        import numpy as np  # here: as in _cluster_table

        wanted = np.array(sorted(hashes), dtype=np.int64)
        found: set[int] = set()
        for path in [None, *self.kept_sources]:
            if path is None:
                kept = self.kept_hashes
            else:
                with open(path, "rb") as fh:
                    kept = pickle.load(fh)._collector.kept_hashes
            if len(kept) and wanted.size:
                held = np.frombuffer(kept, dtype=np.int64)
                found.update(wanted[np.isin(wanted, held)].tolist())
        return found


def _cluster_table(
    duplicates: _Duplicates,
    kept_among: Callable[[set[int]], set[int]],
    max_clusters: int,
    max_members: int,
) -> _ClusterTable:
    """The :class:`_ClusterTable` of ``duplicates``, in arrays: a record's document points to
    the one it duplicates (a document given twice: its last record), the end of a chain is
    its cluster's survivor (in a cycle, the first document met again, walking from the
    documents duplicated in the order they first were), and a cluster lists its records in
    the order their targets were first duplicated, then in the order they came.

    The records are read a few times a segment at a time (:meth:`_Duplicates.segments`),
    holding ~30 bytes for each distinct target (a cluster's survivor or a link of a chain)
    and the listed clusters' first members, not the records: a sharded run's page leaves
    them in the shards' files."""
    import numpy as np  # here: the page of a run with no duplicate does without it

    n = len(duplicates)
    if not n:
        return _ClusterTable()
    # every target, as a number 0..t-1 (by hash), and the first row that names it
    hashes, first_row_of = _first_rows(
        (np.unique(targets, return_index=True), first) for first, _, targets, _, _ in duplicates.segments()
    )
    t = hashes.size
    # the chains: records of documents that are targets themselves (a document's last
    # record counts), in row order; every other document duplicates none of the targets
    links_from, links_to = [], []
    for _, ids, targets, _, _ in duplicates.segments():
        at = np.minimum(np.searchsorted(hashes, ids), t - 1)
        chained = hashes[at] == ids
        links_from.append(at[chained].astype(np.int32))
        links_to.append(np.searchsorted(hashes, targets[chained]).astype(np.int32))
    # each target's cluster, by its survivor
    root = _chain_ends(np.concatenate(links_from), np.concatenate(links_to), t, first_row_of)
    del links_from, links_to
    sizes = np.zeros(t, dtype=np.int64)
    for _, _, targets, _, _ in duplicates.segments():
        sizes += np.bincount(root[np.searchsorted(hashes, targets)], minlength=t)
    survivors = np.flatnonzero(sizes)
    table = _ClusterTable(count=len(survivors), duplicates=n)
    # the largest clusters, ties by the survivor's id; ids are read for the tied ones only
    if len(survivors) > max_clusters:
        of_survivors = sizes[survivors]
        if max_clusters > 0:  # the size of the last one listed
            cut = np.partition(of_survivors, len(survivors) - max_clusters)[len(survivors) - max_clusters]
        else:
            cut = of_survivors.max() + 1
        larger = survivors[of_survivors > cut]
        tied = survivors[of_survivors == cut]
        del of_survivors, survivors
        room = max(0, max_clusters - len(larger))
        cluster_at = {int(first_row_of[s]): int(s) for s in tied}
        named = heapq.nsmallest(
            room, ((name, cluster_at[row]) for row, name in duplicates.targets_of(cluster_at))
        )
        chosen = [*larger.tolist(), *(s for _, s in named)]
    else:
        chosen = survivors.tolist()
    if not chosen:
        return table
    duplicates.prefetch(first_row_of[chosen].tolist())
    listed = {s: _Cluster(survivor=duplicates.target_of(int(first_row_of[s]))) for s in chosen}
    shown = _listed_members(duplicates, hashes, root, first_row_of, np.array(sorted(chosen)), max_members)
    kept = kept_among({int(hashes[s]) for s in chosen})
    duplicates.prefetch(row for rows, _, _, _ in shown.values() for row in rows)  # each source read once
    for s, cluster in listed.items():
        rows, chained, low, high = shown[s]
        cluster.size = int(sizes[s])
        cluster.chained = chained
        if not math.isnan(low):
            cluster.min_similarity, cluster.max_similarity = low, high
        cluster.survivor_kept = int(hashes[s]) in kept
        cluster.members = [duplicates.member(row) for row in rows]
    table.listed = sorted(listed.values(), key=lambda c: (-c.size, c.survivor))
    return table


def _first_rows(pieces: Iterable[tuple[tuple[Any, Any], int]]) -> tuple[Any, Any]:
    """(the distinct values, sorted; the first row of each) of segments given as
    ``((np.unique(values, return_index=True)), first row)``, in row order. The
    pieces are joined as they come, a few at a time: the values not seen yet are
    inserted where they belong, so that the join holds little more than the
    result (~16 bytes a value)."""
    import numpy as np

    values, rows = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    waiting: list[tuple[Any, Any]] = []
    held = 0

    def joined() -> tuple[Any, Any]:
        new = np.concatenate([v for v, _ in waiting])
        at = np.concatenate([r for _, r in waiting])
        # a stable sort keeps a value's pieces in the order they came: its first row first
        order = np.argsort(new, kind="stable")
        new, at = new[order], at[order]
        del order
        first = np.ones(new.size, dtype=bool)
        np.not_equal(new[1:], new[:-1], out=first[1:])
        new, at = new[first], at[first]
        # the values joined already came in earlier rows: only the others go in
        where = np.searchsorted(values, new)
        if values.size:
            unseen = values[np.minimum(where, values.size - 1)] != new
            where, new, at = where[unseen], new[unseen], at[unseen]
        return np.insert(values, where, new), np.insert(rows, where, at)

    for (distinct, at), start in pieces:
        waiting.append((distinct, at.astype(np.int64) + start))
        held += distinct.size
        if held > max(values.size // 4, TARGETS_JOINED_AFTER):
            values, rows = joined()
            waiting, held = [], 0
    if waiting:
        values, rows = joined()
    return values, rows


def _listed_members(
    duplicates: _Duplicates, hashes: Any, root: Any, first_row_of: Any, chosen: Any, max_members: int
) -> dict[int, tuple[list[int], int, float, float]]:
    """For each cluster of ``chosen`` (sorted): (its first ``max_members`` records' rows,
    by the first row naming their target, then their own; how many records name
    another duplicate; the least and the greatest similarity that is a number, NaN
    when none is)."""
    import numpy as np

    k = chosen.size
    chained = np.zeros(k, dtype=np.int64)
    low, high = np.full(k, np.inf), np.full(k, -np.inf)
    # the members so far: cluster (index in chosen), their target's first row, their row
    held: tuple[Any, ...] = (np.zeros(0, dtype=np.int64),) * 3
    for first, _, targets, similarity, _ in duplicates.segments():
        target = np.searchsorted(hashes, targets)
        cluster = root[target]
        at = np.minimum(np.searchsorted(chosen, cluster), k - 1)
        mine = chosen[at] == cluster
        where = at[mine]
        np.add.at(chained, where, cluster[mine] != target[mine])
        sims = similarity[mine]
        numbered = ~np.isnan(sims)
        np.minimum.at(low, where[numbered], sims[numbered])
        np.maximum.at(high, where[numbered], sims[numbered])
        candidates = (
            np.concatenate((held[0], where)),
            np.concatenate((held[1], first_row_of[target[mine]])),
            np.concatenate((held[2], first + np.flatnonzero(mine))),
        )
        order = np.lexsort((candidates[2], candidates[1], candidates[0]))
        ordered = tuple(c[order] for c in candidates)
        starts = np.searchsorted(ordered[0], ordered[0], "left")  # each cluster's first place
        keep = np.arange(ordered[0].size) - starts < max_members
        held = tuple(c[keep] for c in ordered)
    out = {}
    for i, s in enumerate(chosen.tolist()):
        lo, hi = np.searchsorted(held[0], [i, i + 1])
        numbered = bool(np.isfinite(low[i]))
        out[s] = (
            held[2][lo:hi].tolist(),
            int(chained[i]),
            float(low[i]) if numbered else math.nan,
            float(high[i]) if numbered else math.nan,
        )
    return out


def _chain_ends(child: Any, target: Any, m: int, first_row_of: Any) -> Any:
    """For each of the ``m`` documents, the document at the end of its chain of
    ``child -> target`` records (a document given twice: its last record counts), by
    pointer jumping; a chain that runs into a cycle never settles and is walked one
    step at a time from the targets in the order they were first duplicated (by the
    first row naming each, ``first_row_of``)."""
    import numpy as np

    n = len(child)
    parent = np.arange(m, dtype=np.int32)
    last_seen, backwards = np.unique(child[::-1], return_index=True)
    parent[last_seen] = target[n - 1 - backwards]
    root = parent
    for _ in range(64):
        further = root[root]
        if np.array_equal(further, root):
            break
        root = further
    # settled: the chain ends at a document that duplicates none (or itself); in a cycle
    # of two, jumping lands every member on itself, which is why the parent is asked
    unsettled = parent[root] != root
    if unsettled.any():
        root = root.copy()
        memo: dict[int, int] = {}
        for node in np.argsort(first_row_of).tolist():
            if unsettled[node]:
                root[node] = _chain_end(node, parent, memo)
    return root


def _chain_end(node: int, parent: Any, memo: dict[int, int]) -> int:
    """The document at the end of ``node``'s chain, walked one step at a time: in a
    cycle, the first document met again (``memo`` holds the ends found so far)."""
    path = []
    current = node
    seen: set[int] = set()
    while parent[current] != current and current not in memo and current not in seen:
        seen.add(current)  # a cycle must not hang the report
        path.append(current)
        current = int(parent[current])
    end = memo.get(current, current)
    for item in path:
        memo[item] = end
    memo[node] = end
    return end


# --------------------------------------------------------------------------
# SVG charts (drawn here, so the page needs no script to show them)


def _svg_text(x: float, y: float, content: str, *, anchor: str = "start", cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{klass}>{content}</text>'


def _bar_chart(
    rows: Sequence[tuple[str, Sequence[float]]],
    series: Sequence[tuple[str, str]],
    *,
    value_format: Any = _num,
    chart_id: str,
    title: str,
) -> str:
    """Horizontal (stacked) bars: ``rows`` are ``(label, values per series)``,
    ``series`` are ``(name, color)``."""
    label_w, bar_w, value_w, row_h, top = 210, 560, 120, 24, 8
    legend_h = 26 if len(series) > 1 else 0
    height = top + row_h * len(rows) + legend_h + 6
    width = label_w + bar_w + value_w
    largest = max((sum(values) for _, values in rows), default=0) or 1
    parts = [
        f'<svg id="{chart_id}" class="chart" viewBox="0 0 {width} {height}" width="{width}" '
        f'role="img" aria-label="{esc(title)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (label, values) in enumerate(rows):
        y = top + i * row_h
        parts.append(_svg_text(label_w - 8, y + 16, _label(label), anchor="end", cls="lbl"))
        x = float(label_w)
        total = sum(values)
        for (name, color), value in zip(series, values):
            if value <= 0:
                continue
            w = max(bar_w * value / largest, 1.5)
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" fill="{color}">'
                f"<title>{esc(label)}: {esc(name)} {value_format(value)}</title></rect>"
            )
            x += w
        parts.append(_svg_text(x + 6, y + 16, value_format(total), cls="val"))
    if legend_h:
        y = top + row_h * len(rows) + 8
        x = float(label_w)
        for name, color in series:
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="12" height="12" fill="{color}"/>')
            parts.append(_svg_text(x + 17, y + 11, esc(name), cls="lbl"))
            x += 30 + 7.5 * len(name)
    parts.append("</svg>")
    return "".join(parts)


def _flow_chart(report: dict[str, Any]) -> str:
    """Where documents went: a band from input to kept; each stage's drops
    peel off downwards (a Sankey diagram with one path)."""
    total = _int(report.get("input"))
    stages = _stages(report)
    if total <= 0:
        return '<p class="muted">No documents were read.</p>'
    n = max(len(stages), 1)
    band_top, band_h, gap, label_h = 34, 150, 40, 54
    scale = band_h / total
    # Columns wide enough that the thickest ribbon does not run into the next.
    thickest = max((_dropped_total(stats) * scale for _, stats in stages), default=0)
    left, col_w, right = 110, max(135, int(thickest) + 70), 150
    width = left + col_w * n + right
    bucket_y = band_top + band_h + gap
    height = bucket_y + label_h
    parts = [
        f'<svg id="flow-chart" class="chart" viewBox="0 0 {width} {height}" width="{width}" role="img" '
        f'aria-label="where documents went" xmlns="http://www.w3.org/2000/svg">',
        _svg_text(left - 8, band_top + 14, "input", anchor="end", cls="lbl strong"),
        _svg_text(left - 8, band_top + 30, _num(total), anchor="end", cls="val"),
    ]
    remaining = total
    x = float(left)
    band: list[str] = []
    for i, (stage_id, stats) in enumerate(stages):
        dropped = _dropped_total(stats)
        color = PALETTE[i % len(PALETTE)]
        x_col = left + col_w * i + col_w * 0.35
        # The band up to this stage's column.
        band.append(
            f'<rect x="{x:.1f}" y="{band_top}" width="{x_col - x:.1f}" '
            f'height="{max(remaining * scale, 1):.1f}" fill="{FLOW_COLOR}"/>'
        )
        x = x_col
        parts.append(
            f'<line x1="{x_col:.1f}" y1="{band_top - 6}" x2="{x_col:.1f}" y2="{band_top + band_h}" '
            'class="tick"/>'
        )
        parts.append(_svg_text(x_col, band_top - 10, _label(stage_id, 18), anchor="middle", cls="lbl"))
        if dropped > 0:
            t = max(dropped * scale, 1.5)
            y_bottom = band_top + remaining * scale
            y_top = y_bottom - t
            x_end = x_col + 28  # the ribbon's inner edge when it arrives below
            k = 0.55  # cubic approximation of a quarter circle
            reason_counts = stats.get("dropped")
            by_reason: dict[str, Any] = reason_counts if isinstance(reason_counts, dict) else {}
            reasons = ", ".join(f"{r} {c}" for r, c in by_reason.items())
            # Outer edge: from the band's slice down to the right end of
            # the bucket; inner edge back up to the band.
            outer = (
                f"C{x_col + k * (x_end + t - x_col):.1f},{y_top:.1f} "
                f"{x_end + t:.1f},{y_top + k * (bucket_y - y_top):.1f} {x_end + t:.1f},{bucket_y:.1f}"
            )
            inner = (
                f"C{x_end:.1f},{y_bottom + k * (bucket_y - y_bottom):.1f} "
                f"{x_col + k * (x_end - x_col):.1f},{y_bottom:.1f} {x_col:.1f},{y_bottom:.1f}"
            )
            parts.append(
                f'<path d="M{x_col:.1f},{y_top:.1f} {outer} L{x_end:.1f},{bucket_y:.1f} {inner}Z" '
                f'fill="{color}" opacity="0.85">'
                f"<title>{esc(stage_id)}: {dropped} dropped ({esc(reasons)})</title></path>"
            )
            parts.append(
                _svg_text(x_end + t / 2, bucket_y + 16, f"\u2212{_num(dropped)}", anchor="middle", cls="val")
            )
            parts.append(
                _svg_text(
                    x_end + t / 2,
                    bucket_y + 32,
                    _label(reasons or stage_id, 20),
                    anchor="middle",
                    cls="lbl small",
                )
            )
            remaining -= dropped
    end = left + col_w * n
    band.append(
        f'<rect x="{x:.1f}" y="{band_top}" width="{end - x:.1f}" height="{max(remaining * scale, 1):.1f}" '
        f'fill="{KEPT_COLOR}"/>'
    )
    kept = _int(report.get("kept", remaining))
    parts.append(_svg_text(end + 8, band_top + 14, "kept", cls="lbl strong"))
    parts.append(_svg_text(end + 8, band_top + 30, f"{_num(kept)} ({_percent(kept, total)})", cls="val"))
    parts.append("</svg>")
    # Band first, so ribbons and ticks are drawn over it.
    return parts[0] + "".join(band) + "".join(parts[1:])


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _float(value: Any) -> float:
    """A non-negative finite number, or 0 for anything else."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) and number > 0 else 0.0


def _dropped_total(stats: dict[str, Any]) -> int:
    if "dropped_total" in stats:
        return _int(stats["dropped_total"])
    dropped = stats.get("dropped")
    return sum(_int(v) for v in dropped.values()) if isinstance(dropped, dict) else 0


def _stages(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    stages = report.get("stages")
    if not isinstance(stages, dict):
        return []
    return [(_clean(k), v if isinstance(v, dict) else {}) for k, v in stages.items()]


# --------------------------------------------------------------------------
# Page sections


def _section(anchor: str, title: str, body: str, note: str = "") -> str:
    note_html = f'<p class="muted">{note}</p>' if note else ""
    return f'<section id="{anchor}"><h2>{esc(title)}</h2>{note_html}{body}</section>'


def _headline(report: dict[str, Any], collector: _Collector) -> str:
    cards = [
        ("input", "total-input", report.get("input"), "documents read"),
        (
            "kept",
            "total-kept",
            report.get("kept"),
            _percent(_int(report.get("kept")), _int(report.get("input"))),
        ),
        (
            "dropped",
            "total-dropped",
            report.get("dropped"),
            _percent(_int(report.get("dropped")), _int(report.get("input"))),
        ),
        ("warnings", "total-warnings", report.get("warnings", 0), "not dropped, worth a look"),
    ]
    out = ['<div class="cards">']
    for name, element_id, value, sub in cards:
        out.append(
            f'<div class="card {name}"><div class="card-name">{name}</div>'
            f'<div class="card-value" id="{element_id}">{_plain_int(value)}</div>'
            f'<div class="card-sub">{esc(sub)}</div></div>'
        )
    seconds = report.get("seconds")
    out.append(
        f'<div class="card time"><div class="card-name">time</div>'
        f'<div class="card-value" id="total-seconds" data-seconds="{esc(seconds)}">'
        f"{esc(_seconds(seconds))}</div>"
        f'<div class="card-sub">whole run</div></div></div>'
    )
    meta = [
        ("ingest version", report.get("ingest_version"), "meta-version"),
        ("config", report.get("config"), "meta-config"),
        ("started", report.get("started"), "meta-started"),
        ("finished", report.get("finished"), "meta-finished"),
    ]
    out.append('<dl class="meta">')
    for name, value, element_id in meta:
        shown = "\u2013" if value is None else value
        out.append(f'<dt>{esc(name)}</dt><dd id="{element_id}">{esc(shown)}</dd>')
    out.append("</dl>")
    problems = []
    if report.get("balanced") is False or (
        _int(report.get("input")) != _int(report.get("kept")) + _int(report.get("dropped"))
    ):
        problems.append("The ledger does not balance: input \u2260 kept + dropped.")
    if collector.kept_records != _int(report.get("kept")):
        problems.append(
            f"{collector.kept_records} kept documents were read but the report says "
            f"{_int(report.get('kept'))} kept."
        )
    if collector.dropped_records != _int(report.get("dropped")):
        problems.append(
            f"{collector.dropped_records} dropped records were read but the report says "
            f"{_int(report.get('dropped'))} dropped."
        )
    for problem in problems:
        out.append(f'<p class="alert">{esc(problem)}</p>')
    return "".join(out)


def _documents_section(report: dict[str, Any]) -> str:
    total = _int(report.get("input"))
    rows = []
    for i, (stage_id, stats) in enumerate(_stages(report)):
        dropped = stats.get("dropped") if isinstance(stats.get("dropped"), dict) else {}
        color = PALETTE[i % len(PALETTE)]
        reasons = dropped.items() if dropped else [(None, 0)]
        span = len(reasons)
        for j, (reason, count) in enumerate(reasons):
            cells = []
            if j == 0:
                cells.append(
                    f'<td rowspan="{span}"><span class="swatch" style="background:{color}"></span>'
                    f"{esc(stage_id)}</td>"
                    f'<td rowspan="{span}">{esc(stats.get("stage", ""))}</td>'
                    f'<td rowspan="{span}" class="num">{_num(stats.get("documents_in", 0))}</td>'
                    f'<td rowspan="{span}" class="num">{_num(stats.get("documents_out", 0))}</td>'
                )
            if reason is None:
                cells.append('<td class="muted">none dropped</td><td class="num">0</td><td></td>')
            else:
                cells.append(
                    f"<td>{esc(reason)}</td>"
                    f'<td class="num" data-stage="{esc(stage_id)}" data-reason="{esc(reason)}">'
                    f"{_num(count)}</td>"
                    f'<td class="num">{_percent(_int(count), total)}</td>'
                )
            if j == 0:
                cells.append(f'<td rowspan="{span}" class="num">{_num(stats.get("warnings", 0))}</td>')
            rows.append(f"<tr>{''.join(cells)}</tr>")
    table = (
        '<table id="stage-table"><thead><tr><th>stage id</th><th>stage</th><th>in</th><th>out</th>'
        "<th>reason</th><th>dropped</th><th>of input</th><th>warnings</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    return _flow_chart(report) + table


def _lines_section(collector: _Collector) -> str:
    if not collector.rules:
        why = (
            "No lines were removed."
            if collector.history_seen
            else "No history was recorded (the sink's <code>include_history</code> is off, "
            "or no stage keeps one)."
        )
        return f'<p class="muted">{why}</p>'
    ranked = sorted(collector.rules.items(), key=lambda kv: (-kv[1].lines, kv[0]))
    shown = ranked[:MAX_RULES]
    chart = _bar_chart(
        [(rule, (stats.lines_in_kept, stats.lines_in_dropped)) for rule, stats in shown],
        [("in kept documents", PALETTE[0]), ("in documents dropped later", PALETTE[1])],
        chart_id="lines-chart",
        title="lines removed per rule",
    )
    rows = "".join(
        f'<tr data-rule="{esc(rule)}"><td>{esc(rule)}</td><td>{esc(", ".join(sorted(stats.stages)))}</td>'
        f'<td class="num rule-lines">{stats.lines}</td><td class="num">{stats.lines_in_kept}</td>'
        f'<td class="num">{stats.documents}</td></tr>'
        for rule, stats in ranked
    )
    table = (
        '<table id="rules-table" class="sortable"><thead><tr><th>rule</th><th>stage</th><th>lines</th>'
        f"<th>from kept docs</th><th>documents</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    more = (
        f'<p class="muted">Chart shows the {MAX_RULES} rules removing most lines of {len(ranked)}.</p>'
        if len(ranked) > MAX_RULES
        else ""
    )
    events = "".join(
        f'<tr><td>{esc(stage)}</td><td>{esc(action)}</td><td class="num">{_num(count)}</td></tr>'
        for (stage, action), count in sorted(collector.events.items())
    )
    events_table = (
        "<details><summary>All history events by stage and action</summary>"
        '<table id="events-table" class="sortable">'
        "<thead><tr><th>stage</th><th>action</th><th>events</th></tr></thead>"
        f"<tbody>{events}</tbody></table></details>"
    )
    return chart + more + table + events_table


def _samples_section(collector: _Collector) -> str:
    if not collector.rules:
        return '<p class="muted">No removed lines.</p>'
    out = []
    ranked = sorted(collector.rules.items(), key=lambda kv: (-kv[1].lines, kv[0]))
    for i, (rule, stats) in enumerate(ranked[:MAX_RULES]):
        rows = "".join(
            f'<tr><td class="num">{esc(s.line if s.line is not None else "")}</td>'
            f'<td class="id">{esc(s.doc_id)}</td><td class="fate {s.fate}">{s.fate}</td>'
            f'<td><code class="line">{esc(s.text) if s.text.strip() else BLANK_LINE}</code></td></tr>'
            for s in stats.samples
        )
        opened = " open" if i < 3 else ""
        out.append(
            f'<details class="rule-samples" data-rule="{esc(rule)}"{opened}><summary><b>{esc(rule)}</b> '
            f'<span class="muted">{len(stats.samples)} of {_num(stats.lines)} lines</span></summary>'
            "<table><thead><tr><th>line</th><th>document</th><th>document is</th><th>text</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></details>"
        )
    return "".join(out)


def _clusters_section(collector: _Collector, max_clusters: int) -> str:
    table = collector.clusters or _ClusterTable()
    if not table.count:
        return '<p class="muted">No document was dropped as a duplicate of another.</p>'
    out = [
        f'<p id="cluster-summary"><span id="duplicate-records">{table.duplicates}</span> duplicates in '
        f'<span id="cluster-count">{table.count}</span> clusters'
        + (f"; the {max_clusters} largest are listed" if table.count > max_clusters else "")
        + ".</p>"
    ]
    for i, cluster in enumerate(table.listed):
        sims = ""
        if cluster.min_similarity is not None:
            sims = (
                f", similarity {cluster.min_similarity:.3f}"
                if cluster.min_similarity == cluster.max_similarity
                else f", similarity {cluster.min_similarity:.3f}\u2013{cluster.max_similarity:.3f}"
            )
        if cluster.chained:
            sims += f", {cluster.chained} through another duplicate"
        status = (
            '<span class="fate kept">kept</span>'
            if cluster.survivor_kept
            else '<span class="fate dropped" title="the end of this duplicate chain is not among the kept '
            'documents">not kept</span>'
        )
        rows = "".join(
            f'<tr><td class="id">{esc(m.id)}</td><td>{esc(m.stage)}</td><td>{esc(m.reason)}</td>'
            f'<td class="num">{_similarity(m.similarity)}</td>'
            f"<td>{esc(m.method if m.method is not None else '')}</td>"
            f'<td class="id">{esc(m.duplicate_of) if m.duplicate_of != cluster.survivor else ""}</td></tr>'
            for m in cluster.members
        )
        hidden = cluster.size - len(cluster.members)
        more = f'<p class="muted">and {hidden} more</p>' if hidden > 0 else ""
        opened = " open" if i < 3 else ""
        out.append(
            f'<details class="cluster" data-survivor="{esc(cluster.survivor)}" '
            f'data-size="{cluster.size}"{opened}>'
            f'<summary><span class="id">{esc(cluster.survivor)}</span> {status} '
            f'<span class="muted">{cluster.size} duplicate{"s" if cluster.size != 1 else ""}{sims}</span>'
            "</summary>"
            "<table><thead><tr><th>duplicate</th><th>stage</th><th>reason</th><th>similarity</th><th>method</th>"
            f"<th>via</th></tr></thead><tbody>{rows}</tbody></table>{more}</details>"
        )
    if table.count > len(table.listed):
        rest = table.duplicates - sum(c.size for c in table.listed)
        out.append(
            f'<p class="muted" id="clusters-more">{table.count - len(table.listed)} more clusters with {rest} '
            "duplicates are not listed.</p>"
        )
    return "".join(out)


def _timings_section(report: dict[str, Any]) -> str:
    stages = _stages(report)
    rows = [(stage_id, (_float(stats.get("seconds")),)) for stage_id, stats in stages]
    if not rows:
        return '<p class="muted">No stages.</p>'
    chart = _bar_chart(
        rows,
        [("seconds", PALETTE[0])],
        value_format=_seconds,
        chart_id="timings-chart",
        title="seconds per stage",
    )
    staged = sum(values[0] for _, values in rows)
    total = report.get("seconds")
    note = ""
    if isinstance(total, (int, float)) and total > 0:
        note = (
            f'<p class="muted">Stages account for {_seconds(staged)} of the run\'s {_seconds(total)} '
            f"({_percent(staged, total)}); the rest is reading, writing and the runner.</p>"
        )
    return chart + note


def _warnings_section(report: dict[str, Any]) -> str:
    samples = report.get("warning_samples") or []
    count = _int(report.get("warnings", len(samples)))
    out = []
    if not samples:
        out.append('<p class="muted">No warnings.</p>')
    else:
        shown = samples[:MAX_WARNINGS]
        out.append(f'<p class="muted">{len(shown)} of {count} warnings.</p><ol id="warning-list">')
        out.extend(f"<li><code>{esc(w)}</code></li>" for w in shown)
        out.append("</ol>")
    failures = report.get("plugin_load_failures") or []
    if failures:
        out.append('<h3>Plugins that failed to load</h3><ul id="plugin-failures">')
        for failure in failures:
            if isinstance(failure, dict):
                out.append(
                    f"<li><b>{esc(failure.get('name'))}</b> ({esc(failure.get('distribution'))}): "
                    f"<code>{esc(failure.get('error'))}</code></li>"
                )
        out.append("</ul>")
    return "".join(out)


# --------------------------------------------------------------------------
# The page

_CSS = """
:root{--fg:#1d2430;--muted:#667085;--bg:#ffffff;--panel:#f5f7fa;--line:#dde3ea;--accent:#4e79a7;
--kept:#2f7d32;--dropped:#c0392b;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--fg:#e6e9ef;--muted:#98a2b3;--bg:#14181f;--panel:#1d232c;
--line:#2c3440;--kept:#7bc77e;--dropped:#ef7d72}}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header,main{max-width:1180px;margin:0 auto;padding:0 20px}
header{padding-top:18px}
h1{font-size:22px;margin:0 0 12px}
h2{font-size:17px;margin:30px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:15px}
nav{display:flex;flex-wrap:wrap;gap:4px 14px;margin:6px 0 0;font-size:13px}
nav a{color:var(--accent);text-decoration:none}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px;margin:10px 0}
.card{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:10px 14px}
.card-name{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted)}
.card-value{font-size:26px;font-weight:650;font-variant-numeric:tabular-nums}
.card.kept .card-value{color:var(--kept)}.card.dropped .card-value{color:var(--dropped)}
.card-sub{font-size:12px;color:var(--muted)}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:8px 0;font-size:13px}
.meta dt{color:var(--muted)}.meta dd{margin:0;word-break:break-all}
.alert{background:#fdecea;color:#8a1c12;border:1px solid #f5c2bd;border-radius:6px;padding:6px 10px}
.muted{color:var(--muted)}
.chart{max-width:100%;height:auto;display:block;margin:8px 0 14px}
.chart text{fill:var(--fg);font-size:12px}
.chart text.small{font-size:10.5px;fill:var(--muted)}
.chart text.strong{font-weight:650}
.chart .val{font-variant-numeric:tabular-nums}
.chart .tick{stroke:var(--muted);stroke-dasharray:2 3}
table{border-collapse:collapse;margin:8px 0 14px;width:100%;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--panel);font-weight:600;white-space:nowrap}
table.sortable th{cursor:pointer}table.sortable th:hover{text-decoration:underline}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.id,span.id{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
code.line{white-space:pre-wrap;word-break:break-word}
.fate{font-size:12px;font-weight:600}.fate.kept{color:var(--kept)}.fate.dropped{color:var(--dropped)}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
details{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:4px 10px;margin:6px 0}
details table{background:var(--bg)}
summary{cursor:pointer;padding:2px 0}
.tools{float:right;font-size:12px}
.tools button{font:inherit;background:var(--panel);color:var(--fg);border:1px solid var(--line);border-radius:4px;
padding:2px 8px;cursor:pointer}
footer{max-width:1180px;margin:30px auto;padding:0 20px;color:var(--muted);font-size:12px}
ol#warning-list li{margin:2px 0}
"""

# Small and dependency-free: sortable tables and expand/collapse buttons.
# Errors are written to data-errors and the end is marked with
# data-ready="1", so a headless browser can check that the page ran.
_JS = """
(function () {
  var body = document.body, errors = [];
  function note(message) {
    errors.push(String(message));
    body.setAttribute("data-errors", errors.join(" | "));
  }
  window.addEventListener("error", function (event) { note(event.message || event); });
  try {
    function cellValue(row, index) {
      var cell = row.cells[index];
      var text = cell ? cell.textContent.replace(/[\\u2009,%]/g, "").trim() : "";
      var number = parseFloat(text);
      return isNaN(number) || !/^[-+\\d.]/.test(text) ? text.toLowerCase() : number;
    }
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
        th.title = "sort";
        th.addEventListener("click", function () {
          var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
          var dir = th.getAttribute("data-dir") === "asc" ? -1 : 1;
          th.setAttribute("data-dir", dir === 1 ? "asc" : "desc");
          rows.sort(function (a, b) {
            var x = cellValue(a, index), y = cellValue(b, index);
            if (typeof x !== typeof y) { x = String(x); y = String(y); }
            return (x < y ? -1 : x > y ? 1 : 0) * dir;
          });
          rows.forEach(function (row) { body.appendChild(row); });
        });
      });
    });
    Array.prototype.forEach.call(document.querySelectorAll("button[data-toggle]"), function (button) {
      button.addEventListener("click", function () {
        var open = button.getAttribute("data-open") === "1";
        var section = document.getElementById(button.getAttribute("data-toggle"));
        Array.prototype.forEach.call(section.querySelectorAll("details"), function (d) { d.open = open; });
      });
    });
    body.setAttribute("data-ready", "1");
  } catch (error) {
    note(error && error.stack ? error.stack : error);
  }
})();
"""


def _toggles(section_id: str) -> str:
    return (
        f'<span class="tools"><button type="button" data-toggle="{section_id}" data-open="1">'
        "expand all</button> "
        f'<button type="button" data-toggle="{section_id}" data-open="0">collapse all</button></span>'
    )


def render_html(
    report: dict[str, Any],
    dropped_records_iter: Iterable[dict[str, Any]],
    kept_records_iter: Iterable[dict[str, Any]],
    *,
    max_clusters: int = MAX_CLUSTERS,
    samples_per_rule: int = SAMPLES_PER_RULE,
    problems: ReadProblems | None = None,
) -> str:
    """Render the report page.

    ``report`` is the run report (``report.json``); the two iterables yield
    the records of ``dropped.jsonl`` and ``documents.jsonl`` and are each
    consumed once, dropped records first (duplicate chains must be resolved
    before the kept documents are seen). ``problems`` is filled while the
    iterables are read (see :func:`iter_jsonl`) and shown at the top.
    The page is built in memory: it is small, as every list on it is capped.
    """
    builder = ReportBuilder(samples_per_rule=samples_per_rule)
    for record in dropped_records_iter:
        builder.add_dropped(record)
    for record in kept_records_iter:
        builder.add_kept(record)
    return builder.render(report, max_clusters=max_clusters, problems=problems)


class ReportBuilder:
    """Collects what the page shows from records as they are written.

    A sink that writes JSON-shaped records can feed each one here
    (:meth:`add_kept`, :meth:`add_dropped`, in any order) and render the
    page when the run ends, without reading its output files back. Memory:
    capped samples, ~80 bytes per duplicate record and 8 bytes per kept
    document.
    """

    def __init__(self, *, samples_per_rule: int = SAMPLES_PER_RULE) -> None:
        self._collector = _Collector(samples_per_rule=samples_per_rule)
        self.samples_per_rule = samples_per_rule

    def add_kept(self, record: dict[str, Any]) -> None:
        """One record of ``documents.jsonl`` (as a dict)."""
        self._collector.add_kept(record)

    def add_dropped(self, record: dict[str, Any]) -> None:
        """One record of ``dropped.jsonl`` (as a dict)."""
        self._collector.add_dropped(record)

    def merge(self, other: ReportBuilder, source: str | None = None) -> None:
        """Add what ``other`` collected from the records after these (see
        :meth:`_Collector.merge`); ``source``: the file ``other`` was loaded from
        (a pickle of it), where the ids of its duplicate records may stay until
        the page shows them."""
        self._collector.merge(other._collector, source)

    def render(
        self,
        report: dict[str, Any],
        *,
        max_clusters: int = MAX_CLUSTERS,
        problems: ReadProblems | None = None,
    ) -> str:
        """The page for ``report`` (the run report) and the records added."""
        collector = self._collector
        collector.resolve_clusters(max_clusters)
        return _render_page(report, collector, max_clusters, self.samples_per_rule, problems)

    def write(self, path: str | Path, report: dict[str, Any]) -> Path:
        """Render and write the page atomically to ``path``."""
        page = self.render(report)
        target = Path(path)
        with atomic_write(target) as fh:
            fh.write(page)
        return target


def _render_page(
    report: dict[str, Any],
    collector: _Collector,
    max_clusters: int,
    samples_per_rule: int,
    problems: ReadProblems | None,
) -> str:
    title = f"ingest run {report.get('started') or ''}".strip()
    sections = [
        ("documents", "Where documents went", _documents_section(report), ""),
        ("lines", "Where lines went: lines removed per rule", _lines_section(collector), ""),
        (
            "clusters",
            "Duplicate clusters",
            _toggles("clusters") + _clusters_section(collector, max_clusters),
            "Dropped documents grouped by the document they duplicate (chains followed to their end).",
        ),
        (
            "samples",
            "Removed lines, samples per rule",
            _toggles("samples") + _samples_section(collector),
            f"Up to {samples_per_rule} lines per rule, at most two from any one document.",
        ),
        ("timings", "Time per stage", _timings_section(report), ""),
        ("warnings", "Warnings", _warnings_section(report), ""),
    ]
    nav = "".join(f'<a href="#{anchor}">{esc(name.split(":")[0])}</a>' for anchor, name, _, _ in sections)
    body = "".join(_section(anchor, name, content, note) for anchor, name, content, note in sections)
    extra = "".join(f'<p class="alert">{esc(note)}</p>' for note in (problems.messages() if problems else []))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # No network at all, even if someone edits the page later; and no script but the page's own
        # (its hash: a script that a document's text smuggled into the page would not run).
        # Styles stay inline: the cluster swatches have style attributes, which hashes do not cover.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        f"style-src 'unsafe-inline'; script-src {script_source(_JS)}; img-src data:\">"
        f"<title>{esc(title)}</title><style>{_CSS}</style></head>\n"
        f'<body data-ready="0"><header><h1>{esc(title)}</h1><nav>{nav}</nav></header><main>'
        f"{_headline(report, collector)}{extra}{body}</main>"
        f"<footer>Written by ingest.report.report_html from report.json, dropped.jsonl and documents.jsonl.</footer>"
        f"<script>{_JS}</script></body></html>\n"
    )


def script_source(script: str) -> str:
    """The CSP ``script-src`` source that lets exactly this inline script run
    (``'sha256-<base64>'`` of its UTF-8 text, as browsers hash it)."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def output_files(
    folder: Path, report: dict[str, Any], key: str, given: str | Sequence[str] | None, default: str
) -> list[Path]:
    """The files (one, or shards in order) holding ``key``'s records.

    Given names win; else the report's ``outputs`` (a path or a list of
    shard paths; only the file names are used, so a moved folder still
    works); else the sink's default name.
    """
    if given is None:
        listed = report.get("outputs")
        outputs: dict[str, Any] = listed if isinstance(listed, dict) else {}
        given = outputs.get(key) or default
    names = [given] if isinstance(given, (str, Path)) else list(given)
    return [folder / Path(str(name)).name for name in names]


def write_html_report(
    output_dir: str | Path,
    *,
    report: dict[str, Any] | None = None,
    path: str | Path | None = None,
    documents: str | Sequence[str] | None = None,
    dropped: str | Sequence[str] | None = None,
) -> Path:
    """Write ``report.html`` for the run in ``output_dir`` and return its path.

    ``report`` is the run report (read from ``output_dir/report.json`` when
    not given); ``path`` where to write (default ``output_dir/report.html``);
    ``documents`` and ``dropped`` the JSONL file names (or shard names)
    inside ``output_dir`` (default: as the report's ``outputs`` say, else
    the sink's defaults). Compressed files (.gz, .bz2, .xz, .zst) are read
    as such. The page is written atomically: it is complete or absent.
    """
    folder = Path(output_dir)
    if report is None:
        with (folder / REPORT_NAME).open(encoding="utf-8") as fh:
            report = json.load(fh)
        if not isinstance(report, dict):
            raise ValueError(f"{folder / REPORT_NAME}: not a JSON object")
    dropped_files = output_files(folder, report, "dropped", dropped, DROPPED_NAME)
    documents_files = output_files(folder, report, "documents", documents, DOCUMENTS_NAME)
    problems = ReadProblems()
    page = render_html(
        report, iter_jsonl(dropped_files, problems), iter_jsonl(documents_files, problems), problems=problems
    )
    target = Path(path) if path is not None else folder / HTML_NAME
    with atomic_write(target) as fh:
        fh.write(page)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ingest.report.report_html OUTPUT_DIR [-o FILE]``."""
    parser = argparse.ArgumentParser(
        prog="python -m ingest.report.report_html",
        description="Write report.html for a finished run's output folder "
        "(report.json, dropped.jsonl, documents.jsonl).",
    )
    parser.add_argument("output_dir", help="the run's output folder (or its report.json)")
    parser.add_argument("-o", "--output", help="where to write the page (default: OUTPUT_DIR/report.html)")
    args = parser.parse_args(argv)
    folder = Path(args.output_dir)
    report: dict[str, Any] | None = None
    if folder.is_file():  # a report file named directly
        try:
            report = json.loads(folder.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"ingest.report.report_html: cannot read {folder}: {exc}", file=sys.stderr)
            return 2
        folder = folder.parent
    elif not (folder / REPORT_NAME).is_file():
        print(
            f"ingest.report.report_html: no {REPORT_NAME} in {folder} (is it a finished run's output folder?)",
            file=sys.stderr,
        )
        return 2
    try:
        written = write_html_report(folder, report=report, path=args.output)
    except (OSError, ValueError) as exc:
        print(f"ingest.report.report_html: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1
    print(written)
    return 0


if __name__ == "__main__":
    sys.exit(main())
