"""The pair round of a sharded dedup: each candidate pair once, prefiltered, verified.

The bucketing round (:mod:`.buckets`) passes each candidate pair to the task of the
pair round that a hash of the pair picks. That task keeps each of its pairs once,
skips those whose signatures say they cannot pass (the prefilter the engine applies
to its candidates, :func:`engine.plausible`), re-reads the texts of the rest's rows
and measures them (:func:`engine.measure_streamed`), and passes the verified pairs
on (through the part search, :mod:`.parts`, with the shingles of the composite pages
they suggest) to the tasks that resolve the corpus: the same pairs, with the same measures, as an
unsharded run verifies, found in many tasks at once instead of one after another.

The signatures come from the shards: each shard's task writes its documents' set
sizes and signatures as fixed-size rows (:func:`write_signatures`), and a pair task
reads the rows of its pairs only (:class:`ShardRows`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from .buckets import BucketFinds, VerifiedPairs
from .engine import DedupOptions, accepted, measure_streamed, normalised_batches, plausible, shingler
from .shard_hashes import ShardHashes, read_rows
from .shingles import ShingleStore, sorted_unique

#: in a shard's folder: its documents' (set size, signature) rows, uint32
SIGNATURES_NAME = "dedup-signatures.u32"
#: candidate pairs prefiltered at once (bounded temporaries)
PREFILTER_CHUNK = 8192

#: ``texts_at(positions)``: (id, text) of the documents at corpus positions (ascending)
TextsAt = Callable[[list[int]], Iterable[tuple[str, str]]]


def write_signatures(folder: str | os.PathLike[str], hashes: ShardHashes, num_perm: int) -> None:
    """Write a shard's rows for the pair round into ``folder``: one row a document,
    its shingle-set size then its signature, as uint32."""
    rows = np.empty((len(hashes), 1 + num_perm), dtype=np.uint32)
    if len(hashes):
        rows[:, 0] = hashes.sizes
        rows[:, 1:] = hashes.signatures
    with open(Path(folder) / SIGNATURES_NAME, "wb") as fh:
        rows.tofile(fh)


class ShardRows:
    """The shards' signature rows by row of the corpus (shards in order), read by
    ``pread`` a row at a time: a task reads only the rows of its pairs."""

    def __init__(
        self, folders: Sequence[str | os.PathLike[str]], starts: Sequence[int], num_perm: int
    ) -> None:
        self.paths = [Path(folder) / SIGNATURES_NAME for folder in folders]
        self.starts = np.asarray(starts, dtype=np.int64)  # each shard's first row, then the total
        self.width = 1 + num_perm

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The rows ``rows`` (sorted, distinct), as a (len(rows), 1 + num_perm) array."""
        out = np.empty((rows.size, self.width), dtype=np.uint32)
        shard_of = np.searchsorted(self.starts, rows, "right") - 1
        bounds = np.flatnonzero(np.diff(shard_of, prepend=-1, append=-1))
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            shard = int(shard_of[lo])
            fd = os.open(self.paths[shard], os.O_RDONLY)
            try:
                part = np.empty((hi - lo, self.width), dtype=np.uint32)
                read_rows(fd, rows[lo:hi] - self.starts[shard], part)
                out[lo:hi] = part
            finally:
                os.close(fd)
        return out


def verify_partition(
    found: BucketFinds,
    options: DedupOptions,
    signature_rows: Callable[[np.ndarray], np.ndarray],
    texts_at: TextsAt,
) -> VerifiedPairs:
    """A pair task's work: ``found`` (its pairs, each once, :func:`buckets.merge_finds`)
    prefiltered with the rows ``signature_rows(rows)`` gives (set size, signature;
    rows sorted) and verified from the texts ``texts_at`` gives."""
    o, total = options, found.total
    n = max(total, 1)
    firsts, seconds = found.codes // n, found.codes % n
    rows = sorted_unique(np.concatenate((firsts, seconds)))
    pairs = np.stack((np.searchsorted(rows, firsts), np.searchsorted(rows, seconds)), axis=1)
    del firsts, seconds
    if pairs.size and o.prefilter_margin < 1.0:
        table = signature_rows(rows)
        keep = np.zeros(pairs.shape[0], dtype=bool)
        for lo in range(0, pairs.shape[0], PREFILTER_CHUNK):
            a, b = pairs[lo : lo + PREFILTER_CHUNK, 0], pairs[lo : lo + PREFILTER_CHUNK, 1]
            keep[lo : lo + a.size] = plausible(o, table[a, 1:], table[b, 1:], table[a, 0], table[b, 0])
        del table
        pairs = pairs[keep]
    jac, con, small = _measured(o, rows, pairs, texts_at)
    ok = accepted(o, jac, con, small)
    edges = rows[pairs[ok]]
    return VerifiedPairs(
        total,
        edges.reshape(-1, 2),
        jac[ok],
        con[ok],
        int(found.codes.size),
        int(pairs.shape[0]),
        found.capped,
        found.largest,
        found.copies,
        found.firsts,
    )


def normalised_rows(
    options: DedupOptions, rows: np.ndarray, texts_at: TextsAt, labels: np.ndarray | None = None
) -> Iterator[list[tuple[int, str]]]:
    """Batches of (row, text normalised as the engine shingles it) of ``rows`` (sorted,
    distinct), read with ``texts_at``, each row named by its entry of ``labels`` when
    given; raises when ``texts_at`` gives fewer than asked for."""
    arrived = 0

    def texts() -> Iterator[tuple[int, str]]:
        nonlocal arrived
        for row, (_, text) in zip((rows if labels is None else labels).tolist(), texts_at(rows.tolist())):
            arrived += 1
            yield row, text

    yield from normalised_batches(options, texts())
    if arrived != rows.size:
        raise ValueError(f"texts_at() gave {arrived} of the {rows.size} documents asked for")


def measure_rows(
    options: DedupOptions, pairs: np.ndarray, texts_at: TextsAt
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Jaccard, containment, smaller set size) of pairs of corpus rows ((k, 2)), each
    row's text read once with ``texts_at``."""
    rows = sorted_unique(pairs.ravel())
    local = np.searchsorted(rows, pairs).reshape(-1, 2)
    return _measured(options, rows, local, texts_at)


def _measured(
    options: DedupOptions, rows: np.ndarray, pairs: np.ndarray, texts_at: TextsAt
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`measure_rows` of ``pairs`` given as indices into ``rows`` (sorted, distinct)."""
    store = ShingleStore()
    store.grow(rows.size)
    return measure_streamed(
        shingler(options),
        store,
        pairs,
        rows.size,
        lambda todo: normalised_rows(options, rows[todo], texts_at, todo),
    )
