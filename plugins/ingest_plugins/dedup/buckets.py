"""LSH buckets and exact copies found in partitions, over the shards of a run.

A sharded run resolves dedup in five rounds of tasks (see docs/hooks.md,
"rounds"). Each shard cuts its documents' band keys and exact keys into
partitions by key (:func:`cut_buckets`); the first round's task for a partition
takes that partition's piece of every shard and finds the candidate pairs of its
buckets and the exact copies among its keys (:func:`find_in_partition`), and
passes each pair to the task of the second round that a hash of the pair picks
(:func:`route_finds`). Two documents that share several bands are found by each
partition that holds one of those bands' keys (a million documents: 6.3 million
pair codes for 428,000 distinct pairs); the second round's task keeps each of its
pairs once (:func:`merge_finds`), so the rounds after it (the part search,
:mod:`.parts`, then the components, :mod:`.components`, and the tasks that resolve
them, :meth:`engine.DedupEngine.add_rows`) see each pair once. A bucket lives in one partition,
so it is capped (``max_bucket``) as if bucketed in one place, and the pairs are
those :func:`lsh.candidate_pairs` finds over the representatives' signatures,
whatever the number of partitions.

LSH runs over one representative per exact group (its first row), which is not
known until every shard's exact keys have met. It need not be: the copies of a
text have its signature, hence its bucket in every band, so keeping the first
row of each exact key within a bucket gives the bucket's representatives.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import attrs
import numpy as np

from .lsh import BucketStats, band_keys, bucket_pair_codes
from .shard_hashes import KEY_BYTES, ShardHashes
from .shingles import mix64, sorted_unique

#: Planned inputs per partition of the bucketing round: a task holds about
#: ``bands`` keys a document of its share (28 at the default threshold: 700,000
#: keys for 25,000 documents, 20 bytes each), and buckets them a range of
#: ``RANGE_ENTRIES`` at a time.
INPUTS_PER_PARTITION = 25_000
#: Keys bucketed at once in a partition's task (sorting them and pairing a bucket's
#: rows needs ~100 bytes a key).
RANGE_ENTRIES = 1 << 18


def partitions_for(planned: int | None) -> int:
    """How many partitions the bucketing round has for ``planned`` inputs."""
    return tasks_for(planned, INPUTS_PER_PARTITION)


def tasks_for(planned: int | None, inputs_per_task: int) -> int:
    """How many tasks a round that gives each ``inputs_per_task`` of ``planned`` inputs
    has (at least one)."""
    return max(1, -(-int(planned or 0) // inputs_per_task))


@attrs.define(eq=False)
class BucketPiece:
    """A shard's keys that fall in one partition, with their rows in the shard."""

    #: how many documents the shard has (its rows' offset in the corpus follows from it)
    count: int
    #: band keys (uint64, the band mixed in) and the row of each
    band_keys: np.ndarray
    band_rows: np.ndarray
    #: the first 8 bytes of each band key's row's exact key: a bucket keeps one row per text
    band_texts: np.ndarray
    #: exact keys ((m, 16) uint8) and the row of each
    exact_keys: np.ndarray
    exact_rows: np.ndarray


def cut_buckets(hashes: ShardHashes, bands: int, rows: int, partitions: int) -> list[BucketPiece]:
    """A shard's band keys and exact keys, cut into ``partitions`` pieces by key."""
    n = len(hashes)
    keys = band_keys(hashes.signatures, bands, rows).ravel()  # row-major: row r's bands together
    row_of = np.repeat(np.arange(n, dtype=np.uint32), bands)
    exact = np.ascontiguousarray(hashes.keys, dtype=np.uint8).reshape(n, KEY_BYTES)
    text_of = np.zeros(n, dtype=np.uint64)  # the first 8 bytes of each row's exact key
    if n:
        text_of[:] = np.ascontiguousarray(exact[:, :8]).view(np.uint64).reshape(n)
    texts = np.repeat(text_of, bands)
    # grouped by partition with one stable sort each (rows stay in order within a partition),
    # not a pass over every key per partition: a shard's work does not grow with the partitions
    bands_at, band_order = grouped_by_partition(keys % np.uint64(partitions), partitions)
    exact_at, exact_order = grouped_by_partition(text_of % np.uint64(partitions), partitions)
    keys, row_of, texts = keys[band_order], row_of[band_order], texts[band_order]
    exact, exact_rows = exact[exact_order], exact_order.astype(np.uint32)
    pieces = []
    for p in range(partitions):
        lo, hi = bands_at[p], bands_at[p + 1]
        elo, ehi = exact_at[p], exact_at[p + 1]
        pieces.append(
            BucketPiece(n, keys[lo:hi], row_of[lo:hi], texts[lo:hi], exact[elo:ehi], exact_rows[elo:ehi])
        )
    return pieces


def grouped_by_partition(part: np.ndarray, partitions: int) -> tuple[np.ndarray, np.ndarray]:
    """(where each of ``partitions`` starts, then the end; the order that groups the
    items by their partition ``part``, stably: in order within a partition)."""
    order = np.argsort(part, kind="stable")
    starts = np.searchsorted(part[order], np.arange(partitions + 1, dtype=part.dtype))
    return starts, order


@attrs.define(eq=False)
class BucketFinds:
    """What one partition found, in rows of the whole corpus (shards in order)."""

    #: how many documents the corpus has
    total: int
    #: candidate pairs as codes ``i * total + j`` (i < j, both representatives), sorted, distinct
    codes: np.ndarray
    #: the rows in a bucket of more than ``max_bucket``, and the largest bucket
    capped: np.ndarray
    largest: int
    #: the exact copies (rows past the first of their text) and the first row of each
    copies: np.ndarray
    firsts: np.ndarray


def route_finds(found: BucketFinds, partitions: int) -> list[BucketFinds]:
    """What one bucketing task found, cut for the ``partitions`` tasks of the pair
    round: each pair code to the task a hash of the code picks (a pair goes to the
    same task from every bucketing task that found it), each exact copy and capped
    row to the task of its row modulo ``partitions``, the largest bucket to all."""
    pair_part = _pair_partition(found.codes, partitions)
    copy_part = found.copies % partitions
    capped_part = found.capped % partitions
    return [
        BucketFinds(
            found.total,
            found.codes[pair_part == p],  # still sorted and distinct
            found.capped[capped_part == p],
            found.largest,
            found.copies[copy_part == p],
            found.firsts[copy_part == p],
        )
        for p in range(partitions)
    ]


def _pair_partition(codes: np.ndarray, partitions: int) -> np.ndarray:
    """The pair round's task of each pair code: its top bits, mixed (codes of one
    bucket's pairs are close together; mixed, they spread evenly)."""
    mixed = mix64(np.asarray(codes, dtype=np.int64).view(np.uint64))
    return ((mixed >> np.uint64(32)) % np.uint64(partitions)).astype(np.int64)


def merge_finds(finds: Iterable[BucketFinds]) -> BucketFinds:
    """A pair round task's finds: what every bucketing task passed it (in task
    order), each pair and capped row once."""
    total, largest = None, 0
    codes, capped, copies, firsts = [], [], [], []
    for found in finds:
        if total is not None and found.total != total:
            raise ValueError(f"bucketing tasks disagree on the corpus: {total} and {found.total} documents")
        total, largest = found.total, max(largest, found.largest)
        codes.append(found.codes)
        capped.append(found.capped)
        copies.append(found.copies)
        firsts.append(found.firsts)
    if total is None:
        raise ValueError("no bucketing task passed anything on")
    return BucketFinds(
        total,
        sorted_unique(np.concatenate(codes)),
        sorted_unique(np.concatenate(capped)),
        largest,
        np.concatenate(copies),  # a row is a copy in one partition: that of its exact key
        np.concatenate(firsts),
    )


@attrs.define(eq=False)
class VerifiedPairs:
    """What one task of the pair round passes on (to the tasks that resolve): its pairs
    verified (:mod:`.pairs`), and the exact copies and capped rows it was passed."""

    #: how many documents the corpus has
    total: int
    #: the verified duplicate pairs ((k, 2) rows i < j), sorted by code, with their measures
    edges: np.ndarray
    jaccard: np.ndarray
    containment: np.ndarray
    #: how many distinct candidate pairs the task had, and how many passed the prefilter
    candidates: int
    checked: int
    capped: np.ndarray
    largest: int
    copies: np.ndarray
    firsts: np.ndarray


def find_in_partition(pieces: Iterable[BucketPiece], max_bucket: int) -> BucketFinds:
    """The candidate pairs of the buckets in one partition's pieces (every shard's,
    in shard order) and its exact copies."""
    keys, rows, texts, exact, exact_rows = [], [], [], [], []
    start = 0
    for piece in pieces:
        keys.append(piece.band_keys)
        # rows in 4 bytes while the corpus has fewer than 2**32 (concatenating widens the rest)
        fits = start + piece.count < 2**32
        rows.append(piece.band_rows + np.uint32(start) if fits else piece.band_rows.astype(np.int64) + start)
        texts.append(piece.band_texts)
        exact.append(piece.exact_keys)
        exact_rows.append(piece.exact_rows.astype(np.int64) + start)
        start += piece.count
    total = start
    empty = np.zeros(0, dtype=np.int64)
    if not keys:
        return BucketFinds(total, empty, empty, 0, empty, empty)
    stats = BucketStats(0)
    stats.capped = _Marked()  # type: ignore[assignment]  # not a flag per row of the corpus
    # a bucket's keys are equal: ranges of the keys' top bits are bucketed one at a time,
    # each joined from the shards' pieces as it comes (the partition's keys are held
    # once, in the pieces), so that the sorts' temporaries are a range's, not the partition's
    size = sum(piece_keys.size for piece_keys in keys)
    ranges = 1 << max(0, math.ceil(math.log2(max(1, size / RANGE_ENTRIES))))
    shift = np.uint64(64 - int(math.log2(ranges))) if ranges > 1 else None
    found = []
    for part in range(ranges):
        if shift is None:
            k, r, t = np.concatenate(keys), np.concatenate(rows), np.concatenate(texts)
            for held in (keys, rows, texts):
                held.clear()
        else:
            mine = [(piece_keys >> shift) == np.uint64(part) for piece_keys in keys]
            k = np.concatenate([a[m] for a, m in zip(keys, mine)])
            r = np.concatenate([a[m] for a, m in zip(rows, mine)])
            t = np.concatenate([a[m] for a, m in zip(texts, mine)])
            del mine
        found.append(_bucket_range(k, r, t, total, max_bucket, stats))
        del k, r, t
    for held in (keys, rows, texts):  # the pieces, once every range is bucketed
        held.clear()
    codes = sorted_unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
    del found
    copies, firsts = _exact_copies(np.concatenate(exact), np.concatenate(exact_rows))
    capped = stats.capped.rows()  # type: ignore[attr-defined]
    return BucketFinds(total, codes, capped, stats.largest, copies, firsts)


class _Marked:
    """The rows :func:`lsh.bucket_pair_codes` marks as in a capped bucket
    (``marked[rows] = True``), kept as the arrays it gives, not a flag per row."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []

    def __setitem__(self, rows: np.ndarray, value: bool) -> None:
        self.parts.append(np.asarray(rows, dtype=np.int64))

    def rows(self) -> np.ndarray:
        """The distinct rows marked, sorted."""
        return sorted_unique(np.concatenate(self.parts)) if self.parts else np.zeros(0, dtype=np.int64)


def _bucket_range(
    key: np.ndarray, row: np.ndarray, text: np.ndarray, total: int, max_bucket: int, stats: BucketStats
) -> np.ndarray:
    """The sorted distinct pair codes of the buckets of these keys (whole buckets)."""
    # one row per text in each bucket: the first (a copy's signature is its first's)
    order = np.lexsort((row, text, key))
    key, row, text = key[order], row[order], text[order]
    del order
    first = np.ones(key.size, dtype=bool)
    first[1:] = (key[1:] != key[:-1]) | (text[1:] != text[:-1])
    key, row = key[first], row[first].astype(np.int64)
    del text, first
    return sorted_unique(bucket_pair_codes(key, row, total, 0, max_bucket, stats))


def _exact_copies(keys: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(copies, firsts): each row whose exact key an earlier row has, and that row."""
    if not rows.size:
        return rows, rows
    halves = np.ascontiguousarray(keys).view(np.uint64).reshape(rows.size, 2)
    order = np.lexsort((rows, halves[:, 1], halves[:, 0]))
    ordered, rows = halves[order], rows[order]
    new = np.ones(rows.size, dtype=bool)
    new[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    starts = np.flatnonzero(new)
    first_of = np.repeat(rows[starts], np.diff(np.append(starts, rows.size)))
    copy = ~new
    return rows[copy], first_of[copy]
