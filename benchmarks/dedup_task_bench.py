"""The task that resolves dedup over every shard, on its own: peak RSS and time per phase.

A sharded run resolves dedup in one task on a worker (``combine_partition`` over every
shard's hashes, with the exact copies and the verified pairs that two rounds of tasks
found in partitions of their keys and of the pairs). This script runs ``ingest run`` on a corpus until that task
starts, keeps the shard folders it would read (hard links, beside the output), stops the run,
then calls the task again in this process as often as asked, sampling its RSS every
10 ms and keeping the largest per phase of the engine (the phases it reports as
progress)::

    python benchmarks/dedup_task_bench.py --corpus /dev/shm/corpus-1m --replays 3
    python benchmarks/dedup_task_bench.py --corpus DIR --stages dedup        # dedup alone

A replay reads what the run left (``--keep DIR``, default beside ``--scratch``);
``--replay-only`` skips the run when that folder is there. Peaks move by ~30 MB between
identical replays (the C heap keeps some freed arrays): run several.
"""

from __future__ import annotations

import argparse
import os
import pickle
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_bench import ingest_config

TASK_FILE = "task.pickle"


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def capture(config: Path, keep: Path, shard_files: int) -> None:
    """Run ``ingest run -c config`` (sharded) until the dedup task starts; keep what it reads in ``keep``."""
    from ingest.cli import main
    from ingest.engine import shards

    original = shards.run_partition

    def kept(task: Any, host: Any) -> Any:
        if task.stage_id != "dedup" or (task.rounds is not None and task.round < len(task.rounds) - 1):
            return original(task, host)  # the other stages, and dedup's bucketing round
        root = os.path.commonpath([str(folder) for folder in task.folders])
        subprocess.run(["cp", "-al", root, str(keep)], check=True)  # hard links: no copy of the data
        with open(keep / TASK_FILE, "wb") as fh:
            pickle.dump((root, task), fh)
        raise SystemExit("dedup task captured")

    shards.run_partition = kept  # the run's worker processes are forked from this one
    main(["run", "-c", str(config), "--set", "run.shards=on", "--set", f"run.shard_files={shard_files}"])
    if not (keep / TASK_FILE).exists():
        raise SystemExit("the run ended without a dedup task over shards (is dedup in --stages?)")


class _Ledger:
    def __init__(self) -> None:
        self.stages: dict[str, Any] = {}


class _Context:
    """What DedupStage's combine needs of a stage context."""

    stage_id = "dedup"
    workers = 1

    def __init__(self) -> None:
        self.ledger = _Ledger()

    def progress(self, *args: Any) -> None:
        pass

    def warn(self, message: str, **_: Any) -> None:
        print(f"  warning: {message[:120]}")


def replay(keep: Path) -> list[tuple[str, float, float]]:
    """Call the dedup task on the kept shards; (phase, peak RSS MB, seconds) of each phase."""
    from ingest_plugins.dedup.engine import DedupEngine, DedupOptions
    from ingest_plugins.dedup.plugin import DedupStage

    from ingest.engine import shards
    from ingest.engine.run_support import steady_heap

    with open(keep / TASK_FILE, "rb") as fh:
        root, task = pickle.load(fh)
    folders = [str(folder).replace(root, str(keep), 1) for folder in task.folders]
    scratch = keep / "scratch"
    scratch.mkdir(exist_ok=True)
    corpus = shards.ShardedCorpus(folders, task.number, shards._Finished(task.spooled), scratch=scratch)
    rounds = task.rounds
    first = sum(rounds[: task.round])  # the last round's pieces in a shard's file
    pieces = shards._pieces_of(folders, task.number, first + task.index)
    earlier = shards._passed_to(keep, task.number, task.round - 1, rounds[task.round - 1], task.index)

    phases: list[list[Any]] = [
        ["reading the shards' hashes and the partitions' finds", 0.0, time.perf_counter()]
    ]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            phases[-1][1] = max(phases[-1][1], _rss_mb())
            time.sleep(0.01)

    said = DedupEngine._say

    def say(self: Any, phase: str, count: int | None = None, total: int | None = None) -> None:
        if count is None:
            phases.append([phase, _rss_mb(), time.perf_counter()])
        said(self, phase, count, total)

    DedupEngine._say = say  # type: ignore[method-assign]
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        stage = DedupStage(DedupOptions(), _Context())  # type: ignore[arg-type]
        with steady_heap():  # as shards.run_partition runs the task
            models, _ = stage.combine_partition(task.index, pieces, corpus, earlier)
        phases.append(["writing the shards' models", _rss_mb(), time.perf_counter()])
        for model in models:
            pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        phases.append(["end", _rss_mb(), time.perf_counter()])
    finally:
        done.set()
        sampler.join()
        DedupEngine._say = said  # type: ignore[method-assign]
        shutil.rmtree(scratch, ignore_errors=True)
    return [(name, peak, phases[k + 1][2] - start) for k, (name, peak, start) in enumerate(phases[:-1])]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, help="a folder of .txt files (e.g. generate_corpus.py's)")
    ap.add_argument(
        "--stages", default="header,boilerplate,dedup", help="the pipeline (default: the default one)"
    )
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--shard-files", type=int, default=2000)
    ap.add_argument(
        "--scratch", type=Path, default=None, help="where the run writes (default: a temporary folder)"
    )
    ap.add_argument("--keep", type=Path, default=None, help="where the dedup task's input is kept")
    ap.add_argument("--replays", type=int, default=1)
    ap.add_argument("--replay-only", action="store_true", help="replay what --keep holds, without a run")
    args = ap.parse_args(argv)
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="dedup-task-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    keep = args.keep or scratch / "dedup-task"
    if not args.replay_only:
        if args.corpus is None:
            ap.error("--corpus is needed unless --replay-only")
        shutil.rmtree(keep, ignore_errors=True)
        out = scratch / "out"
        shutil.rmtree(out, ignore_errors=True)
        config = scratch / "config.toml"
        stages = [s.strip() for s in args.stages.split(",") if s.strip()]
        work = scratch / "work"
        config.write_text(
            ingest_config(args.corpus.resolve(), out, stages, args.workers, work), encoding="utf-8"
        )
        # the capture runs in a child process: this one's RSS stays the replay's own
        command = [sys.executable, __file__, "--capture", str(config), str(keep), str(args.shard_files)]
        child = subprocess.run(command, check=False)
        if child.returncode or not (keep / TASK_FILE).exists():
            print("the run did not reach the dedup task", file=sys.stderr)
            return 1
        shutil.rmtree(out, ignore_errors=True)
    for number in range(1, args.replays + 1):
        rows = replay(keep)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"replay {number}: {sum(s for _, _, s in rows):.1f} s, peak RSS {peak:.0f} MB (the process so far)"
        )
        print("| phase | peak RSS MB | seconds |\n| --- | --- | --- |")
        for name, rss, seconds in rows:
            print(f"| {name} | {rss:.0f} | {seconds:.1f} |")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--capture":
        capture(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
        sys.exit(0)
    sys.exit(main())
