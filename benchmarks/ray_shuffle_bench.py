"""The dedup stage's LSH shuffle on Ray: (band key, document) pairs -> candidate pairs.

Usage::

    python benchmarks/ray_shuffle_bench.py [--pairs 1000000] [--bands 28] [--rows 2] [--cpus 2]

Makes MinHash-like signatures for ``pairs / bands`` documents (a fifth of
them near copies of another: a few positions changed, so they share some
bands), starts a local Ray instance with ``--cpus`` CPUs, and times
:class:`RayCandidatePairs` (map tasks: band keys split by key mod P; reduce
tasks: buckets -> pair codes; the driver: unique) against the in-process
:func:`lsh.candidate_pairs` on the same signatures, checking both give the
same pairs. The Ray start-up time is printed apart; the shuffle is timed
warm (best of ``--repeat``) after one untimed call that loads the workers.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def signatures(docs: int, num_perm: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sigs = rng.integers(0, 2**32, size=(docs, num_perm), dtype=np.uint32)
    copies = rng.choice(docs, size=docs // 5, replace=False)
    originals = rng.integers(0, docs, size=copies.size)
    sigs[copies] = sigs[originals]
    # a near copy: about a tenth of its positions differ from the original's
    changed = rng.random((copies.size, num_perm)) < 0.1
    sigs[copies] = np.where(
        changed, rng.integers(0, 2**32, size=changed.shape, dtype=np.uint32), sigs[copies]
    )
    return sigs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--pairs", type=int, default=1_000_000, help="(band key, document) pairs = documents x bands"
    )
    ap.add_argument("--bands", type=int, default=28)
    ap.add_argument("--rows", type=int, default=2)
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance")
    ap.add_argument("--partitions", type=int, default=0, help="reduce tasks (default: 2 per CPU)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    from ingest_plugins.dedup.lsh import candidate_pairs
    from ingest_plugins.dedup.ray_lsh import RayCandidatePairs

    from ingest.executors.ray import RayExecutor

    docs = args.pairs // args.bands
    sigs = signatures(docs, max(128, args.bands * args.rows), args.seed)
    print(f"{docs:,} documents x {args.bands} bands = {docs * args.bands:,} (band key, document) pairs")

    start = time.perf_counter()
    expected = candidate_pairs(sigs, args.bands, args.rows)
    local = time.perf_counter() - start
    print(f"in-process lsh.candidate_pairs: {local:.2f} s, {len(expected):,} candidate pairs")

    start = time.perf_counter()
    executor = RayExecutor.connect(num_cpus=args.cpus)
    started = time.perf_counter() - start
    try:
        shuffle = (
            RayCandidatePairs(args.partitions)
            if args.partitions
            else RayCandidatePairs.for_parallelism(executor.parallelism)
        )
        print(f"Ray start: {started:.2f} s ({executor.parallelism} CPUs, {shuffle.partitions} partitions)")
        start = time.perf_counter()
        got = shuffle(sigs, args.bands, args.rows)
        cold = time.perf_counter() - start
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            got = shuffle(sigs, args.bands, args.rows)
            times.append(time.perf_counter() - start)
    finally:
        executor.shutdown()
    if not np.array_equal(got, expected):
        print("MISMATCH: the shuffle's pairs differ from lsh.candidate_pairs")
        return 1
    print(
        f"Ray shuffle: {min(times):.2f} s warm (best of {args.repeat}), {cold:.2f} s first call; same pairs"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
