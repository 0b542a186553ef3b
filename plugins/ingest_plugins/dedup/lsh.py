"""LSH banding: parameter choice and candidate-pair generation."""

from __future__ import annotations

import functools

import numpy as np

from .shingles import mix64, sorted_unique


@functools.lru_cache(maxsize=64)
def optimal_params(
    threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> tuple[int, int]:
    """(bands, rows) with bands*rows <= num_perm minimising the weighted areas
    of false positives (below ``threshold``) and false negatives (above), as in
    datasketch / text-dedup. Deterministic (fixed-grid Simpson integration)."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    grid = 1001
    lo = np.linspace(0.0, threshold, grid)
    hi = np.linspace(threshold, 1.0, grid)
    wts = np.ones(grid)
    wts[1:-1:2] = 4.0
    wts[2:-1:2] = 2.0
    best, best_err = (1, 1), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            p_lo = 1.0 - (1.0 - lo**r) ** b
            p_hi = 1.0 - (1.0 - hi**r) ** b
            fp = (wts @ p_lo) * threshold / (3 * (grid - 1))
            fn = (wts @ (1.0 - p_hi)) * (1.0 - threshold) / (3 * (grid - 1))
            err = fp * fp_weight + fn * fn_weight
            if err < best_err - 1e-15:
                best, best_err = (b, r), err
    return best


def band_keys(sigs: np.ndarray, bands: int, rows: int, first_band: int = 0) -> np.ndarray:
    """(n, bands) uint64 bucket keys: a polynomial hash of each band's values
    with the band number mixed in (a 64-bit collision only adds a candidate,
    which verification rejects). ``sigs`` may start at band ``first_band``
    (columns ``first_band * rows`` on): the keys are those of the full signature."""
    mult = mix64(np.arange(1, rows + 1, dtype=np.uint64)) | np.uint64(1)
    salt = mix64(np.arange(first_band, first_band + bands, dtype=np.uint64) + np.uint64(0x51ED))
    n = sigs.shape[0]
    key = np.empty((n, bands), dtype=np.uint64)
    step = max(1, (1 << 20) // max(1, bands * rows))  # rows of documents per chunk: temporaries stay ~8 MB
    for lo in range(0, n, step):
        part = sigs[lo : lo + step, : bands * rows].astype(np.uint64).reshape(-1, bands, rows)
        part *= mult
        key[lo : lo + step] = mix64(part.sum(axis=2, dtype=np.uint64) ^ salt)
    return key


#: rows of a bucket larger than ``max_bucket`` that every other row of it is paired with
ANCHORS = 16


class BucketStats:
    """What bucketing saw of ``n`` rows: the largest bucket, and which rows were in a
    bucket larger than ``max_bucket`` (paired with its first rows only) in some band."""

    def __init__(self, n: int) -> None:
        self.largest = 0
        self.capped = np.zeros(n, dtype=bool)

    @property
    def capped_rows(self) -> int:
        """How many rows were in a bucket past ``max_bucket``."""
        return int(np.count_nonzero(self.capped))


def candidate_pairs(
    sigs: np.ndarray,
    bands: int,
    rows: int,
    min_new: int = 0,
    max_bucket: int = 0,
    stats: BucketStats | None = None,
) -> np.ndarray:
    """Sorted unique candidate pairs (i < j) of signature rows, (M, 2) int64:
    every pair sharing a bucket in at least one band.

    ``min_new``: pairs whose both members are below this row index (documents
    already resolved in an earlier run) are skipped. Bands are processed a few
    at a time so temporaries stay around 30 MB (for up to ~500k documents).
    ``stats``, when given, learns the buckets' sizes (see :class:`BucketStats`).
    """
    n = sigs.shape[0]
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    group = band_group(n, bands, 1 << 19)
    # keys of a few bands at a time: all bands at once would be 8 bytes x bands
    # per document (224 MB for 1M documents at 28 bands)
    codes = UniqueCodes()
    for b in range(0, bands, group):
        g = min(group, bands - b)
        keys = band_keys(sigs[:, b * rows : (b + g) * rows], g, rows, first_band=b)
        codes.add(bucket_pairs(keys, n, min_new, max_bucket, stats))
    return codes.pairs(n)


def band_group(n: int, bands: int, entries: int) -> int:
    """How many bands to bucket at once so that ``n`` documents make about ``entries`` keys."""
    return max(1, min(bands, entries // max(n, 1)))


class UniqueCodes:
    """The distinct pair codes i*n+j of several bands' buckets, made unique band group
    by band group: a near-duplicate pair shares a bucket in most bands, and all the
    bands' codes at once would be many times the pairs (70 MB for a million documents)."""

    def __init__(self) -> None:
        self.codes = np.zeros(0, dtype=np.int64)

    def add(self, codes: np.ndarray) -> None:
        self.codes = sorted_unique(np.concatenate((self.codes, codes)))

    def pairs(self, n: int) -> np.ndarray:
        """Sorted unique (i, j) pairs, (M, 2) int64."""
        return np.stack((self.codes // n, self.codes % n), axis=1)


def bucket_pairs(
    keys: np.ndarray, n: int, min_new: int = 0, max_bucket: int = 0, stats: BucketStats | None = None
) -> np.ndarray:
    """Pair codes i*n+j (i < j, j >= min_new) of rows sharing a key in any
    column of ``keys`` (n, g); keys of different bands never collide by
    construction of :func:`band_keys` (band number mixed in)."""
    g = keys.shape[1]
    rows_of = np.repeat(np.arange(n, dtype=np.int64), g)
    return bucket_pair_codes(keys.ravel(), rows_of, n, min_new, max_bucket, stats)


def bucket_pair_codes(
    flat: np.ndarray,
    rows_of: np.ndarray,
    n: int,
    min_new: int = 0,
    max_bucket: int = 0,
    stats: BucketStats | None = None,
) -> np.ndarray:
    """Pair codes i*n+j (i < j, j >= min_new) of the rows sharing a bucket
    key, from parallel arrays of bucket keys (uint64) and rows (int64), in
    any order; a pair may repeat (the caller makes them unique).

    ``max_bucket`` (0: no limit): a bucket of more rows than this pairs each of
    its rows only with its first :data:`ANCHORS` rows (by row), instead of with
    every other one: about ``ANCHORS`` pairs a row instead of half the bucket's
    size (page furniture a whole site shares makes buckets of thousands of
    pages, whose pairs grow with the square of the corpus)."""
    order = np.lexsort((rows_of, flat))  # by key, then row: members of a bucket ascending
    flat, members = flat[order], rows_of[order]
    same_next = flat[1:] == flat[:-1]
    if not same_next.any():
        return np.zeros(0, dtype=np.int64)
    # for each position in a multi-member bucket: how many later members it has
    starts = np.flatnonzero(np.concatenate(([True], ~same_next)))
    sizes = np.diff(np.append(starts, flat.size))
    multi = sizes > 1
    starts, sizes = starts[multi], sizes[multi]
    index = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)  # place in its bucket
    pos = np.repeat(starts, sizes) + index
    after = np.repeat(starts + sizes, sizes) - pos - 1
    if stats is not None and sizes.size:
        stats.largest = max(stats.largest, int(sizes.max()))
    if max_bucket and (sizes > max_bucket).any():
        # past its first rows, a large bucket's rows pair with those only
        large = np.repeat(sizes > max_bucket, sizes)
        after[large & (index >= ANCHORS)] = 0
        if stats is not None:
            stats.capped[members[pos[large]]] = True
    left = np.repeat(pos, after)
    step = np.arange(after.sum()) - np.repeat(np.cumsum(after) - after, after) + 1
    a, b = members[left], members[left + step]
    keep = b >= min_new
    return a[keep] * n + b[keep]
