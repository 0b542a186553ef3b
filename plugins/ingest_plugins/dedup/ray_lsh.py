"""LSH candidate pairs on Ray: a hash-partitioned shuffle with plain tasks.

:class:`RayCandidatePairs` is a drop-in for :func:`lsh.candidate_pairs`
(same arguments, same result) that the dedup stage uses when the run's
executor is Ray:

1. map: each task takes a block of signature rows, computes their band keys
   (:func:`lsh.band_keys`, band number mixed in) and splits the (key, row)
   pairs by partition = key mod P, returning one object per partition;
2. reduce: task p takes partition p of every map task (worker to worker
   through the object store, not through the driver), groups it by key and
   returns the pair codes of each bucket's members (numpy int64);
3. the driver concatenates the codes and makes them unique.

Every bucket lands whole in one partition, so the pairs are exactly the
local ones. (Locally a bucket key that collides across two bands (a 64-bit
hash collision) only joins their buckets when the bands are processed in one
group; here always: at worst one more candidate, which verification rejects.)
Ray Data's groupby would do the same grouping far more slowly (minutes
instead of about a second for a million pairs).
"""

from __future__ import annotations

import math

import attrs
import numpy as np
import ray

from .lsh import BucketStats, band_keys, bucket_pair_codes

_NO_PAIRS = np.zeros((0, 2), dtype=np.int64)


@ray.remote
def _map_band_keys(
    sigs: np.ndarray, first_row: int, bands: int, rows: int, partitions: int
) -> tuple[np.ndarray, np.ndarray] | list[tuple[np.ndarray, np.ndarray]]:
    """(band keys, rows) of a block of signatures, one pair of arrays per partition."""
    keys = band_keys(sigs, bands, rows).ravel()
    row_of = np.repeat(np.arange(first_row, first_row + sigs.shape[0], dtype=np.int64), bands)
    part = (keys % np.uint64(partitions)).astype(np.int64)
    order = np.argsort(part, kind="stable")
    keys, row_of, part = keys[order], row_of[order], part[order]
    bounds = np.searchsorted(part, np.arange(partitions + 1))
    out = [(keys[lo:hi], row_of[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:])]
    return out if partitions > 1 else out[0]  # num_returns=1 takes the value itself


@ray.remote
def _reduce_pairs(
    n: int, min_new: int, max_bucket: int, *parts: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, int, np.ndarray]:
    """Unique pair codes i*n+j of the buckets of one partition, its largest bucket and the
    rows in a bucket past ``max_bucket`` (a bucket is in one partition: its key decides)."""
    keys = np.concatenate([k for k, _ in parts])
    row_of = np.concatenate([r for _, r in parts])
    stats = BucketStats(n)
    codes = np.unique(bucket_pair_codes(keys, row_of, n, min_new, max_bucket, stats))
    return codes, stats.largest, np.flatnonzero(stats.capped)


@attrs.frozen
class RayCandidatePairs:
    """``lsh.candidate_pairs`` as a Ray shuffle (see the module docstring).

    ``partitions``: reduce tasks (P); ``block_rows``: signature rows per map
    task. Both only change how the work is cut, never the result.
    """

    partitions: int = 4
    block_rows: int = 16384

    @classmethod
    def for_parallelism(cls, parallelism: int) -> RayCandidatePairs:
        """Two partitions per CPU: every CPU busy, stragglers evened out."""
        return cls(partitions=max(1, 2 * parallelism))

    def __call__(
        self,
        sigs: np.ndarray,
        bands: int,
        rows: int,
        min_new: int = 0,
        max_bucket: int = 0,
        stats: BucketStats | None = None,
    ) -> np.ndarray:
        """Sorted unique candidate pairs (i < j), (M, 2) int64, exactly as
        :func:`lsh.candidate_pairs` returns them (and learns ``stats`` as it does)."""
        n = sigs.shape[0]
        if n < 2:
            return _NO_PAIRS
        used = sigs[:, : bands * rows]  # only these columns make band keys: ship no more
        blocks = max(1, math.ceil(n / self.block_rows))
        step = math.ceil(n / blocks)
        mapped = []
        for lo in range(0, n, step):
            out = _map_band_keys.options(num_returns=self.partitions).remote(
                np.ascontiguousarray(used[lo : lo + step]), lo, bands, rows, self.partitions
            )
            mapped.append(out if self.partitions > 1 else [out])
        reduced = [
            _reduce_pairs.remote(n, min_new, max_bucket, *[parts[p] for parts in mapped])
            for p in range(self.partitions)
        ]
        results = ray.get(reduced)
        if stats is not None:
            for _, largest, capped in results:
                stats.largest = max(stats.largest, largest)
                stats.capped[capped] = True
        code = np.unique(np.concatenate([codes for codes, _, _ in results]))
        if code.size == 0:
            return _NO_PAIRS
        return np.stack((code // n, code % n), axis=1)
