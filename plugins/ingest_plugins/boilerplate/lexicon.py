"""Corpus-level lexicon of recurring lines: site furniture learnt from many pages.

Lines that recur across many documents -- above all across documents of the
same site -- are boilerplate: menus, footers, newsletter boxes, an author's
bio in a blog's sidebar, a standard disclaimer. The lexicon counts normalised
lines (lower case, digits as ``0``, punctuation as spaces), each line once per
document, in two ways:

* **short lines** (up to ``max_words`` words) over the whole corpus and per
  site: a short line recurring within its site is furniture whatever it looks
  like; one recurring across sites is furniture unless it reads like a
  sentence (syndicated stories repeat their sentences across sites);
* **long lines** (prose paragraphs) per site only, documents of no known site
  pooled together: such a paragraph is furniture when it recurs in at least
  ``long_min_documents`` documents of one site (``unknown_min_documents``
  where the site is unknown: only very frequent blocks) *beside different
  text*: the lines around it differ in at least ``min_contexts`` of its
  copies. A story a site publishes again, or one syndicated across outlets,
  brings its neighbouring paragraphs along, so its paragraphs never qualify.

The site of a document is its ``outlet``, else the host of its URL, else the
first folder of its path under the source (see :mod:`.sites`).

Two-pass use::

    lex = Lexicon(min_documents=3)
    for text, site in corpus:
        lex.add_document(text, site)
    lex.save("lexicon.jsonl")          # human-readable, reviewable
    clean(text, lexicon=lex, outlet=site)

or later ``Lexicon.load("lexicon.jsonl")`` / ``BoilerplateOptions(lexicon_path=...)``.
For a large corpus, :meth:`Lexicon.from_options` with ``expected_documents``
counts exactly only while few lines have been seen just once
(:data:`EXACT_SINGLES`); then a Bloom filter remembers first sightings and a
line is counted from its second document on, so memory grows with the
recurring lines, not with all the text of the corpus. The contexts of a line
are always those of its copies after the first (the first copy's counts as one
more), so both ways decide alike.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import tempfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ..native import native_module
from .lines import Page, normalise

if TYPE_CHECKING:  # pragma: no cover
    from .options import BoilerplateOptions

FORMAT = "ingest-boilerplate-lexicon"
VERSION = 2

#: The site of documents whose site is unknown (they are pooled for long lines).
UNKNOWN_SITE = ""

#: A line with at least this many words is "text" when the neighbours of a long
#: line are sought (menus and buttons around it do not tell copies apart).
_CONTEXT_MIN_WORDS = 8

#: ``before`` of a line with no text above it.
_NOTHING_ABOVE = zlib.crc32(bytes(4), 0)

#: Distinct contexts remembered per line and place (enough to pass any threshold).
_CONTEXTS_KEPT = 8

#: The thresholds of a lexicon (its constructor's arguments; the options' names, but for
#: ``max_words``: ``lexicon_max_words``), saved with it.
THRESHOLDS = (
    "min_documents",
    "min_fraction",
    "max_words",
    "long_min_documents",
    "unknown_min_documents",
    "min_contexts",
    "corpus_min_fraction",
    "long_min_fraction",
)

#: The compiled twin of :func:`fingerprint_python` and :func:`normalise_all`, if built.
_native = native_module("ingest_plugins.boilerplate._lexicon")

#: Lines seen once only that a lexicon sized for a corpus counts exactly, before it moves
#: them into a Bloom filter (about 200 bytes each).
EXACT_SINGLES = 250_000

#: The place of the corpus-wide counts of short lines (no site key starts with "*").
CORPUS = "*"

#: A lexicon is counted in this many partitions of its lines (by a checksum of the
#: line), each on its own: the partitions of a sharded run are counted in parallel
#: tasks, and an unsharded run counts the same way, so that both decide alike.
PARTITIONS = 8
#: A sharded run counts in PARTITIONS more partitions for every this many inputs it
#: planned (see :func:`partitions_for`).
INPUTS_PER_PARTITIONS = 200_000


def partitions_for(planned_inputs: int | None) -> int:
    """How many partitions a sharded run of ``planned_inputs`` inputs counts its
    lexicon in: :data:`PARTITIONS` for each :data:`INPUTS_PER_PARTITIONS` begun, so
    that a partition's task holds about the same share of the lines however large
    the corpus (the lines seen twice or more grow with it: a million news pages
    held ~145 MB of them in each of 8 partitions). Each shard files its pages'
    lines into every partition, at a cost that grows with their number (80 cost
    ~33 us a page more than 8), hence a step of 200,000 inputs. Up to 200,000
    inputs (and unsharded: None) it is PARTITIONS, as an unsharded run counts."""
    if not planned_inputs or planned_inputs <= 0:
        return PARTITIONS
    return PARTITIONS * -(-planned_inputs // INPUTS_PER_PARTITIONS)


@attrs.frozen
class LexiconEntry:
    """One recurring line: its normalised text, document count and per-site counts
    (``outlets``: the site keys, for short lines; for long lines the sites where it
    was counted, the corpus-wide ``documents`` being their sum)."""

    line: str
    documents: int
    outlets: dict[str, int]
    long: bool = False


@attrs.frozen
class Fingerprint:
    """What the lexicon counts of one document: its distinct short lines and its
    distinct long lines, each with a checksum of the text around it (its
    context). Made by :func:`fingerprint` (in a worker process, for a large
    corpus)."""

    short: list[str]
    short_contexts: list[int]
    long: list[str]
    long_contexts: list[int]


def fingerprint(text: str, max_words: int) -> Fingerprint:
    """The :class:`Fingerprint` of ``text``: lines normalised, each once (by the compiled
    ``_lexicon`` module when it is there; :func:`fingerprint_python` is its twin)."""
    if _native is None:
        return fingerprint_python(text, max_words)
    return Fingerprint(*_native.fingerprint(text, max_words, _CONTEXT_MIN_WORDS, normalise))


def normalise_all(lines: list[str]) -> list[str]:
    """``[normalise(line) for line in lines]`` (in one call to the compiled module when it is there)."""
    if _native is None:
        return [normalise(line) for line in lines]
    return _native.normalise_many(lines, normalise)  # type: ignore[no-any-return]


def fingerprint_python(text: str, max_words: int) -> Fingerprint:
    """The :class:`Fingerprint` of ``text``: lines normalised, each once.

    A line's context is a checksum of the two nearest lines of at least a few
    words before it and the two after it, so that two copies of a paragraph or headline
    with the same neighbours (a story published twice, or syndicated) share a
    context, and a bio or a menu beside different stories does not."""
    keys: list[str] = []
    # checksums of the lines of enough words to tell two copies' surroundings apart (0: too
    # short), of the line as written (digits too: "story 1" and "story 2" are different text)
    sums: list[int] = []
    crc32 = zlib.crc32
    texty_spaces = _CONTEXT_MIN_WORDS - 1
    for line in text.split("\n"):
        if line and not line.isspace() and (key := normalise(line)):
            keys.append(key)
            texty = key.count(" ") >= texty_spaces
            sums.append(crc32(line.encode("utf-8", "surrogatepass")) or 1 if texty else 0)
    n = len(keys)
    # a line with no text around it (a page of menus) is beside this page's own lines:
    # different on every page but an exact copy
    alone = crc32("\n".join(keys).encode()) if n else 0
    # checksum of the two nearest text lines above each line (0: none): two, so that a block
    # of furniture next to another (a bio above a disclaimer) still reaches the article
    before = [0] * n
    last = last2 = 0
    for i in range(n):
        before[i] = crc32(last2.to_bytes(4, "little"), last)
        if sums[i]:
            last, last2 = sums[i], last
    short: dict[str, int] = {}
    long: dict[str, int] = {}
    after = after2 = 0
    for i in range(n - 1, -1, -1):  # backwards: the first copy of a line in the page is seen last
        key = keys[i]
        if after or before[i] != _NOTHING_ABOVE:
            context = crc32(after.to_bytes(4, "little") + after2.to_bytes(4, "little"), before[i])
        else:
            context = alone
        if key.count(" ") >= max_words:  # more than max_words words
            long[key] = context
        else:
            short[key] = context
        if sums[i]:
            after, after2 = sums[i], after
    return Fingerprint(list(short), list(short.values()), list(long), list(long.values()))


@attrs.frozen
class LexiconPiece:
    """What one partition of a lexicon counts of some documents (a shard, a batch):
    how many documents each site has (None: of no known site), and the lines in the
    partition of each document that has some, as columns (a few lists for the
    piece, not a few for each document: a shard files its pages into every
    partition, so a document has an entry in most of them). The documents are in
    order; ``short_ends[k]`` is where document ``k``'s short lines end in ``short``
    (they start where document ``k - 1``'s end), and the same for long lines."""

    site_documents: dict[str | None, int]
    #: the site of each document with lines in the partition
    sites: list[str | None] = attrs.field(factory=list)
    #: those documents' short lines, their contexts, and where each document's end
    short: list[str] = attrs.field(factory=list)
    short_contexts: list[int] = attrs.field(factory=list)
    short_ends: list[int] = attrs.field(factory=list)
    #: the same for long lines
    long: list[str] = attrs.field(factory=list)
    long_contexts: list[int] = attrs.field(factory=list)
    long_ends: list[int] = attrs.field(factory=list)

    def columns(self) -> tuple[list[Any], ...]:
        """The columns, in the order the compiled ``_lexicon`` module takes them."""
        return (
            self.sites,
            self.short,
            self.short_contexts,
            self.short_ends,
            self.long,
            self.long_contexts,
            self.long_ends,
        )

    def documents(self) -> Iterator[tuple[str | None, list[str], list[int], list[str], list[int]]]:
        """Each document's site, short lines, their contexts, long lines, theirs."""
        lo = long_lo = 0
        for site, hi, long_hi in zip(self.sites, self.short_ends, self.long_ends):
            yield (
                site,
                self.short[lo:hi],
                self.short_contexts[lo:hi],
                self.long[long_lo:long_hi],
                self.long_contexts[long_lo:long_hi],
            )
            lo, long_lo = hi, long_hi


def partition_of(key: str, partitions: int) -> int:
    """The partition of normalised line ``key`` (the same in every process)."""
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % partitions


#: one document's lines of a partition: short lines, their contexts, long lines, theirs
_Filed = tuple[list[str], list[int], list[str], list[int]]


def split_prints(prints: Iterable[tuple[str | None, Fingerprint]], partitions: int) -> list[LexiconPiece]:
    """The documents' fingerprints (with their sites), one :class:`LexiconPiece` per partition."""
    return _pieces(((site, _filed(print_, partitions)) for site, print_ in prints), partitions)


def fingerprints_by_partition(
    docs: Iterable[tuple[str | None, str]], max_words: int, partitions: int
) -> list[LexiconPiece]:
    """:func:`split_prints` of the :func:`fingerprint` of each ``(site, text)``: with the
    compiled module, one call a document that fingerprints and files its lines at once."""
    if _native is None:
        return split_prints(((site, fingerprint_python(text, max_words)) for site, text in docs), partitions)
    # each document's lines go straight into its partitions' columns (no list of every
    # partition a document, nor lists of its own a document and partition)
    file, site_documents = _native.fingerprint_file, Counter()
    columns: list[list[list[Any]]] = [[[] for _ in range(7)] for _ in range(partitions)]
    for site, text in docs:
        site_documents[site] += 1
        file(text, max_words, _CONTEXT_MIN_WORDS, site, columns)
    return [LexiconPiece(dict(site_documents), *piece) for piece in columns]


def _filed(print_: Fingerprint, partitions: int) -> list[_Filed | None]:
    """One document's fingerprint filed by partition (None: no line there); with
    :func:`_pieces`, the Python twin of the compiled ``fingerprint_file``."""
    filed: list[_Filed | None] = [None] * partitions
    crc32 = zlib.crc32
    for slot, keys, contexts in (
        (0, print_.short, print_.short_contexts),
        (2, print_.long, print_.long_contexts),
    ):
        for key, context in zip(keys, contexts):
            p = crc32(key.encode("utf-8", "surrogatepass")) % partitions
            lists = filed[p]
            if lists is None:
                lists = filed[p] = ([], [], [], [])
            lists[slot].append(key)  # type: ignore[arg-type]  # a key into slot 0 or 2
            lists[slot + 1].append(context)  # type: ignore[arg-type]  # its context beside it
    return filed


def _pieces(
    filed: Iterable[tuple[str | None, Sequence[Sequence[Any] | None]]], partitions: int
) -> list[LexiconPiece]:
    """The :class:`LexiconPiece` of each partition, from each document's site and lines
    filed by partition, in document order."""
    site_documents: Counter[str | None] = Counter()
    pieces = [LexiconPiece({}) for _ in range(partitions)]
    for site, lists_by_partition in filed:
        site_documents[site] += 1
        for piece, lists in zip(pieces, lists_by_partition):
            if lists is not None:
                short, short_contexts, long, long_contexts = lists
                piece.sites.append(site)
                piece.short.extend(short)
                piece.short_contexts.extend(short_contexts)
                piece.short_ends.append(len(piece.short))
                piece.long.extend(long)
                piece.long_contexts.extend(long_contexts)
                piece.long_ends.append(len(piece.long))
    return [attrs.evolve(piece, site_documents=dict(site_documents)) for piece in pieces]


class _SeenOnce:
    """A Bloom filter of (site, line) pairs seen once: a line enters the exact
    counts on its second sighting (false positives count a line once too often,
    at the rate the filter is sized for, about 1%)."""

    def __init__(self, expected: int) -> None:
        self.bits = max(1 << 20, expected * 10)
        self.array = bytearray((self.bits + 7) // 8)

    def add(self, item: tuple[str, str]) -> bool:
        """Mark ``item`` (a place and a line) seen; True when it was (probably) seen before."""
        # checksums, not hash(): the same bits in every process (a resumed run counts alike),
        # and the same as the compiled count_filtered's
        data = "\0".join(item).encode("utf-8", "surrogatepass")
        h1 = zlib.crc32(data)
        h2 = zlib.crc32(data, h1) | 1
        array, bits, seen = self.array, self.bits, True
        for i in range(3):
            pos = (h1 + i * h2) % bits
            byte, bit = pos >> 3, 1 << (pos & 7)
            if not array[byte] & bit:
                seen = False
                array[byte] |= bit
        return seen


class Lexicon:
    """Counts of normalised lines over a corpus, with boilerplate thresholds.

    A short line is boilerplate when it occurs in at least ``min_documents``
    documents and in at least ``min_fraction`` of all documents, *or* when it
    occurs in at least ``min_documents`` documents of the given site and in at
    least ``min_fraction`` of that site's documents. A long line: see the
    module docstring.
    """

    def __init__(
        self,
        min_documents: int = 3,
        min_fraction: float = 0.0,
        max_words: int = 30,
        *,
        long_min_documents: int = 4,
        unknown_min_documents: int = 6,
        min_contexts: int = 3,
        corpus_min_fraction: float = 0.0,
        long_min_fraction: float = 0.0,
        expected_documents: int | Callable[[], int] | None = None,
        share: int = 1,
    ) -> None:
        self.min_documents = min_documents
        self.min_fraction = min_fraction
        self.max_words = max_words
        self.long_min_documents = long_min_documents
        self.unknown_min_documents = unknown_min_documents
        self.min_contexts = min_contexts
        self.corpus_min_fraction = corpus_min_fraction
        self.long_min_fraction = long_min_fraction
        self.documents = 0
        self.unknown_documents = 0  # of them, those of no known site
        self.outlet_documents: Counter[str] = Counter()
        self._counts: Counter[str] = Counter()
        self._outlets: dict[str, dict[str, int]] = {}  # line -> site -> documents
        # long lines: per site (UNKNOWN_SITE pooled), with the contexts they were seen in
        self._long: dict[str, dict[str, int]] = {}
        # distinct contexts per (place, line): the place is a site, or CORPUS for short lines
        self._contexts: dict[tuple[str, str], tuple[int, ...]] = {}
        # exact counts while few lines are seen once only, then a Bloom filter of those
        self._seen: _SeenOnce | None = None
        self._singles = 0
        # a lexicon that counts one of ``share`` partitions of the lines: its share of the budget
        self._share = max(1, share)
        self._singles_budget = EXACT_SINGLES // self._share if expected_documents is not None else sys.maxsize
        # asked only if the filter is needed (a sharded run's combine knows the number
        # of documents once every shard has passed the stage's first phase)
        self._expected_documents = expected_documents
        self._settled = False
        # finalized here: every entry passed the thresholds as they are (a loaded lexicon is
        # judged again, with thresholds a config may have changed)
        self._final = False
        # lines that are furniture wherever they are (a replay of a run's decisions)
        self._everywhere: set[str] = set()
        self._keys: frozenset[str] | None = None  # see keys()
        self._by_site: dict[str, tuple[list[str], list[str], list[str]]] | None = None  # see for_sites()
        # long lines kept but marked as recurring text, with the sites (UNKNOWN_SITE too) where
        self._recurring: dict[str, set[str]] = {}

    @classmethod
    def from_options(
        cls,
        options: BoilerplateOptions,
        expected_documents: int | Callable[[], int] | None = None,
        *,
        share: int = 1,
    ) -> Lexicon:
        """An empty lexicon with the thresholds of ``options``, for the two-pass mode;
        ``expected_documents`` (or a function giving it, called only when the filter
        is made) sizes the filter that keeps memory bounded (None: count every line
        exactly); ``share``: it counts one of so many partitions of the lines (see
        :meth:`add_piece`)."""
        names = {name: "lexicon_max_words" if name == "max_words" else name for name in THRESHOLDS}
        return cls(
            **{name: getattr(options, field) for name, field in names.items()},
            expected_documents=expected_documents,
            share=share,
        )

    @classmethod
    def counted_in_partitions(
        cls,
        options: BoilerplateOptions,
        batches: Iterable[list[LexiconPiece]],
        expected_documents: int | Callable[[], int] | None = None,
    ) -> Lexicon:
        """The finalized lexicon of the documents in ``batches`` (each a list of one
        :class:`LexiconPiece` per partition, from :func:`split_prints`), counted
        partition by partition as a sharded run's tasks count them."""
        parts: list[Lexicon] = []
        for pieces in batches:
            if not parts:
                parts = [
                    cls.from_options(options, expected_documents, share=len(pieces))
                    for _ in range(len(pieces))
                ]
            for lexicon, piece in zip(parts, pieces):
                lexicon.add_piece(piece)
        if not parts:
            return cls.from_options(options).finalize()
        return cls.merged([lexicon.finalize() for lexicon in parts])

    @classmethod
    def merged(cls, partials: Sequence[Lexicon]) -> Lexicon:
        """One lexicon of finalized lexicons of the partitions of the same documents'
        lines (each holding its own lines; the document counts are the same in all)."""
        first = partials[0]
        whole = cls(**first.thresholds())  # type: ignore[arg-type]
        whole.documents, whole.unknown_documents = first.documents, first.unknown_documents
        whole.outlet_documents = Counter(first.outlet_documents)
        whole._settled = all(p._settled for p in partials)
        whole._final = all(p._final for p in partials)
        for part in partials:
            whole._counts.update(part._counts)
            whole._outlets.update(part._outlets)
            whole._long.update(part._long)
            whole._recurring.update(part._recurring)
            whole._everywhere |= part._everywhere
        return whole

    def thresholds(self) -> dict[str, int | float]:
        """The thresholds the lexicon was made with (:data:`THRESHOLDS`), by name."""
        return {name: getattr(self, name) for name in THRESHOLDS}

    # ------------------------------------------------------------ building
    def add_document(self, text: str, outlet: str | None = None) -> None:
        """Count the distinct normalised lines of one document (once each);
        ``outlet`` is the document's site, if known."""
        self.add_fingerprint(fingerprint(text, self.max_words), outlet)

    def add_fingerprint(self, print_: Fingerprint, site: str | None = None) -> None:
        """Count one document from its :class:`Fingerprint` (see :func:`fingerprint`)."""
        self.documents += 1
        if site is not None:
            self.outlet_documents[site] += 1
        else:
            self.unknown_documents += 1
        self._count(
            site,
            list(print_.short),
            list(print_.short_contexts),
            list(print_.long),
            list(print_.long_contexts),
        )

    def add_piece(self, piece: LexiconPiece) -> None:
        """Count one partition's lines of some documents (see :func:`split_prints`):
        this lexicon then holds that partition's lines, and every document counts."""
        for site, n in piece.site_documents.items():
            self.documents += n
            if site is not None:
                self.outlet_documents[site] += n
            else:
                self.unknown_documents += n
        if _native is None:
            for site, short, short_contexts, long, long_contexts in piece.documents():
                self._count(site, short, short_contexts, long, long_contexts)
            return
        # the compiled module goes through the documents: exact counting stops after the
        # document that takes the lines seen once past the budget, and the rest is filtered
        tables = (self._counts, self._outlets, self._long, self._contexts)
        columns, places = piece.columns(), (UNKNOWN_SITE, CORPUS, _CONTEXTS_KEPT)
        done, total = 0, len(piece.sites)
        while done < total and self._seen is None:
            done, singles = _native.count_exact_docs(
                *tables, *columns, *places, done, self._singles_budget - self._singles
            )
            self._singles += singles
            if self._singles > self._singles_budget:
                self._to_filter()
        if done < total:
            assert self._seen is not None
            _native.count_filtered_docs(*tables, *columns, *places, done, self._seen.array, self._seen.bits)

    def _count(
        self,
        site: str | None,
        short: list[str],
        short_contexts: list[int],
        long: list[str],
        long_contexts: list[int],
    ) -> None:
        """Count the distinct lines of one document (the document itself is counted by the caller)."""
        if _native is None:
            print_ = Fingerprint(short, short_contexts, long, long_contexts)
            if self._seen is None:
                self._add_exact(print_, site)
            else:
                self._add_filtered(print_, site)
        else:
            tables = (self._counts, self._outlets, self._long, self._contexts)
            lines = (short, short_contexts, long, long_contexts)
            places = (site, UNKNOWN_SITE, CORPUS, _CONTEXTS_KEPT)
            if self._seen is None:
                self._singles += _native.count_exact(*tables, *lines, *places)
            else:
                _native.count_filtered(*tables, *lines, *places, self._seen.array, self._seen.bits)
        if self._singles > self._singles_budget:
            self._to_filter()

    def _add_exact(self, print_: Fingerprint, site: str | None) -> None:
        """:meth:`add_fingerprint` while counting is exact (the compiled ``count_exact``
        is its twin): every sighting counted, the first at a place without its context."""
        counts, context_of = self._counts, self._context
        singles = 0  # places at which a line has been seen once, as it changes here

        def count_at(table: dict[str, dict[str, int]], key: str, place: str, context: int) -> None:
            nonlocal singles
            per = table.get(key)
            n = None if per is None else per.get(place)
            if n is None:
                table.setdefault(key, {})[place] = 1
                singles += 1
            else:
                per[place] = n + 1  # type: ignore[index]
                singles -= n == 1
                context_of((place, key), context)

        for key, context in zip(print_.short, print_.short_contexts):
            n = counts.get(key)
            if n is None:
                counts[key] = 1
                singles += 1
            else:
                counts[key] = n + 1
                singles -= n == 1
                context_of((CORPUS, key), context)
            if site is not None:
                count_at(self._outlets, key, site, context)
        place = UNKNOWN_SITE if site is None else site
        for key, context in zip(print_.long, print_.long_contexts):
            count_at(self._long, key, place, context)
        self._singles += singles

    def _add_filtered(self, print_: Fingerprint, site: str | None) -> None:
        """:meth:`add_fingerprint` once first sightings go to the Bloom filter: a line not
        counted yet at a place is counted from its second sighting on, as 2, with that
        sighting's context (the contexts are those of the copies after the first either
        way, so that both ways decide alike)."""
        assert self._seen is not None
        seen, counts, contexts, context_of = self._seen.add, self._counts, self._contexts, self._context

        def count_at(table: dict[str, dict[str, int]], key: str, place: str, context: int) -> None:
            per = table.get(key)
            n = None if per is None else per.get(place)
            if n is not None:
                per[place] = n + 1  # type: ignore[index]
                context_of((place, key), context)
            elif seen((place, key)):
                table.setdefault(key, {})[place] = 2
                contexts[(place, key)] = (context,)

        for key, context in zip(print_.short, print_.short_contexts):
            n = counts.get(key)
            if n is not None:
                counts[key] = n + 1
                context_of((CORPUS, key), context)
            elif seen((CORPUS, key)):
                counts[key] = 2
                contexts[(CORPUS, key)] = (context,)
            if site is not None:
                count_at(self._outlets, key, site, context)
        place = UNKNOWN_SITE if site is None else site
        for key, context in zip(print_.long, print_.long_contexts):
            count_at(self._long, key, place, context)

    def _to_filter(self) -> None:
        """Move the lines seen only once into the Bloom filter: memory grows with the
        recurring lines from now on, not with all the text of the corpus."""
        expected = self._expected_documents
        expected_lines = 64 * ((expected() if callable(expected) else expected) or 0) // self._share
        self._seen = _SeenOnce(max(expected_lines, 20 * self._singles))
        add = self._seen.add
        for key in [k for k, n in self._counts.items() if n == 1]:
            add((CORPUS, key))
            del self._counts[key]
        for table in (self._outlets, self._long):
            for key in list(table):
                per = table[key]
                for place in [p for p, n in per.items() if n == 1]:
                    add((place, key))
                    del per[place]
                if not per:
                    del table[key]
        self._singles = 0

    def _context(self, where: tuple[str, str], context: int) -> None:
        seen = self._contexts.get(where, ())
        if len(seen) < _CONTEXTS_KEPT and context not in seen:
            self._contexts[where] = (*seen, context)

    def fit(self, texts: Sequence[str] | Sequence[tuple[str, str | None]]) -> Lexicon:
        """Add many documents (plain texts or ``(text, site)`` pairs); returns ``self``."""
        for item in texts:
            if isinstance(item, tuple):
                self.add_document(item[0], item[1])
            else:
                self.add_document(item)
        return self

    def finalize(self) -> Lexicon:
        """Drop entries that can never pass the thresholds (smaller file, faster lookups)."""
        # most lines are on one page only: a count below every threshold is dropped unread
        floor = max(1, self.min_documents)
        long_floor = max(1, min(self.long_min_documents, self.unknown_min_documents))
        passes, long_passes = self._passes, self._long_passes
        self._counts = Counter({k: n for k, n in self._counts.items() if n >= floor and passes(CORPUS, k, n)})
        outlets = (
            (k, {s: n for s, n in c.items() if n >= floor and passes(s, k, n)})
            for k, c in self._outlets.items()
        )
        self._outlets = {k: c for k, c in outlets if c}
        candidates = {
            k: {s: n for s, n in c.items() if n >= long_floor}
            for k, c in self._long.items()
            if max(c.values()) >= long_floor
        }
        # a paragraph beside different text on too few of its site's pages to be removed: kept,
        # but marked for the dedup stage not to merge pages on it. Not where the site is
        # unknown: there the copies of a syndicated story, edited here and there, look the same
        recurring = (
            (
                k,
                {
                    s
                    for s, n in c.items()
                    if s != UNKNOWN_SITE and self._recurs(k, s, n) and not long_passes(k, s, n)
                },
            )
            for k, c in candidates.items()
        )
        self._recurring = {k: sites for k, sites in recurring if sites}
        longs = ((k, {s: n for s, n in c.items() if long_passes(k, s, n)}) for k, c in candidates.items())
        self._long = {k: c for k, c in longs if c}
        # what is left passed the context test: the contexts are no longer needed
        self._contexts = {}
        self._settled = True
        self._final = True
        self._seen = None  # counting is over
        # and so is the estimate it was sized by: a finalized lexicon travels between processes
        # (a sharded run's partitions send theirs back to be saved), a function may not
        self._expected_documents = None
        return self

    build = finalize

    def _varied(self, place: str, key: str) -> bool:
        """Whether line ``key`` was seen at ``place`` beside different text often enough."""
        if self._settled:
            return True  # finalized or loaded: every entry passed
        # the contexts are those of the copies after the first (see add_fingerprint): the first
        # copy's surroundings count as one more
        return len(self._contexts.get((place, key), ())) >= self.min_contexts - 1

    def _passes(self, place: str, key: str, n: int) -> bool:
        """The short-line test at ``place`` (a site, or CORPUS) for a line in ``n`` documents."""
        if place == CORPUS:
            if not key.strip("0 "):
                return False  # a number or a price: the same on many pages by chance, not furniture
            total, fraction = self.documents, max(self.min_fraction, self.corpus_min_fraction)
        else:
            total, fraction = self.outlet_documents.get(place, 0), self.min_fraction
        return n >= self.min_documents and total > 0 and n / total >= fraction and self._varied(place, key)

    def _recurs(self, key: str, site: str, n: int) -> bool:
        """A long line in at least ``long_min_documents`` documents of ``site`` (any share of
        them, any site), beside different text."""
        return n >= self.long_min_documents and self._varied(site, key)

    def _long_passes(self, key: str, site: str, n: int) -> bool:
        least = self.unknown_min_documents if site == UNKNOWN_SITE else self.long_min_documents
        total = self.outlet_documents.get(site, 0) if site != UNKNOWN_SITE else self.unknown_documents
        return n >= least and n >= self.long_min_fraction * total and self._varied(site, key)

    # ------------------------------------------------------------ queries
    def count(self, line: str) -> int:
        """Number of documents containing the short line ``line`` (normalised)."""
        return self._counts.get(normalise(line), 0)

    def lookup(self, line: str) -> LexiconEntry | None:
        """The entry of ``line`` (normalised), or None."""
        key = normalise(line)
        n = self._counts.get(key)
        if n:
            return LexiconEntry(key, n, dict(self._outlets.get(key, {})))
        per = self._long.get(key)
        if per:
            return LexiconEntry(key, sum(per.values()), dict(per), long=True)
        return None

    def is_boilerplate_key(self, key: str, outlet: str | None = None) -> bool:
        """Threshold test on an already normalised short line."""
        return self.match_key(key, outlet) is not None

    def match_key(self, key: str, outlet: str | None = None) -> str | None:
        """For a normalised short line: ``"outlet"`` when it recurs within the site
        ``outlet``, ``"corpus"`` when it recurs across the corpus, else None."""
        if key in self._everywhere:
            return "outlet"
        if self._final:  # every entry passed at finalize: membership is the answer
            if outlet is not None and outlet in self._outlets.get(key, ()):
                return "outlet"
            return "corpus" if key in self._counts else None
        if outlet is not None:
            per = self._outlets.get(key)
            if per:
                k = per.get(outlet, 0)
                if k and self._passes(outlet, key, k):
                    return "outlet"
        n = self._counts.get(key, 0)
        if n and self._passes(CORPUS, key, n):
            return "corpus"
        return None

    def match_long(self, key: str, site: str | None = None) -> bool:
        """For a normalised long line: True when it is furniture of ``site`` (None:
        of the documents whose site is unknown)."""
        if key in self._everywhere:
            return True
        if self._final:
            return (UNKNOWN_SITE if site is None else site) in self._long.get(key, ())
        per = self._long.get(key)
        if not per:
            return False
        place = UNKNOWN_SITE if site is None else site
        n = per.get(place, 0)
        return n > 0 and self._long_passes(key, place, n)

    @classmethod
    def of_lines(cls, lines: Sequence[str], max_words: int = 30) -> Lexicon:
        """A lexicon in which each of ``lines`` is furniture wherever it appears, whatever the
        thresholds: what ``ingest explain --set`` replays of a run's lexicon on one page."""
        lex = cls(max_words=max_words)
        lex._settled = True
        lex._everywhere = {key for key in map(normalise, lines) if key}
        return lex

    def keys(self) -> frozenset[str]:
        """Every normalised line the lexicon may remove (of any kind, any site); made
        once the lexicon is finalized or loaded, for a quick first test of a page's lines."""
        if self._keys is None or not self._settled:
            self._keys = frozenset(itertools.chain(self._counts, self._outlets, self._long, self._everywhere))
        return self._keys

    def recurs(self, key: str, site: str | None = None) -> bool:
        """For a normalised long line the lexicon keeps: True when it recurs beside different
        text in documents of ``site`` (None: of no known site) without being furniture there
        (too few of them): the dedup stage must not merge two pages on it."""
        places = self._recurring.get(key)
        return places is not None and (UNKNOWN_SITE if site is None else site) in places

    @property
    def has_recurring(self) -> bool:
        """Whether any line is marked as recurring text (see :meth:`recurs`)."""
        return bool(self._recurring)

    def for_sites(self, sites: set[str | None]) -> Lexicon:
        """A copy holding only what a document of one of ``sites`` can match: the
        corpus-wide short lines and the entries of those sites (finalized lexicons
        only: what a task of the second pass carries to its worker)."""
        part = Lexicon(**self.thresholds())  # type: ignore[arg-type]
        part._settled = self._settled
        part._final = self._final
        part._everywhere = self._everywhere
        part.documents = self.documents
        part.unknown_documents = self.unknown_documents
        places = {UNKNOWN_SITE if site is None else site for site in sites}
        part.outlet_documents = Counter({s: n for s, n in self.outlet_documents.items() if s in places})
        part._counts = self._counts
        index = self._site_index()
        for place in places:
            outlets, longs, recurring = index.get(place, ((), (), ()))
            for key in outlets:
                part._outlets.setdefault(key, {})[place] = self._outlets[key][place]
            for key in longs:
                part._long.setdefault(key, {})[place] = self._long[key][place]
            for key in recurring:
                part._recurring.setdefault(key, set()).add(place)
        return part

    def _site_index(self) -> dict[str, tuple[list[str], list[str], list[str]]]:
        """site -> the lines it has entries for (short, long, recurring), made once: a
        batch's slice (:meth:`for_sites`) then costs its sites' entries, not all of them."""
        if self._by_site is None:
            self._by_site = {}
            tables: tuple[Mapping[str, Iterable[str]], ...] = (self._outlets, self._long, self._recurring)
            for slot, table in enumerate(tables):
                for key, places in table.items():
                    for place in places:
                        self._by_site.setdefault(place, ([], [], []))[slot].append(key)
        return self._by_site

    def contains(self, line: str, outlet: str | None = None) -> bool:
        """True when ``line`` is recurring boilerplate (see the class docstring)."""
        key = normalise(line)
        if key.count(" ") + 1 > self.max_words:
            return self.match_long(key, outlet)
        return self.is_boilerplate_key(key, outlet)

    __contains__ = contains

    def entries(self) -> Iterator[LexiconEntry]:
        """All counted lines, most frequent first (for review)."""
        for key, n in sorted(self._counts.items(), key=lambda kv: (-kv[1], kv[0])):
            yield LexiconEntry(key, n, dict(self._outlets.get(key, {})))
        long = [(key, sum(per.values()), per) for key, per in self._long.items()]
        for key, n, per in sorted(long, key=lambda kv: (-kv[1], kv[0])):
            yield LexiconEntry(key, n, dict(per), long=True)

    def __len__(self) -> int:
        return len(self._counts) + len(self._long) + len(self._everywhere)

    # ------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the lexicon as JSON lines (header line, then one entry per line), atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {
            "format": FORMAT,
            "version": VERSION,
            "documents": self.documents,
            "unknown_documents": self.unknown_documents,
            "outlet_documents": dict(sorted(self.outlet_documents.items())),
            **self.thresholds(),
        }
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(header, ensure_ascii=False) + "\n")
                for line, where in sorted(self._recurring.items()):
                    marked = {"line": line, "recurring": sorted(where)}  # kept, marked for dedup
                    fh.write(json.dumps(marked, ensure_ascii=False) + "\n")
                for line in sorted(self._everywhere):
                    fh.write(json.dumps({"line": line, "everywhere": True}, ensure_ascii=False) + "\n")
                for e in self.entries():
                    rec: dict[str, object] = {
                        "line": e.line,
                        "documents": e.documents,
                        "outlets": dict(sorted(e.outlets.items())),
                    }
                    if e.long:
                        rec["long"] = True  # furniture of the listed sites only
                    fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Lexicon:
        """Read a file written by :meth:`save` (a reviewer may have deleted entries).
        A long line listed there is furniture of its sites (it passed the thresholds
        when it was saved)."""
        with open(path, encoding="utf-8") as fh:
            first = fh.readline()
            header = json.loads(first) if first.strip() else {}
            if header.get("format") != FORMAT:
                raise ValueError(f"{path}: not an {FORMAT} file")
            lex = cls(**{name: header[name] for name in THRESHOLDS if name in header})
            lex.documents = int(header.get("documents", 0))
            lex.unknown_documents = int(header.get("unknown_documents", 0))
            lex._settled = True  # contexts are not saved: every entry passed when it was written
            # version 1 named outlets as written; sites are keyed "outlet:<name>" since
            site_key = _v1_site if int(header.get("version", 1)) < 2 else str
            lex.outlet_documents = Counter(
                {site_key(k): int(v) for k, v in header.get("outlet_documents", {}).items()}
            )
            for n, raw in enumerate(fh, start=2):
                if not raw.strip():
                    continue
                try:
                    rec = json.loads(raw)
                    key = normalise(rec["line"])
                    if rec.get("everywhere"):
                        lex._everywhere.add(key)
                        continue
                    if rec.get("recurring"):
                        lex._recurring[key] = {site_key(k) for k in rec["recurring"]}
                        continue
                    outlets = {site_key(k): int(v) for k, v in (rec.get("outlets") or {}).items()}
                    if rec.get("long"):
                        lex._long[key] = outlets
                        continue
                    lex._counts[key] = int(rec["documents"])
                    if outlets:
                        lex._outlets[key] = outlets
                except (ValueError, KeyError, TypeError, AttributeError) as exc:
                    raise ValueError(f"{path}:{n}: bad lexicon entry: {exc}") from exc
        return lex


def _v1_site(outlet: object) -> str:
    return "outlet:" + " ".join(str(outlet).casefold().split())


class LexiconRule:
    """Removes lines found in the corpus lexicon (recurring site furniture).

    A short line that recurs only across sites and reads like a sentence is
    left alone: syndicated stories repeat their sentences across sites. Short
    lines that recur within the page's own site are removed whatever they look
    like, and so are long lines that the lexicon holds as furniture of the site.
    """

    name = "lexicon"

    def __call__(self, page: Page) -> Iterator[tuple[int, float]]:
        lex = page.lexicon
        if lex is None or not len(lex):
            return
        o = page.options
        nonblank = page.nonblank
        known = lex.keys()
        for f, key in zip(nonblank, normalise_all([f.text for f in nonblank])):
            if key not in known:
                continue  # most lines of a page: not in the lexicon at all
            if key.count(" ") >= lex.max_words:  # more than max_words words
                if lex.match_long(key, page.outlet):
                    yield f.index, 1.0
                continue
            hit = lex.match_key(key, page.outlet)
            if hit is None:
                continue
            if hit == "corpus" and f.ends_sentence and f.n_words >= 6 and f.stop_density >= o.stopwords_low:
                continue  # syndicated prose, not furniture
            yield f.index, 1.0
