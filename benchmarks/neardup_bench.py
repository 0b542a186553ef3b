"""The full ingest pipeline against datasketch MinHashLSH on the near-duplicate dev set.

Usage::

    /tmp/venv/bin/python benchmarks/neardup_bench.py --neardup-dir /work/shared/corpus/dev/neardup [--limit N] [--repeat 3]

Rows (each engine in its own child process, so every peak RSS is its own;
texts are read before timing starts; ``--rounds`` runs them all that many
times, one after another, and speeds are the best round's):

* ``ingest``: the full pipeline, ``header`` -> ``boilerplate`` -> ``dedup``
  (``ingest.Pipeline.from_dict`` + ``process()`` over Documents whose ids are
  the input file names), default options. ``docs/s`` is the whole pipeline;
  ``dedup/s`` the dedup stage alone (its time in the ledger: spooling and the
  stage glue included; no index saved, like datasketch's rows, whose index
  stays in memory: one more, untimed run saves it for ``B/doc``);
  ``engine/s`` the DedupEngine alone (add + resolve) on the same header +
  boilerplate output.
* ``ingest-w2``: the same with ``[run] workers = 2`` (the per-document
  stages in two processes; the dedup stage and the engine hash on two cores).
* ``ingest-dedup-raw``: the dedup stage alone on the raw input (no cleaning):
  the speed comparison against ``ds-raw`` on the very same texts.
* ``ds-raw``: datasketch MinHashLSH on the raw input.
* ``ds-justext``: datasketch on jusText output (every input line wrapped as a
  ``<p>`` paragraph, English stoplist, non-boilerplate paragraphs kept).
* ``ds-ingest-bp``: datasketch on ingest's ``header`` + ``boilerplate`` output.

datasketch settings: NFKC + case-folded text, ``\\w+`` tokens, 5-word
shingles, 128 permutations, ``MinHashLSH(threshold=0.8)``; greedy in id order
(query, then insert; a document with a hit is a duplicate of the smallest hit
id). For the ``ds-*`` rows ``docs/s`` covers cleaning + dedup, ``dedup/s``
(and ``engine/s``) the MinHash/LSH part alone.

Metrics (as ``corpus/dev/README.md`` defines them): pairwise precision, recall
and F1 over ``duplicate_of`` chains, hard negatives merged with the cluster
they imitate (of 120), documents kept vs expected (320), and ``clean F1``: the
mean bag-of-words F1 of each kept document's text (as the engine saw it)
against its gold text. ``B/doc``: bytes per document of the dedup index
(ingest: the saved index file; datasketch: the pickled MinHashLSH) and, in the
notes, what the ingest engine holds in memory per document. Timings are the
best of ``--repeat`` runs; all results are deterministic.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import pickle
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT), str(ROOT / "benchmarks")]

ENGINES = ("ingest", "ingest-w2", "ingest-dedup-raw", "ds-raw", "ds-justext", "ds-ingest-bp")
_TOKEN = re.compile(r"\w+")


# ---------------------------------------------------------------- data
def load(d: Path, limit: int = 0) -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, Any]]]:
    """(input texts, gold texts, labels), keyed by input file name, sorted;
    ``limit`` keeps the first N names."""
    labels = {}
    for line in (d / "clusters.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            labels[rec["id"]] = rec
    names = sorted(labels)[: limit or None]
    texts, gold = {}, {}
    for name in names:
        with open(d / "input" / name, encoding="utf-8", newline="") as f:  # keep \r\n
            texts[name] = f.read()
        gold[name] = (d / "gold" / name).read_text(encoding="utf-8")
    return texts, gold, {k: labels[k] for k in names}


def score(dup_of: dict[str, str | None], labels: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Pairwise P/R/F1 over duplicate_of chains, hard negatives merged, kept."""
    from dedup_bench import score as _score

    return _score(dup_of, labels)


def bow_f1(pred: str, gold: str) -> float:
    p, g = Counter(_TOKEN.findall(pred.lower())), Counter(_TOKEN.findall(gold.lower()))
    tp = sum((p & g).values())
    if not tp:
        return 0.0
    prec, rec = tp / sum(p.values()), tp / sum(g.values())
    return 2 * prec * rec / (prec + rec)


# ---------------------------------------------------------------- cleaners
def justext_clean(texts: dict[str, str]) -> dict[str, str]:
    import justext

    stop = justext.get_stoplist("English")
    out = {}
    for k, t in texts.items():
        body = "".join(f"<p>{html.escape(line.strip())}</p>\n" for line in t.splitlines() if line.strip())
        page = f"<html><head><meta charset='utf-8'></head><body>\n{body}</body></html>".encode()
        paras = justext.justext(page, stop, encoding="utf-8")
        out[k] = "\n".join(p.text for p in paras if not p.is_boilerplate)
    return out


def pipeline(stages: list[str], dedup_opts: dict[str, Any] | None = None, workers: int = 1) -> Any:
    from ingest import Pipeline

    spec = []
    for s in stages:
        spec.append({"stage": s, **(dedup_opts or {})} if s == "dedup" else {"stage": s})
    return Pipeline.from_dict({"run": {"workers": workers}, "pipeline": spec})


def ingest_clean(texts: dict[str, str]) -> dict[str, str]:
    from ingest import Document

    p = pipeline(["header", "boilerplate"])
    out = {d.id: d.text for d in p.process([Document(id=k, text=v) for k, v in texts.items()])}
    for r in p.ledger.records:  # a page the cleaner dropped altogether is empty text
        out.setdefault(r.id, "")
    return {k: out[k] for k in texts}


# ---------------------------------------------------------------- engines
from peers import datasketch_dedup  # noqa: E402 - shared with dedup_bench


def _time_engine(texts: dict[str, str], repeat: int, workers: int = 1) -> float:
    """Best time of DedupEngine add() + resolve() (default options) over ``texts``."""
    from ingest_plugins.dedup import DedupEngine

    warm = DedupEngine(workers=workers)
    for k in list(texts)[:20]:
        warm.add(k, texts[k])
    warm.resolve()
    best = float("inf")
    for _ in range(repeat):
        eng = None
        t0 = time.perf_counter()
        eng = DedupEngine(workers=workers)
        for k, v in texts.items():
            eng.add(k, v)
        eng.resolve()
        best = min(best, time.perf_counter() - t0)
    return best


def run_engine(engine: str, texts: dict[str, str], repeat: int) -> dict[str, Any]:
    from ingest import Document

    n = len(texts)
    best = best_dedup = float("inf")
    seen: dict[str, str] = {}
    dup_of: dict[str, str | None] = {}
    note = ""
    with tempfile.TemporaryDirectory() as td:
        idx = os.path.join(td, "dedup.idx")
        if engine.startswith("ingest"):
            stages = ["dedup"] if engine == "ingest-dedup-raw" else ["header", "boilerplate", "dedup"]
            workers = 2 if engine == "ingest-w2" else 1
            # timed without saving an index, as datasketch's rows keep theirs in memory;
            # one more (untimed) run saves it for the B/doc column
            p = pipeline(stages, {}, workers)
            list(p.process([Document(id=k, text=v) for k, v in list(texts.items())[:20]]))  # warm-up
            for _ in range(repeat):
                docs = [Document(id=k, text=v) for k, v in texts.items()]
                t0 = time.perf_counter()
                kept = list(p.process(docs))
                best = min(best, time.perf_counter() - t0)
                best_dedup = min(best_dedup, p.ledger.stages["dedup"].seconds)
            saving = pipeline(stages, {"save_index": idx}, workers)
            list(saving.process([Document(id=k, text=v) for k, v in texts.items()]))
            dup_of = {k: None for k in texts}
            seen = {d.id: d.text for d in kept}
            for r in p.ledger.records:
                dup_of[r.id] = r.duplicate_of
                seen[r.id] = r.text or ""
            stats = p.ledger.stages["dedup"].extra.get("dedup", {})
            if engine != "ingest-dedup-raw":  # the engine alone on the text the stage saw, like ds-* dedup
                best_engine = _time_engine(ingest_clean(texts), repeat, workers)
            else:
                best_engine = _time_engine(texts, repeat)
            index_bpd = os.path.getsize(idx) / n
            note = (
                f"mem {stats.get('bytes_per_doc', float('nan')):.0f} B/doc, "
                f"b,r={stats.get('bands')},{stats.get('rows')}, cand={stats.get('candidate_pairs')}"
            )
        else:
            cleaner = {"ds-raw": None, "ds-justext": justext_clean, "ds-ingest-bp": ingest_clean}[engine]
            if cleaner is not None:
                cleaner(dict(list(texts.items())[:20]))  # warm-up
            datasketch_dedup(dict(list(texts.items())[:20]))
            for _ in range(repeat):
                lsh = None
                t0 = time.perf_counter()
                cleaned = cleaner(texts) if cleaner else texts
                t1 = time.perf_counter()
                dup_of, lsh = datasketch_dedup(cleaned)
                t2 = time.perf_counter()
                best, best_dedup = min(best, t2 - t0), min(best_dedup, t2 - t1)
            best_engine = best_dedup
            seen = cleaned
            index_bpd = len(pickle.dumps(lsh, protocol=pickle.HIGHEST_PROTOCOL)) / n
            note = f"b,r={lsh.b},{lsh.r}"
    return {
        "dup_of": dup_of,
        "seen": seen,
        "docs_per_s": n / best,
        "dedup_per_s": n / best_dedup,
        "engine_per_s": n / best_engine,
        "index_bytes_per_doc": index_bpd,
        "note": note,
    }


def child(engine: str, spec: dict[str, Any]) -> dict[str, Any]:
    texts, gold, labels = load(Path(spec["dir"]), spec["limit"])
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    res = run_engine(engine, texts, spec["repeat"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    dup_of, seen = res.pop("dup_of"), res.pop("seen")
    out = score(dup_of, labels)
    kept = [k for k, v in dup_of.items() if v is None]
    out["clean_f1"] = sum(bow_f1(seen.get(k, ""), gold[k]) for k in kept) / max(1, len(kept))
    out.update(res, docs=len(texts), peak_rss_mb=peak / 1024, rss_after_load_mb=base / 1024)
    return out


def run_child(engine: str, spec: dict[str, Any]) -> dict[str, Any] | None:
    proc = subprocess.run(
        [sys.executable, __file__, "--_child", engine, json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        print(f"  {engine}: failed\n{proc.stderr[-2000:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--neardup-dir", type=Path, help="corpus/dev/neardup (required)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N documents (by name): a quick run")
    ap.add_argument(
        "--repeat", type=int, default=3, help="time each engine N times per round, report the best"
    )
    ap.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="run the engines one after another this many times (a child process each), so a slow spell "
        "of a shared machine hits every engine alike; speeds are the best over the rounds",
    )
    ap.add_argument(
        "--engines", default=",".join(ENGINES), help=f"comma-separated subset of {','.join(ENGINES)}"
    )
    ap.add_argument("--json", action="store_true", help="also print every row as JSON")
    ap.add_argument("--_child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._child:
        print(json.dumps(child(args._child[0], json.loads(args._child[1]))))
        return 0
    if args.neardup_dir is None:
        ap.error("--neardup-dir is required")
    engines = [e for e in args.engines.split(",") if e]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        ap.error(f"unknown engine(s) {unknown}; choose from {', '.join(ENGINES)}")
    if not (args.neardup_dir / "clusters.jsonl").exists():
        ap.error(f"{args.neardup_dir}: no clusters.jsonl (give the neardup dev set folder)")
    spec = {"dir": str(args.neardup_dir), "limit": args.limit, "repeat": args.repeat}
    print(f"neardup: {args.neardup_dir}" + (f" (first {args.limit} documents)" if args.limit else ""))
    head = (
        f"{'engine':<17}{'docs':>5}{'P':>7}{'R':>7}{'F1':>7}{'hardneg':>9}{'kept/exp':>10}{'clean F1':>9}"
        f"{'docs/s':>8}{'dedup/s':>9}{'engine/s':>9}{'B/doc':>7}{'peak RSS':>9}  notes"
    )
    print(head)
    rows: dict[str, dict[str, Any]] = {}
    per_round: list[dict[str, dict[str, Any]]] = []
    speeds = ("docs_per_s", "dedup_per_s", "engine_per_s")
    for rnd in range(max(1, args.rounds)):
        this: dict[str, dict[str, Any]] = {}
        for engine in engines:
            r = run_child(engine, spec)
            if r is None:
                continue
            this[engine] = r
            if engine not in rows:
                rows[engine] = r
            else:  # deterministic results; speeds: the best round
                for key in speeds:
                    rows[engine][key] = max(rows[engine][key], r[key])
        per_round.append(this)
        print(f"  round {rnd + 1}/{max(1, args.rounds)} done", flush=True)
    for engine, r in rows.items():
        hn = f"{r['hard_neg_merged']}/{r['hard_negs']}"
        print(
            f"{engine:<17}{r['docs']:>5}{r['P']:>7.3f}{r['R']:>7.3f}{r['F1']:>7.3f}{hn:>9}"
            f"{str(r['kept']) + '/' + str(r['expected']):>10}{r['clean_f1']:>9.3f}{r['docs_per_s']:>8.0f}"
            f"{r['dedup_per_s']:>9.0f}{r['engine_per_s']:>9.0f}{r['index_bytes_per_doc']:>7.0f}{r['peak_rss_mb']:>7.0f}MB  {r['note']}",
            flush=True,
        )
    pairs = [
        ("ingest", "ds-ingest-bp", "on ingest-cleaned text, 1 core"),
        ("ingest-w2", "ds-ingest-bp", "on ingest-cleaned text, 2 workers (datasketch: 1 core)"),
        ("ingest-dedup-raw", "ds-raw", "on raw input"),
    ]
    for ours, theirs, what in pairs:
        if ours in rows and theirs in rows:
            # each round's ratio (the two measured minutes apart at most), then best vs best
            stage = [
                r[ours]["dedup_per_s"] / r[theirs]["dedup_per_s"]
                for r in per_round
                if ours in r and theirs in r
            ]
            print(
                f"near-dup speed-up vs datasketch MinHashLSH {what}: "
                f"engine {rows[ours]['engine_per_s'] / rows[theirs]['dedup_per_s']:.1f}x, "
                f"pipeline stage (spool + glue included) {rows[ours]['dedup_per_s'] / rows[theirs]['dedup_per_s']:.1f}x "
                f"(per round: {', '.join(f'{x:.1f}x' for x in stage)}; median {statistics.median(stage):.1f}x)"
            )
    if args.json:
        for engine, r in rows.items():
            print(json.dumps({"engine": engine, **r}))
    return 0 if rows else 1


if __name__ == "__main__":
    raise SystemExit(main())
