"""Same-story grouping: shared long verbatim runs, annotation only."""

from __future__ import annotations

import random

from ingest_plugins.dedup import DedupEngine, DedupOptions
from test_dedup_engine import VOCAB, run


def words(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(VOCAB) for _ in range(n)]


def test_rewrites_sharing_quotes_get_one_story_id() -> None:
    rng = random.Random(31)
    quote1, quote2 = words(rng, 18), words(rng, 14)
    stock = "said in a statement on monday that the company would".split()  # 10 words, everywhere
    orig = words(rng, 80) + quote1 + words(rng, 60) + quote2 + words(rng, 40)
    rewrite = words(rng, 50) + quote2 + words(rng, 70) + quote1 + words(rng, 30)
    docs = {"orig": " ".join(orig), "rewrite": " ".join(rewrite)}
    # unrelated stories sharing only a stock phrase (and short common runs)
    for i in range(60):
        body = words(rng, 150)
        body[40:40] = stock
        body[100:100] = quote1[:6]  # a 6-word run is no evidence
        docs[f"other{i:02d}"] = " ".join(body)
    d = run(docs, story_grouping=True)
    assert d["orig"].story_id == d["rewrite"].story_id == "orig"
    assert d["orig"].keep and d["rewrite"].keep and d["rewrite"].duplicate_of is None  # never a drop
    others = {d[f"other{i:02d}"].story_id for i in range(60)}
    assert len(others) == 60 and "orig" not in others  # every unrelated story alone: own id
    assert all(d[f"other{i:02d}"].story_id == f"other{i:02d}" for i in range(60))


def test_near_duplicates_share_the_story_and_min_shared_matters() -> None:
    rng = random.Random(32)
    base = words(rng, 200)
    edited = list(base)
    edited[100] = "zzedit"
    quote = words(rng, 12)
    a = words(rng, 100) + quote + words(rng, 100)
    b = words(rng, 100) + quote + words(rng, 100)
    docs = {"base": " ".join(base), "edited": " ".join(edited), "a": " ".join(a), "b": " ".join(b)}
    d = run(docs, story_grouping=True, survivor="first_seen")
    assert d["edited"].duplicate_of == "base" and d["edited"].story_id == d["base"].story_id == "base"
    # one 12-word shared run gives 1-3 fingerprints: below the default story_min_shared it may not
    # group; with min_shared=1 it must
    d1 = run(docs, story_grouping=True, story_min_shared=1)
    assert d1["a"].story_id == d1["b"].story_id == "a"


def test_story_grouping_off_gives_no_story_ids() -> None:
    eng = DedupEngine(DedupOptions())
    eng.add("x", "some words here")
    assert eng.resolve()["x"].story_id is None
