"""Peak memory of report.html's merge for a sharded run, on made-up drop records.

Usage::

    python benchmarks/report_merge_bench.py --docs 100000 --docs 1000000

For each size it saves the pages a sharded run's writers would (one per shard of
``--per-shard`` duplicate records: 31.7% of the documents, as on the generated
corpus, about two records a target and 1% of them chained to another duplicate),
then, in a fresh process, merges them as the ``jsonl`` sink does (the records stay
in the files) and writes report.html. It prints that process's memory before the
merge and its peak (``VmHWM``, Linux) after the merge and after the page is
written: what grows from one size to the next is what the page holds per record
or per target.
"""

from __future__ import annotations

import argparse
import pickle
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from ingest.report.report_html import ReportBuilder  # noqa: E402

#: share of the documents a generated corpus's run removes as duplicates (31,662 of 100,000)
REMOVED_SHARE = 0.317


def memory(field: str) -> float:
    """``field`` of /proc/self/status (VmRSS, VmHWM) in MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def save_pages(folder: Path, docs: int, per_shard: int, seed: int) -> list[str]:
    """The shards' saved pages of a run of ``docs`` documents."""
    rng = random.Random(seed)
    removed = int(docs * REMOVED_SHARE)
    targets = max(1, removed // 2)
    pages = []
    for start in range(0, removed, per_shard):
        page = ReportBuilder()
        for row in range(start, min(removed, start + per_shard)):
            if rng.random() < 0.01:  # a chain: the target is itself a duplicate
                target = f"dup-{rng.randrange(row + 1)}"
            else:
                target = f"{rng.randrange(targets):08d}.txt"
            page.add_dropped(
                {
                    "id": f"dup-{row}",
                    "stage": "dedup",
                    "reason": "near_duplicate",
                    "duplicate_of": target,
                    "details": {"similarity": round(rng.uniform(0.7, 1.0), 3), "method": "minhash"},
                }
            )
        path = folder / f"page-{len(pages):05d}.pickle"
        path.write_bytes(pickle.dumps(page))
        pages.append(str(path))
    return pages


def merge_and_write(pages: list[str], target: Path, docs: int) -> None:
    """What the process writing a sharded run's report.html does; prints its memory."""
    with open("/proc/self/clear_refs", "w") as fh:  # VmHWM from here on
        fh.write("5")
    before = memory("VmRSS")
    start = time.perf_counter()
    page = ReportBuilder()
    for path in pages:
        with open(path, "rb") as fh:
            page.merge(pickle.load(fh), path)
    merged = memory("VmHWM")
    page.write(target, {"input": docs})
    print(
        f"{docs:>10,} documents: before {before:.1f} MB, peak merging {merged:.1f}, "
        f"peak writing {memory('VmHWM'):.1f} ({time.perf_counter() - start:.1f} s)"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, action="append", help="documents of a run (repeatable)")
    ap.add_argument("--per-shard", type=int, default=640, help="duplicate records a shard's page holds")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--merge", nargs="+", help=argparse.SUPPRESS)  # the child process: docs, target, pages
    args = ap.parse_args()
    if args.merge:
        docs, target, *pages = args.merge
        merge_and_write(pages, Path(target), int(docs))
        return 0
    for docs in args.docs or [100_000, 1_000_000]:
        with tempfile.TemporaryDirectory(prefix="report-merge-") as tmp:
            folder = Path(tmp)
            pages = save_pages(folder, docs, args.per_shard, args.seed)
            # a fresh process, as the sink's: the pages were made in this one
            command = [sys.executable, __file__, "--merge", str(docs), str(folder / "report.html"), *pages]
            subprocess.run(command, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
