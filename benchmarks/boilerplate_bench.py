"""Benchmark of boilerplate removal: token P/R/F1 against gold texts.

Usage::

    PYTHONPATH=plugins:. python benchmarks/boilerplate_bench.py --gold-dir /work/shared/corpus/dev/boilerplate
    PYTHONPATH=plugins:. python benchmarks/boilerplate_bench.py --gold-dir /work/shared/corpus/dev/neardup --limit 100

The directory holds ``input/<id>.txt`` and ``gold/<id>.txt``.  The metric is
the bag-of-words measure of the scrapinghub article-extraction-benchmark:
tokens are ``re.findall(r"\\w+", text.lower())``, per-document precision,
recall and F1 on the multiset overlap, averaged over documents; an empty
output scores 0.  Rows: keep everything, jusText (each line a ``<p>`` of a
minimal HTML page, English stoplist, default settings) if installed, and
``ingest`` (this package).  ``--lexicon`` adds a row where a corpus lexicon is
first fitted on all inputs (two-pass mode).  ``--worst N`` lists the N worst
documents of ``ingest``.  The ``ingest`` docs/s is the best of ``--repeat``
timed passes after a warm-up pass (one process, one core).

Beside F1, ``<half`` is the share of documents whose output keeps less than
half of the gold text (token recall below 0.5: an article thrown away).

Then the whole sample pipeline (``text_files`` source, ``header``,
``boilerplate``, ``dedup``, ``jsonl`` sink; one worker) runs over the same
input folder, and each stage's docs/s comes from the run's own report, so
the boilerplate stage is seen next to the stages it shares the pipeline
with (``--no-pipeline`` skips it). When the directory has ``titles.jsonl``
(``{"id": ..., "refs": [headlines]}`` per page), the run's ``metadata.title``
of the kept documents is scored against it: a title is right when its
bag-of-words F1 with one of the page's headlines is at least 0.6; precision
counts the titles given, recall every page with headlines
(``--show-titles N`` lists N wrong ones). The kept text of that run is
scored like the rows above ("whole pipeline's kept text"): it is what a user
gets, with the boilerplate stage's site-furniture lexicon learnt over the
set (the ``ingest`` row cleans each page alone).
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
for _p in (_ROOT / "plugins", _ROOT):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from ingest_plugins.boilerplate import BoilerplateOptions, Cleaner, Lexicon, kept_text  # noqa: E402

TOKEN_RE = re.compile(r"\w+")


def tokens(text: str) -> Counter[str]:
    return Counter(TOKEN_RE.findall(text.lower()))


def prf(pred: str, gold: str) -> tuple[float, float, float]:
    """Bag-of-words precision, recall and F1 of one document."""
    p, g = tokens(pred), tokens(gold)
    np_, ng = sum(p.values()), sum(g.values())
    if not np_ or not ng:
        return 0.0, 0.0, 0.0
    tp = sum((p & g).values())
    if not tp:
        return 0.0, 0.0, 0.0
    prec, rec = tp / np_, tp / ng
    return prec, rec, 2 * prec * rec / (prec + rec)


def title_f1(a: str, b: str) -> float:
    """Bag-of-words F1 of two titles."""
    return prf(a, b)[2]


def score_titles(
    titles: dict[str, str | None], refs_path: Path
) -> tuple[int, int, int, list[tuple[str, str, str]]]:
    """``(pages with headlines, titles given, titles right, [(id, wrong title, headline)])``:
    a title is right when its F1 with one of the page's headlines is at least 0.6."""
    pages = given = right = 0
    wrong: list[tuple[str, str, str]] = []
    for line in refs_path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        headlines = [h for h in row.get("refs") or [] if h]
        if not headlines:
            continue
        pages += 1
        title = titles.get(Path(row["id"]).stem)
        if not title:
            continue
        given += 1
        if max(title_f1(title, h) for h in headlines) >= 0.6:
            right += 1
        else:
            wrong.append((row["id"], title, headlines[0]))
    return pages, given, right, wrong


def load_set(gold_dir: Path, limit: int | None) -> list[tuple[str, str, str]]:
    names = sorted(p.name for p in (gold_dir / "input").glob("*.txt"))
    if limit:
        names = names[:limit]
    out = []
    for name in names:
        gold = gold_dir / "gold" / name
        if not gold.exists():
            continue
        text = (gold_dir / "input" / name).read_text(encoding="utf-8")
        out.append((name, text.replace("\r\n", "\n"), gold.read_text(encoding="utf-8")))
    return out


def justext_extractor() -> Callable[[str], str] | None:
    try:
        import justext  # type: ignore[import-untyped]
    except Exception:  # noqa: BLE001 - not installed, or its lxml extra is missing
        return None
    stoplist = justext.get_stoplist("English")

    def run(text: str) -> str:
        body = "".join(f"<p>{html.escape(line)}</p>" for line in text.split("\n") if line.strip())
        doc = f"<html><head><title></title></head><body>{body}</body></html>"
        paras = justext.justext(doc.encode("utf-8"), stoplist, encoding="utf-8")
        return "\n".join(p.text for p in paras if not p.is_boilerplate)

    return run


def evaluate(
    name: str, fn: Callable[[str, str], str], docs: list[tuple[str, str, str]], repeat: int = 1
) -> dict[str, object]:
    """Score ``fn`` on ``docs``; docs/s is the best of ``repeat`` timed passes."""
    scores = []
    elapsed = float("inf")
    outs: list[str] = []
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        outs = [fn(doc_id, text) for doc_id, text, _ in docs]
        elapsed = min(elapsed, time.perf_counter() - t0)
    for (doc_id, _, gold), out in zip(docs, outs):
        scores.append((doc_id, *prf(out, gold)))
    n = max(1, len(scores))
    return {
        "name": name,
        "p": sum(s[1] for s in scores) / n,
        "r": sum(s[2] for s in scores) / n,
        "f1": sum(s[3] for s in scores) / n,
        "under_half": sum(1 for s in scores if s[2] < 0.5) / n,
        "dps": len(docs) / elapsed if elapsed > 0 else float("inf"),
        "scores": scores,
    }


def pipeline_stage_rates(
    input_dir: Path, repeat: int
) -> tuple[list[tuple[str, int, float]], float, dict[str, str | None], dict[str, str]]:
    """Run the sample pipeline over ``input_dir`` with one worker; return
    ``[(stage, documents in, seconds)]`` (best of ``repeat`` runs by total
    time), the total seconds, ``{file stem: metadata.title}`` and ``{file stem:
    text}`` of the kept documents. The sink's share is what the total leaves
    after the source and the stages."""
    from ingest import Pipeline

    best: tuple[list[tuple[str, int, float]], float] | None = None
    titles: dict[str, str | None] = {}
    texts: dict[str, str] = {}
    for _ in range(max(1, repeat)):
        with tempfile.TemporaryDirectory(prefix="ingest-bench-") as out:
            pipeline = Pipeline.from_dict(
                {
                    "run": {"workers": 1, "checkpoint_every": 0},
                    "source": {"type": "text_files", "path": str(input_dir)},
                    "sink": {"type": "jsonl", "path": out},
                    "pipeline": [{"stage": "header"}, {"stage": "boilerplate"}, {"stage": "dedup"}],
                },
                load_entry_points=False,
            )
            t0 = time.perf_counter()
            report = pipeline.run()
            total = time.perf_counter() - t0
            if not titles:
                for line in (Path(out) / "documents.jsonl").read_text(encoding="utf-8").splitlines():
                    record = json.loads(line)
                    titles[Path(record["id"]).stem] = (record.get("metadata") or {}).get("title")
                    texts[Path(record["id"]).stem] = record["text"]
        stages = report["stages"]
        rows = [
            (sid, int(st["documents_in"] or st["documents_out"]), float(st["seconds"]))
            for sid, st in stages.items()
        ]
        rows.append(("sink+runner", int(report["input"]), max(0.0, total - sum(r[2] for r in rows))))
        if best is None or total < best[1]:
            best = (rows, total)
    assert best is not None
    return best[0], best[1], titles, texts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gold-dir", type=Path, required=True, help="directory with input/ and gold/")
    ap.add_argument("--limit", type=int, default=None, help="only the first N documents")
    ap.add_argument("--no-justext", action="store_true", help="skip the jusText row")
    ap.add_argument("--lexicon", action="store_true", help="add a two-pass row with a fitted corpus lexicon")
    ap.add_argument("--worst", type=int, default=0, help="list the N worst documents for ingest")
    ap.add_argument(
        "--repeat", type=int, default=3, help="time ingest N times after a warm-up pass; docs/s is the best"
    )
    ap.add_argument(
        "--no-pipeline", action="store_true", help="skip the whole pipeline (per-stage rates, titles)"
    )
    ap.add_argument("--show-titles", type=int, default=0, help="list N wrong titles of the pipeline run")
    args = ap.parse_args(argv)

    docs = load_set(args.gold_dir, args.limit)
    if not docs:
        print(f"no documents under {args.gold_dir}/input with gold", file=sys.stderr)
        return 2
    rows = [evaluate("keep-everything", lambda _i, t: t, docs)]
    if not args.no_justext:
        jt = justext_extractor()
        if jt is None:
            print("jusText is not installed (pip install justext lxml_html_clean): row skipped")
        else:
            rows.append(evaluate("jusText", lambda _i, t: jt(t), docs))
    cleaner = Cleaner(BoilerplateOptions())
    ingest_fn = lambda _i, t: kept_text(cleaner(t))  # noqa: E731
    for _, t, _ in docs:  # warm-up
        cleaner(t)
    rows.append(evaluate("ingest", ingest_fn, docs, args.repeat))
    if args.lexicon:
        lex = Lexicon(min_documents=3).fit([t for _, t, _ in docs]).finalize()
        lc = Cleaner(BoilerplateOptions(), lexicon=lex)
        rows.append(evaluate("ingest+lexicon", lambda _i, t: kept_text(lc(t)), docs))

    kb = sum(len(t.encode("utf-8")) for _, t, _ in docs) / len(docs) / 1024
    print(f"{len(docs)} documents from {args.gold_dir} (mean {kb:.1f} KB)")
    print(f"{'extractor':<16} {'precision':>9} {'recall':>9} {'F1':>9} {'<half':>7} {'docs/s':>9}")
    for r in rows:
        scores = f"{r['p']:>9.3f} {r['r']:>9.3f} {r['f1']:>9.3f} {r['under_half']:>7.1%}"
        print(f"{r['name']:<16} {scores} {r['dps']:>9.0f}")
    if args.worst:
        ing = next(r for r in rows if r["name"] == "ingest")
        print(f"\nworst {args.worst} documents (ingest): id precision recall F1")
        for doc_id, p, r, f in sorted(ing["scores"], key=lambda s: s[3])[: args.worst]:  # type: ignore[union-attr]
            print(f"  {doc_id} {p:.3f} {r:.3f} {f:.3f}")
    if not args.no_pipeline and not args.limit:
        rows_p, total, titles, kept = pipeline_stage_rates(args.gold_dir / "input", args.repeat)
        # the pipeline's own text: the boilerplate stage with its site-furniture lexicon, after
        # the header stage (a page it dropped, as a duplicate or otherwise, scores 0)
        whole = [prf(kept.get(Path(doc_id).stem, ""), gold) for doc_id, _, gold in docs]
        n = max(1, len(whole))
        print(
            f"\nwhole pipeline's kept text: precision {sum(x[0] for x in whole) / n:.3f}, recall "
            f"{sum(x[1] for x in whole) / n:.3f}, F1 {sum(x[2] for x in whole) / n:.3f}, <half "
            f"{sum(1 for x in whole if x[1] < 0.5) / n:.1%} (pages dropped: {len(docs) - len(kept)})"
        )
        print(f"\nwhole pipeline, one worker: {rows_p[0][1] / total:.0f} docs/s ({total:.2f} s); per stage:")
        print(f"{'stage':<16} {'docs in':>9} {'seconds':>9} {'docs/s':>9} {'share':>7}")
        for sid, n, sec in rows_p:
            rate = f"{n / sec:>9.0f}" if sec > 0 else f"{'-':>9}"
            print(f"{sid:<16} {n:>9} {sec:>9.3f} {rate} {sec / total:>7.0%}")
        others = [sec for sid, _, sec in rows_p if sid != "boilerplate"]
        bp = next((sec for sid, _, sec in rows_p if sid == "boilerplate"), 0.0)
        if others and max(others) > 0:
            print(
                f"boilerplate takes {bp / max(others):.1f}x the time of the next slowest part "
                f"and {bp / total:.0%} of the run"
            )
        refs = args.gold_dir / "titles.jsonl"
        if refs.exists():
            pages, given, right, wrong = score_titles(titles, refs)
            print(
                "\ntitles (metadata.title of the kept documents, right when F1 >= 0.6 with a headline of the "
                f"page): {given} given for {pages} pages, {right} right: "
                f"precision {right / max(1, given):.3f}, recall {right / max(1, pages):.3f}"
            )
            for doc_id, title, headline in wrong[: args.show_titles]:
                print(f"  {doc_id}: {title!r}; the page says {headline!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
