"""datatrove's MinHash deduplication on a folder of text files, as ``scale_bench.py`` measures it.

Runs in whatever interpreter has datatrove (``scale_bench.py --datatrove-python``), so
the project's environment need not hold it; it imports nothing from ``ingest``::

    /path/to/venv/bin/python benchmarks/datatrove_peer.py --corpus DIR --workdir DIR --workers N

The four stages of datatrove's ``examples/minhash_deduplication.py``, each a
``LocalPipelineExecutor``: signatures (``tasks=N, workers=N``), buckets
(``tasks=num_buckets, workers=N``), clusters (``tasks=1``), filter (``tasks=N,
workers=N``), with the default ``MinhashConfig``. Kept documents go to
``WORKDIR/kept``, removed ones to ``WORKDIR/removed`` (JSON lines, each with its
``minhash_cluster_id``). Prints ``RESULT {json}`` (documents read, each
stage's wall seconds, the settings) on its last line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_bench import corpus_files  # the same files in the same order as every other row


def text_files_reader(corpus: Path, files: list[str]) -> Any:
    """A reader of the sorted ``.txt`` files: datatrove has none for a folder of
    plain text files. Plain ``open`` (no fsspec) so reading costs what it costs
    the other rows."""
    from datatrove.data import Document
    from datatrove.pipeline.base import PipelineStep

    class TextFilesReader(PipelineStep):
        """Each rank reads a contiguous slice of the sorted file list; stage 1
        and stage 4 must see the same documents in the same order per rank."""

        name = "text files"
        type = "📖 - READER"

        def run(self, data: Any = None, rank: int = 0, world_size: int = 1) -> Any:
            n = len(files)
            lo, hi = n * rank // world_size, n * (rank + 1) // world_size
            for rel in files[lo:hi]:
                with open(corpus / rel, "rb") as f:
                    text = f.read().decode("utf-8")
                self.stat_update("documents")
                yield Document(text=text, id=rel, metadata={})

    return TextFilesReader()


def word_tokenizer(which: str) -> Any:
    """``default``: datatrove's own English word tokenizer (in datatrove 0.10
    spaCy's blank ``en`` pipeline, ~19 ms per 500-word document here, and
    spaCy is not among ``datatrove[processing]``'s requirements).
    ``treebank``: NLTK's Treebank word tokenizer, i.e. NLTK's ``word_tokenize``
    (datatrove's English tokenizer before spaCy) without its punkt sentence
    split, which needs a data download; MinHash tokenizes ``simplify_text``
    output, which has no punctuation, so punkt would find no boundary anyway."""
    if which == "default":
        from datatrove.utils.typeshelper import Languages

        return Languages.english
    from datatrove.utils.word_tokenizers import WordTokenizer
    from nltk.tokenize import NLTKWordTokenizer

    class TreebankTokenizer(WordTokenizer):
        def __init__(self) -> None:
            super().__init__("en")
            self._tok = NLTKWordTokenizer()

        def word_tokenize(self, text: str) -> list[str]:
            return [t for t in (x.strip() for x in self._tok.tokenize(text)) if t]

        def sent_tokenize(self, text: str) -> list[str]:
            return [text]

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            return [(0, len(text))]

    return TreebankTokenizer()


def run(corpus: Path, work: Path, workers: int, tokenizer: str) -> dict[str, Any]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.writers import JsonlWriter

    files = corpus_files(corpus)
    config = MinhashConfig()

    def stage(name: str, pipeline: list[Any], tasks: int) -> Any:
        # workers never above tasks: LocalPipelineExecutor would start idle pool processes
        return LocalPipelineExecutor(
            pipeline=pipeline,
            tasks=tasks,
            workers=min(workers, tasks),
            logging_dir=str(work / "logs" / name),
            skip_completed=False,
        )

    stages = [
        (
            "signatures",
            [
                text_files_reader(corpus, files),
                MinhashDedupSignature(
                    output_folder=str(work / "sigs"), config=config, language=word_tokenizer(tokenizer)
                ),
            ],
            workers,
        ),
        (
            "buckets",
            [
                MinhashDedupBuckets(
                    input_folder=str(work / "sigs"), output_folder=str(work / "buckets"), config=config
                )
            ],
            config.num_buckets,
        ),
        (
            "clusters",
            [
                MinhashDedupCluster(
                    input_folder=str(work / "buckets"),
                    output_folder=str(work / "remove"),
                    config=config,
                    save_cluster_id=True,  # the clusters, for scoring against the labels
                )
            ],
            1,
        ),
        (
            "filter",
            [
                text_files_reader(corpus, files),
                MinhashDedupFilter(
                    input_folder=str(work / "remove"),
                    load_cluster_ids=True,
                    exclusion_writer=JsonlWriter(str(work / "removed"), compression=None),
                ),
                JsonlWriter(str(work / "kept"), compression=None),
            ],
            workers,
        ),
    ]
    seconds = {}
    for name, pipeline, tasks in stages:
        t0 = time.perf_counter()
        stage(name, pipeline, tasks).run()
        seconds[name] = round(time.perf_counter() - t0, 4)
    _stop_forkserver()
    from importlib.metadata import version

    return {
        "docs": len(files),
        "stage_seconds": seconds,
        "config": repr(config),
        "tokenizer": tokenizer,
        "versions": {pkg: version(pkg) for pkg in ("datatrove", "xxhash", "numpy")},
    }


def _stop_forkserver() -> None:
    """Stop and reap the pool's fork server. Its processes (and the pool
    workers it forked and reaped) are not this process's children until then:
    without this their CPU would be in no ``RUSAGE_CHILDREN`` the benchmark
    reads."""
    try:
        from multiprocess import forkserver
    except ImportError:
        return
    server = getattr(forkserver, "_forkserver", None)
    if server is not None and getattr(server, "_forkserver_pid", None) is not None:
        server._stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, required=True, help="folder of .txt files")
    ap.add_argument("--workdir", type=Path, required=True, help="signatures, buckets and the output go here")
    ap.add_argument("--workers", type=int, default=1, help="tasks and workers of stages 1 and 4 (default 1)")
    ap.add_argument("--tokenizer", choices=("treebank", "default"), default="treebank")
    args = ap.parse_args(argv)
    os.environ.setdefault("DATATROVE_COLORIZE_LOGS", "0")
    result = run(args.corpus.resolve(), args.workdir.resolve(), args.workers, args.tokenizer)
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
