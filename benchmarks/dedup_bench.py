"""Benchmark the dedup engine against datasketch MinHashLSH.

Usage::

    PYTHONPATH=plugins:. python benchmarks/dedup_bench.py \
        --neardup-dir /work/shared/corpus/dev/neardup [--text gold|input] [--synthetic N]

Each engine runs in its own child process (so peak RSS is its own) over the
same texts held in memory; reading files is not timed. Reported: pairwise
P/R/F1 (predicted clusters via duplicate_of chains), hard negatives merged,
kept vs expected, docs/s, index bytes per document and peak RSS.

datasketch baseline: same normalisation and 5-word shingles, 128
permutations, threshold 0.8; greedy in id order: query, then insert; a
document with a hit is a duplicate of the smallest hit id.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT), str(ROOT / "benchmarks")]


# ---------------------------------------------------------------- corpora
def load_neardup(d: Path, which: str) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """Texts by input file name, and the gold labels by the same name."""
    labels = {}
    for line in (d / "clusters.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            labels[rec["id"]] = rec
    texts = {}
    for name in sorted(labels):
        # newline="" keeps \r\n so whitespace copies really differ in whitespace
        with open(d / which / name, encoding="utf-8", newline="") as f:
            texts[name] = f.read()
    return texts, labels


def _word(rng: random.Random) -> str:
    syl = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "an", "el", "or", "ul", "ve", "di", "zo", "be"]
    return "".join(rng.choice(syl) for _ in range(rng.randint(1, 4)))


def synthetic(n: int, seed: int = 7) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """Deterministic corpus of about ``n`` documents: Zipf-distributed words from
    a 30k vocabulary, 150-700-word stories of 3-8 paragraphs; 30% of stories are
    syndicated into 1-5 variants (sentence drops/swaps, word substitutions,
    tail truncation, an extra paragraph, case/whitespace changes) and some exact
    copies. Labels have the same shape as neardup/clusters.jsonl."""
    rng = random.Random(seed)
    vocab = sorted({_word(rng) for _ in range(40000)})[:30000]
    weights = [1.0 / (r + 1) for r in range(len(vocab))]
    cum = []
    acc = 0.0
    for w in weights:
        acc += w
        cum.append(acc)

    def sentence() -> list[str]:
        return rng.choices(vocab, cum_weights=cum, k=rng.randint(8, 30))

    def story() -> list[list[list[str]]]:
        return [[sentence() for _ in range(rng.randint(2, 5))] for _ in range(rng.randint(3, 8))]

    def render(paras: list[list[list[str]]]) -> str:
        return "\n".join(" ".join(" ".join(s).capitalize() + "." for s in p) for p in paras)

    def variant(paras: list[list[list[str]]]) -> list[list[list[str]]]:
        v = [[list(s) for s in p] for p in paras]
        ops = [op for op in ("drop", "swap", "subs", "trunc", "extra") if rng.random() < 0.45] or ["subs"]
        for op in ops:
            if op == "drop":
                p = rng.randrange(len(v))
                if len(v[p]) > 1:
                    del v[p][rng.randrange(1, len(v[p]))]
            elif op == "swap":
                p = rng.randrange(len(v))
                if len(v[p]) > 1:
                    i = rng.randrange(len(v[p]) - 1)
                    v[p][i], v[p][i + 1] = v[p][i + 1], v[p][i]
            elif op == "subs":
                for _ in range(rng.randint(1, 3)):
                    p = rng.randrange(len(v))
                    s = rng.randrange(len(v[p]))
                    v[p][s][rng.randrange(len(v[p][s]))] = rng.choice(vocab)
            elif op == "trunc" and len(v) > 3:
                del v[-1]
            elif op == "extra":
                v.append([sentence() for _ in range(rng.randint(2, 4))])
        return v

    texts: dict[str, str] = {}
    labels: dict[str, dict[str, Any]] = {}
    c = 0
    while len(texts) < n:
        c += 1
        paras = story()
        cl = f"c{c:06d}"
        members = [render(paras)]
        if rng.random() < 0.3:
            members += [render(variant(paras)) for _ in range(rng.randint(1, 5))]
            if rng.random() < 0.2:
                members.append(members[0])
            if rng.random() < 0.2:
                members.append("  " + members[0].upper().replace("\n", "\r\n\r\n") + " ")
        for t in members:
            doc_id = f"{rng.getrandbits(64):016x}"
            texts[doc_id] = t
            labels[doc_id] = {"id": doc_id, "cluster": cl, "role": "member", "negative_of": None}
    return dict(sorted(texts.items())), labels


# ---------------------------------------------------------------- metrics
from metrics import score  # noqa: E402 - benchmarks/ is on sys.path when run as a script
from peers import datasketch_dedup  # noqa: E402


def run_ours(
    texts: dict[str, str], opts: dict[str, Any], workers: int = 1, repeat: int = 1
) -> dict[str, Any]:
    from ingest_plugins.dedup import DedupEngine, DedupOptions

    warm = DedupEngine(DedupOptions(**opts))  # one-time costs (tables, numpy) outside the timing
    for k in list(texts)[:20]:
        warm.add(k, texts[k])
    warm.resolve()
    secs = float("inf")
    eng = dec = None
    for _ in range(repeat):  # best of N: the machine is shared, take the least disturbed run
        eng = dec = None  # free the previous run first: peak RSS is one engine's
        t0 = time.perf_counter()
        eng = DedupEngine(DedupOptions(**opts), workers=workers)
        for k, v in texts.items():
            eng.add(k, v)
        dec = eng.resolve()
        secs = min(secs, time.perf_counter() - t0)
    with tempfile.TemporaryDirectory() as td:
        size = eng.save(Path(td) / "index.ddx")
    return {
        "dup_of": {k: d.duplicate_of for k, d in dec.items()},
        "secs": secs,
        "index_bytes_per_doc": size / len(texts),
        "mem_bytes_per_doc": eng.bytes_per_doc(),
        "note": f"b,r={eng.bands},{eng.rows} cand={eng.stats['candidate_pairs']} mem {eng.bytes_per_doc():.0f} B/doc",
    }


def run_datasketch(
    texts: dict[str, str], opts: dict[str, Any], workers: int = 1, repeat: int = 1
) -> dict[str, Any]:
    import numpy as np
    from datasketch import MinHash
    from ingest_plugins.dedup.normalize import normalize_text, tokenize

    for doc_id in list(texts)[:20]:  # warm-up, as for ours
        MinHash(num_perm=128).update_batch([w.encode() for w in tokenize(normalize_text(texts[doc_id]))])
    secs = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        dup_of, lsh = datasketch_dedup(texts)
        secs = min(secs, time.perf_counter() - t0)
    return {
        "dup_of": dup_of,
        "secs": secs,
        "index_bytes_per_doc": float(np.dtype(np.uint64).itemsize * 128),
        "mem_bytes_per_doc": float("nan"),
        "note": f"b,r={lsh.b},{lsh.r} (bytes/doc: hashvalues only)",
    }


def child(engine: str, spec: dict[str, Any]) -> dict[str, Any]:
    if spec["corpus"] == "neardup":
        texts, labels = load_neardup(Path(spec["dir"]), spec["text"])
    else:
        texts, labels = synthetic(spec["n"])
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    runner = run_datasketch if engine == "datasketch" else run_ours
    res = runner(
        texts, spec.get("opts", {}), workers=2 if engine == "ours-w2" else 1, repeat=spec.get("repeat", 1)
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = score(res.pop("dup_of"), labels)
    out.update(
        res,
        docs=len(texts),
        docs_per_s=len(texts) / res["secs"],
        peak_rss_mb=peak / 1024,
        rss_after_load_mb=base_rss / 1024,
    )
    return out


def run_child(engine: str, spec: dict[str, Any]) -> dict[str, Any] | None:
    proc = subprocess.run(
        [sys.executable, __file__, "--_child", engine, json.dumps(spec)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        if "No module named 'datasketch'" in proc.stderr:
            print(f"  {engine}: skipped (datasketch not installed: pip install datasketch)")
            return None
        else:
            print(f"  {engine}: failed\n{proc.stderr[-2000:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(title: str, spec: dict[str, Any]) -> list[dict[str, Any]]:
    print(f"\n== {title}")
    print(
        f"{'engine':<11}{'docs':>7}{'P':>7}{'R':>7}{'F1':>7}{'hardneg':>9}{'kept/exp':>12}"
        f"{'docs/s':>10}{'idx B/doc':>10}{'peak RSS':>10}  notes"
    )
    rows = []
    for engine in ("ours", "ours-w2", "datasketch"):
        r = run_child(engine, spec)
        if r is None:
            continue
        rows.append(r)
        hn = f"{r['hard_neg_merged']}/{r['hard_negs']}" if r["hard_negs"] else "-"
        print(
            f"{engine:<11}{r['docs']:>7}{r['P']:>7.3f}{r['R']:>7.3f}{r['F1']:>7.3f}{hn:>9}"
            f"{str(r['kept']) + '/' + str(r['expected']):>12}{r['docs_per_s']:>10.0f}"
            f"{r['index_bytes_per_doc']:>10.0f}{r['peak_rss_mb']:>8.0f}MB  "
            f"{r['note']}; rss after load {r['rss_after_load_mb']:.0f}MB"
        )
    if len(rows) == 3:
        print(
            f"speed-up vs datasketch: {rows[0]['docs_per_s'] / rows[2]['docs_per_s']:.1f}x (1 process), "
            f"{rows[1]['docs_per_s'] / rows[2]['docs_per_s']:.1f}x (workers=2)"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--neardup-dir", type=Path, help="corpus/dev/neardup")
    ap.add_argument("--text", choices=("gold", "input", "both"), default="both")
    ap.add_argument("--synthetic", type=int, default=0, help="also run a synthetic corpus of N docs")
    ap.add_argument(
        "--threshold", type=float, default=None, help="our LSH threshold (default: option default)"
    )
    ap.add_argument("--repeat", type=int, default=3, help="time each engine N times, report the best")
    ap.add_argument("--_child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._child:
        print(json.dumps(child(args._child[0], json.loads(args._child[1]))))
        return 0
    opts = {} if args.threshold is None else {"threshold": args.threshold}
    if args.neardup_dir:
        for which in ("gold", "input") if args.text == "both" else (args.text,):
            report(
                f"neardup {which}/",
                {
                    "corpus": "neardup",
                    "dir": str(args.neardup_dir),
                    "text": which,
                    "opts": opts,
                    "repeat": args.repeat,
                },
            )
    if args.synthetic:
        report(
            f"synthetic {args.synthetic}",
            {"corpus": "synthetic", "n": args.synthetic, "opts": opts, "repeat": args.repeat},
        )
    if not args.neardup_dir and not args.synthetic:
        ap.error("give --neardup-dir and/or --synthetic N")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
