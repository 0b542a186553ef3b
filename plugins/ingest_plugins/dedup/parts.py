"""The part-search round of a sharded dedup: documents a page holds that LSH missed.

A composite page (a digest of several stories) is found from its candidate parts:
the smaller ends of its verified edges. LSH finds a part of a page with the
probability of their Jaccard, the part's share of the page, so the engine also
looks every shingle of a candidate page up among every document's few smallest
shingle hashes (a document contained in a page has them in the page's set) and
verifies what it finds (:meth:`engine.DedupEngine._search_parts`). That table of
every document is the one thing of the composite search that grows with the
corpus; over shards it is cut by value:

* each shard's task cuts its documents' smallest hashes into partitions by value
  (:func:`cut_smallest`);
* each task of the pair round takes its verified edges' candidate pages (those
  that none of the task's edges makes a copy of another document), re-reads their
  texts and cuts their shingles into the same partitions (:func:`page_pieces`);
* each task of this round holds its share of the table, looks its share of every
  page's shingles up in it, verifies the documents it finds from their texts, and
  passes on which pages a found document is a copy of and which it is a part of
  (:func:`search_partition`).

A value's count (a hash among the smallest of more than ``_BOTTOM_MAX_DF``
documents is shared furniture, never searched by) is complete within its
partition, and the task that resolves a page applies what every partition found to the
candidates it finds from all the edges (:meth:`engine.DedupEngine.add_shards`):
the decisions are those of one engine.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
import numpy as np

from .buckets import VerifiedPairs, grouped_by_partition, tasks_for
from .engine import _BOTTOM_MAX_DF, DedupOptions, _rare_values, accepted, candidate_parts, shingler
from .pairs import TextsAt, measure_rows, normalised_rows
from .shard_hashes import ShardHashes
from .shingles import concat_ranges, sorted_unique

#: Planned inputs per partition of the part search: a task holds four smallest
#: hashes a document of its share (a value, a row and a set size: 12 bytes each,
#: ~2.5 MB for 50,000 documents, as much again while they are sorted) and its share
#: of every candidate page's shingles (a generated news corpus: ~40 candidate pages
#: per 1,000 documents, ~340 shingles each).
INPUTS_PER_PARTITION = 50_000

#: Page shingles looked up in the table at once (their temporaries: ~40 bytes each).
LOOKED_UP_AT_ONCE = 1 << 17

_EMPTY = np.zeros(0, dtype=np.int64)


def partitions_for(planned: int | None) -> int:
    """How many partitions the part search has for ``planned`` inputs."""
    return tasks_for(planned, INPUTS_PER_PARTITION)


@attrs.define(eq=False)
class SmallestPiece:
    """A shard's smallest shingle hashes that fall in one partition, by value."""

    #: how many documents the shard has (its rows' offset in the corpus follows from it)
    count: int
    #: the hashes (uint32), the row in the shard of each, and that row's set size (uint32)
    values: np.ndarray
    rows: np.ndarray
    sizes: np.ndarray


def cut_smallest(hashes: ShardHashes, partitions: int, min_shingles: int) -> list[SmallestPiece]:
    """A shard's smallest shingle hashes (``hashes.bottom``, of the documents with at
    least ``min_shingles`` shingles: no smaller one counts as a part), cut into
    ``partitions`` pieces by value."""
    n = len(hashes)
    rows = np.flatnonzero(np.asarray(hashes.sizes) >= max(min_shingles, 1))
    width = hashes.bottom.shape[1] if hashes.bottom.ndim == 2 else 0
    values = np.ascontiguousarray(hashes.bottom[rows], dtype=np.uint32).ravel()
    row_of = np.repeat(rows.astype(np.uint32), width)
    size_of = np.repeat(np.asarray(hashes.sizes)[rows].astype(np.uint32), width)
    starts, order = grouped_by_partition(values % np.uint32(partitions), partitions)
    values, row_of, size_of = values[order], row_of[order], size_of[order]
    return [
        SmallestPiece(n, values[lo:hi], row_of[lo:hi], size_of[lo:hi])
        for lo, hi in zip(starts[:-1].tolist(), starts[1:].tolist())
    ]


@attrs.define(eq=False)
class PageShingles:
    """What a task of the pair round passes to one task of the part search."""

    #: how many documents the corpus has
    total: int
    #: candidate pages (rows, ascending), their set sizes, and their shingles in this
    #: partition: page k's are ``values[ends[k - 1]:ends[k]]`` (``ends[-1]`` for k = 0: 0)
    pages: np.ndarray
    sizes: np.ndarray
    ends: np.ndarray
    values: np.ndarray
    #: (page, part) codes ``page * total + part`` of the task's own candidate parts
    known: np.ndarray
    #: every exact copy the task was passed (rows): no copy is a part, its original is
    copies: np.ndarray
    #: the task's verified pairs, passed on to the tasks that resolve through this partition
    #: (one partition of the part search gets them), else None
    verified: VerifiedPairs | None = None


def page_pieces(
    verified: VerifiedPairs,
    sizes: np.ndarray,
    options: DedupOptions,
    texts_at: TextsAt,
    partitions: int,
    carry: int,
) -> list[PageShingles]:
    """A pair task's candidate pages, their shingles cut into ``partitions`` pieces
    by value; ``sizes``: the set sizes of both ends of each verified edge ((k, 2));
    ``verified`` rides along to partition ``carry``."""
    total = verified.total
    page, part = candidate_parts(options, verified.edges, verified.jaccard, verified.containment, sizes)
    pages = sorted_unique(page)
    size_of = dict(zip(verified.edges.ravel().tolist(), sizes.ravel().tolist()))
    page_sizes = np.array([size_of[p] for p in pages.tolist()], dtype=np.int64)
    known = sorted_unique(page * max(total, 1) + part)
    sh = shingler(options)
    sets_of: list[list[np.ndarray]] = [[] for _ in range(partitions)]
    counts = np.zeros((partitions, pages.size), dtype=np.int64)
    at = 0
    for batch in normalised_rows(options, pages, texts_at):
        sets, off = sh.shingle_sets(sh.tokens([t for _, t in batch], keys=False))
        for k in range(len(batch)):
            own = sets[off[k] : off[k + 1]].astype(np.uint32)
            which = own % np.uint32(partitions)
            for p in range(partitions):
                mine = own[which == p]
                sets_of[p].append(mine)
                counts[p, at] = mine.size
            at += 1
    out = []
    for p in range(partitions):
        values = np.concatenate(sets_of[p]) if sets_of[p] else np.zeros(0, dtype=np.uint32)
        out.append(
            PageShingles(
                total,
                pages,
                page_sizes,
                np.cumsum(counts[p]),
                values,
                known,
                verified.copies,
                verified if p == carry else None,
            )
        )
    return out


@attrs.define(eq=False)
class FoundParts:
    """What a task of the part search passes on (to the component task)."""

    #: how many documents the corpus has
    total: int
    #: pages a document found in them is a copy of (rows, ascending): no composite
    copied: np.ndarray
    #: (page, part) rows of the documents found in a page, verified, not copies of it
    pages: np.ndarray
    parts: np.ndarray
    #: the pair round's verified pairs that came through this partition
    verified: list[VerifiedPairs]


def search_partition(
    pieces: Iterable[SmallestPiece], passed: Iterable[PageShingles], options: DedupOptions, texts_at: TextsAt
) -> FoundParts:
    """A task of the part search: its piece of every shard's smallest hashes (in shard
    order) and what every pair task passed it, looked up and verified as
    :meth:`engine.DedupEngine._search_parts` does over the whole table."""
    passed = list(passed)
    total = 0
    values, rows, sizes = [], [], []
    for piece in pieces:
        values.append(piece.values)
        # rows in 4 bytes while the corpus has fewer than 2**32 (concatenating widens the rest)
        fits = total + piece.count < 2**32
        rows.append(piece.rows + np.uint32(total) if fits else piece.rows.astype(np.int64) + total)
        sizes.append(piece.sizes)
        total += piece.count
    if any(p.total != total for p in passed):
        raise ValueError(
            f"the pair round's pages are for {sorted({p.total for p in passed})} documents, not {total}"
        )
    verified = [p.verified for p in passed if p.verified is not None]
    n = max(total, 1)
    table_values = np.concatenate(values) if values else np.zeros(0, dtype=np.uint32)
    table_rows = np.concatenate(rows) if rows else _EMPTY
    table_sizes = np.concatenate(sizes) if sizes else _EMPTY
    del values, rows, sizes
    # the table holds one document per exact text: the copies' rows go
    copies = sorted_unique(np.concatenate([p.copies for p in passed])) if passed else _EMPTY
    if copies.size:
        at = np.minimum(np.searchsorted(copies, table_rows), copies.size - 1)
        original = copies[at] != table_rows
        table_values, table_rows, table_sizes = (
            table_values[original],
            table_rows[original],
            table_sizes[original],
        )
    order = np.lexsort((table_rows, table_values))  # by value, rows ascending within one
    table_values, table_rows, table_sizes = table_values[order], table_rows[order], table_sizes[order]
    del order
    rare = _rare_values(table_values, _BOTTOM_MAX_DF)
    table_values, table_rows, table_sizes = table_values[rare], table_rows[rare], table_sizes[rare]
    del rare
    # every page once (a page with edges in several pair tasks came from each), in
    # arrays: a Python object a page would be ~250 bytes for each page of the corpus
    known = np.concatenate([p.known for p in passed]) if passed else _EMPTY
    page_rows, sizes_of_page, counts, page_values = _pages_once(passed)
    if not page_rows.size:
        return FoundParts(total, _EMPTY, _EMPTY, _EMPTY, verified)
    first_seen = options.survivor == "first_seen"
    ends = np.cumsum(counts)
    codes, part_sizes, page_sizes_at = [], [], []
    lo_page = 0
    while lo_page < page_rows.size:
        # pages a batch at a time: a value looked up costs ~40 bytes of temporaries
        before = int(ends[lo_page - 1]) if lo_page else 0
        hi_page = max(lo_page + 1, int(np.searchsorted(ends, before + LOOKED_UP_AT_ONCE, "right")))
        own = page_values[before : int(ends[hi_page - 1])]
        lo = np.searchsorted(table_values, own, "left")
        found = np.searchsorted(table_values, own, "right") - lo
        del own
        at = concat_ranges(lo, found)
        part, part_size = table_rows[at], table_sizes[at]
        which = np.repeat(np.repeat(np.arange(lo_page, hi_page), counts[lo_page:hi_page]), found)
        del lo, found, at
        page, page_size = page_rows[which], sizes_of_page[which]
        lo_page = hi_page
        ok = part_size < page_size
        if first_seen:  # a page holds documents added before it only
            ok &= part < page
        codes.append(page[ok] * n + part[ok])
        part_sizes.append(part_size[ok])
        page_sizes_at.append(page_size[ok])
    del page_values
    code, first = np.unique(np.concatenate(codes), return_index=True)
    part_size, page_size = np.concatenate(part_sizes)[first], np.concatenate(page_sizes_at)[first]
    del codes, part_sizes, page_sizes_at
    new = ~np.isin(code, known)
    code, part_size, page_size = code[new], part_size[new], page_size[new]
    if not code.size:
        return FoundParts(total, _EMPTY, _EMPTY, _EMPTY, verified)
    page, part = code // n, code % n
    # measured as the engine measures a pair of representatives: smaller row first
    jac, con, small = measure_rows(options, np.sort(np.stack((part, page), axis=1), axis=1), texts_at)
    duplicate = accepted(options, jac, con, small)
    # a page that a document it holds is (nearly) all of is no composite
    copy = duplicate & accepted(options, jac, con * part_size / np.maximum(page_size, 1), page_size)
    keep = duplicate & ~copy
    return FoundParts(total, sorted_unique(page[copy]), page[keep], part[keep], verified)


def _pages_once(passed: list[PageShingles]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(rows, set sizes, how many shingles, the shingles one page after another) of
    every page ``passed`` names, each once, in the order first passed; each pair
    task's shingles are let go (``values`` emptied) once joined."""
    if not passed:
        return _EMPTY, _EMPTY, _EMPTY, np.zeros(0, dtype=np.uint32)
    rows = np.concatenate([p.pages.astype(np.int64, copy=False) for p in passed])
    sizes = np.concatenate([p.sizes.astype(np.int64, copy=False) for p in passed])
    counts = np.concatenate([np.diff(p.ends, prepend=0).astype(np.int64) for p in passed])
    values = np.concatenate([p.values for p in passed] + [np.zeros(0, dtype=np.uint32)])
    for p in passed:
        p.values = p.values[:0]
    _, first = np.unique(rows, return_index=True)
    once = np.zeros(rows.size, dtype=bool)
    once[first] = True
    # a flag a value (an index a value would be 8 bytes, and twice that while made)
    values = values[np.repeat(once, counts)]
    return rows[once], sizes[once], counts[once], values
