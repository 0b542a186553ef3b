"""Behaviour of the dedup engine on small generated texts."""

from __future__ import annotations

import datetime
import random

import attrs
import numpy as np
import pytest
from ingest_plugins.dedup import Decision, DedupEngine, DedupOptions
from ingest_plugins.dedup.lsh import ANCHORS, BucketStats, bucket_pair_codes

VOCAB = [f"{a}{b}{c}" for a in "bcdfgklmnprst" for b in "aeiou" for c in ("", "n", "r", "s", "l", "x")]


def story(rng: random.Random, paragraphs: int = 5, words: int = 60) -> list[str]:
    return [" ".join(rng.choice(VOCAB) for _ in range(words)) + "." for _ in range(paragraphs)]


def run(
    docs: dict[str, str],
    metadata: dict[str, dict] | None = None,
    order: list[str] | None = None,
    workers: int = 1,
    **opts: object,
) -> dict[str, Decision]:
    eng = DedupEngine(DedupOptions(**opts), workers=workers)
    for k in order or list(docs):
        eng.add(k, docs[k], (metadata or {}).get(k))
    return eng.resolve()


def dropped(d: dict[str, Decision]) -> dict[str, str | None]:
    return {k: v.duplicate_of for k, v in d.items() if not v.keep}


# ------------------------------------------------------------------ exact
def test_exact_whitespace_case_and_unicode_variants() -> None:
    base = "\n".join(story(random.Random(1)))
    docs = {
        "a": base,
        "b": "  " + base.replace("\n", "\r\n\r\n").replace(" ", "  \t") + " \n",
        "c": base.upper(),
        "d": base.replace("a", "\uff41"),  # full-width 'a': NFKC folds it
        "e": "\n".join(story(random.Random(2))),
    }
    d = run(docs, survivor="first_seen")
    assert dropped(d) == {"b": "a", "c": "a", "d": "a"}
    assert all(d[k].method == "exact" and d[k].similarity == 1.0 for k in "bcd")
    assert d["a"].role == "survivor" and d["a"].cluster_id == "a" and d["e"].cluster_id is None


def test_normalisation_switches() -> None:
    base = "\n".join(story(random.Random(3)))
    docs = {"a": base, "b": base.upper(), "c": base.replace(" ", "   ")}
    d = run(docs, normalize_case=False, normalize_whitespace=False, survivor="first_seen")
    # not exact any more, but still the same shingles: near duplicates (case-folding off
    # changes the shingles of "b", so only "c" remains a duplicate)
    assert d["c"].method == "near" and d["c"].duplicate_of == "a" and d["c"].similarity == 1.0
    assert d["b"].keep


# ------------------------------------------------------- near/containment
def test_near_duplicate_with_edits() -> None:
    rng = random.Random(4)
    paras = story(rng, paragraphs=8)
    words = " ".join(paras).split()
    for i in (50, 150, 250, 350):
        words[i] = "zzedit"
    docs = {"orig": " ".join(paras), "edit": " ".join(words), "other": " ".join(story(rng, 8))}
    d = run(docs, survivor="first_seen")
    assert dropped(d) == {"edit": "orig"}
    assert d["edit"].method == "near" and 0.7 < d["edit"].similarity < 1.0


def test_containment_extra_paragraphs() -> None:
    rng = random.Random(5)
    paras = story(rng, paragraphs=6)
    extra = story(rng, paragraphs=3)
    docs = {"short": "\n".join(paras), "long": "\n".join(paras[:3] + extra + paras[3:])}
    # Jaccard ~0.65 (below jaccard_threshold), containment ~0.99
    d = run(docs, survivor="longest")
    assert dropped(d) == {"short": "long"}
    assert d["short"].similarity < 0.7 and d["short"].containment > 0.95  # boundary shingles differ
    # without the containment rule it is no duplicate
    d = run(docs, containment_threshold=1.0, containment_min_shingles=10**6)
    assert dropped(d) == {}


def test_tiny_texts_are_not_contained_in_everything() -> None:
    rng = random.Random(6)
    paras = story(rng, paragraphs=6)
    docs = {"big": "\n".join(paras), "tiny": " ".join(paras[0].split()[:12])}
    assert dropped(run(docs)) == {}


# ----------------------------------------------------------------- survivors
@pytest.fixture()
def cluster() -> tuple[dict[str, str], dict[str, dict]]:
    paras = story(random.Random(7), paragraphs=6)
    docs = {
        "x1": "\n".join(paras),
        "x2": "\n".join(paras + ["one more closing line here."]),  # longest
        "x3": "\n".join(paras[:-1] + [paras[-1].replace(".", "!")]),
    }
    md = {
        "x1": {"date": "2024-05-03", "outlet": "wire"},
        "x2": {"date": datetime.date(2024, 5, 4), "outlet": "blog"},
        "x3": {"date": datetime.datetime(2024, 5, 2, 9, 30), "outlet": "paper"},
    }
    return docs, md


@pytest.mark.parametrize(
    ("policy", "extra", "winner"),
    [
        ("longest", {}, "x2"),
        ("earliest", {}, "x3"),
        ("preferred_outlets", {"preferred_outlets": ["paper", "wire"]}, "x3"),
        ("preferred_outlets", {"preferred_outlets": ["wire"]}, "x1"),
        ("first_seen", {}, "x1"),
    ],
)
def test_survivor_policies(cluster, policy: str, extra: dict, winner: str) -> None:
    docs, md = cluster
    d = run(docs, md, survivor=policy, **extra)
    assert [k for k, v in d.items() if v.keep] == [winner]
    for k, v in d.items():
        assert v.cluster_id == winner
        if k != winner:
            assert v.duplicate_of == winner and v.role == "duplicate" and v.method == "near"


def test_ties_and_missing_metadata_are_deterministic(cluster) -> None:
    docs, _ = cluster
    docs = {"b": docs["x1"] + " x", "a": docs["x1"] + " y", "c": docs["x1"]}
    # a and b are equally long: the smaller id wins, whatever the order
    for order in (["a", "b", "c"], ["c", "b", "a"]):
        assert [k for k, v in run(docs, order=order, survivor="longest").items() if v.keep] == ["a"]
    # nobody has a date: smallest id
    assert [k for k, v in run(docs, survivor="earliest").items() if v.keep] == ["a"]
    # first_seen follows the add order
    assert [k for k, v in run(docs, order=["c", "b", "a"], survivor="first_seen").items() if v.keep] == ["c"]


def test_annotate_mode_keeps_everything(cluster) -> None:
    docs, md = cluster
    d = run(docs, md, mode="annotate", survivor="longest")
    assert all(v.keep for v in d.values())
    assert {k: v.role for k, v in d.items()} == {"x1": "duplicate", "x2": "survivor", "x3": "duplicate"}
    assert d["x1"].duplicate_of == "x2" and d["x1"].cluster_id == "x2"


def test_options_validation() -> None:
    with pytest.raises(ValueError, match="survivor"):
        DedupOptions(survivor="biggest")
    with pytest.raises(ValueError, match="mode"):
        DedupOptions(mode="delete")
    with pytest.raises(ValueError, match="exceeds num_perm"):
        DedupOptions(bands=20, rows=10)
    eng = DedupEngine(DedupOptions(threshold=0.8))
    assert (eng.bands, eng.rows) == (9, 13)  # as datasketch/text-dedup derive them
    eng.add("a", "text")
    with pytest.raises(ValueError, match="duplicate document id"):
        eng.add("a", "text")


# ------------------------------------------------------------- determinism
def generated(n_stories: int = 120, seed: int = 11) -> dict[str, str]:
    """A few hundred documents: stories with near-duplicate variants and copies."""
    rng = random.Random(seed)
    docs: dict[str, str] = {}
    for s in range(n_stories):
        paras = story(rng, paragraphs=rng.randint(3, 6), words=rng.randint(20, 50))
        docs[f"s{s:03d}-0"] = "\n".join(paras)
        for v in range(rng.randint(0, 3)):
            p = list(paras)
            op = rng.choice(["drop", "edit", "extra", "copy"])
            if op == "drop" and len(p) > 3:
                del p[rng.randrange(1, len(p))]
            elif op == "edit":
                w = " ".join(p).split()
                w[rng.randrange(len(w))] = "qqq"
                p = [" ".join(w)]
            elif op == "extra":
                p.append(story(rng, 1, 30)[0])
            docs[f"s{s:03d}-{v + 1}"] = "\n\n".join(p)
    return docs


def test_deterministic_under_shuffle_and_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DedupEngine, "inline_batches", 0)  # helpers from the first batch on
    docs = generated()
    assert len(docs) > 250
    ref = run(docs, story_grouping=True)
    assert 100 < sum(not v.keep for v in ref.values()) < 200
    for seed in (1, 2):
        order = list(docs)
        random.Random(seed).shuffle(order)
        assert run(docs, order=order, story_grouping=True) == ref
    # several batches, some hashed by the helper and some here while it is busy
    assert run(docs, workers=2, batch_size=16, story_grouping=True) == ref
    # every dropped document points at a kept one of the same generated story
    for k, v in ref.items():
        if not v.keep:
            assert ref[v.duplicate_of].keep and v.duplicate_of[:4] == k[:4]


def test_keep_shingles_off_rereads_texts() -> None:
    docs = generated(60)
    ref = run(docs)
    eng = DedupEngine(DedupOptions(keep_shingles=False))
    for k, v in docs.items():
        eng.add(k, v)
    with pytest.raises(ValueError, match="needs `texts`"):
        DedupEngine(DedupOptions(keep_shingles=False)).resolve()  # nothing to re-read: fine
        eng.resolve()
    eng2 = DedupEngine(DedupOptions(keep_shingles=False))
    for k, v in docs.items():
        eng2.add(k, v)
    assert eng2.resolve(lambda: iter(docs.items())) == ref
    full = DedupEngine()
    for k, v in docs.items():
        full.add(k, v)
    full.resolve()
    assert eng2.bytes_per_doc() < full.bytes_per_doc()  # only candidates' shingles were gathered


def test_texts_at_reads_back_only_the_candidates() -> None:
    docs = generated(60)
    ref = run(docs)
    items = list(docs.items())
    asked: list[list[int]] = []

    def texts_at(positions: list[int]):  # type: ignore[no-untyped-def]
        asked.append(positions)
        return (items[i] for i in positions)

    lean = DedupEngine(DedupOptions(keep_shingles=False))
    for k, v in items:
        lean.add(k, v)
    assert lean.resolve(lambda: iter(items), texts_at=texts_at) == ref
    assert asked and all(p == sorted(p) for p in asked)
    assert 0 < sum(map(len, asked)) < len(items)


def test_shingle_memory_budget_drops_sets_and_rereads_candidates() -> None:
    docs = generated(60)
    ref = run(docs)
    eng = DedupEngine(DedupOptions(shingle_memory_mb=0.01))  # ~2,600 shingles: exceeded after a batch
    for k, v in docs.items():
        eng.add(k, v)
    with pytest.raises(ValueError, match="shingle_memory_mb"):
        eng.resolve()
    lean = DedupEngine(DedupOptions(shingle_memory_mb=0.01))
    for k, v in docs.items():
        lean.add(k, v)
    assert lean._store.nbytes == 0  # nothing held after add()
    assert lean.resolve(lambda: iter(docs.items())) == ref
    full = DedupEngine()
    for k, v in docs.items():
        full.add(k, v)
    full.resolve()
    assert lean.bytes_per_doc() < full.bytes_per_doc()


def test_classic_minhash_scheme_agrees() -> None:
    docs = generated(60)
    a, b = run(docs), run(docs, minhash="classic")
    # both are estimates feeding the same verification: same story groups, counts within 5%
    for d in (a, b):
        assert all(dup[:4] == k[:4] for k, dup in dropped(d).items())
    assert abs(len(dropped(a)) - len(dropped(b))) <= 0.05 * len(dropped(a))


def test_evolve_keeps_options_valid() -> None:
    o = attrs.evolve(DedupOptions(), shingle_size=3)
    assert o.shingle_size == 3


# ------------------------------------------------- tokeniser / exact keys
def _ref_key(text: str) -> bytes:
    import hashlib

    c = " ".join(text.split())
    top = max(map(ord, c), default=0)
    if top < 128:
        raw = c.encode("ascii")
    elif top < 0x10000:
        raw = c.encode("utf-16-le", "surrogatepass")
    else:
        raw = c.encode("utf-32-le", "surrogatepass")
    return hashlib.blake2b(raw, digest_size=16).digest()


MIXED = [
    "plain ascii text, with  double   spaces\tand\ttabs\n",
    "  leading and trailing\r\n\r\n",
    "caf\u00e9 na\u00efve \u201cquoted\u201d words \u2014 dashes",
    "only\u00a0non-ascii\u2003whitespace here",  # collapses to an ASCII text
    "emoji \U0001f600 astral \U0001d400bold letters",
    "embedded \x00 nul \x00\x00 characters",
    "",
    "   ",
    "x",
    "\x1c\x1dfile separators\x1e\x1f are whitespace too",
]


@pytest.mark.parametrize("whitespace", [True, False])
def test_exact_keys_and_tokens_match_reference(whitespace: bool) -> None:
    import hashlib
    import re

    from ingest_plugins.dedup.shingles import ShingleHasher

    sh = ShingleHasher(1, 5)
    sh.whitespace = whitespace
    # every path (ASCII bytes, UCS-2, UCS-4, with and without "\0" in a text)
    # must give the same keys and token hashes as each text processed alone
    for batch in (MIXED, MIXED[:4], [t for t in MIXED if "\x00" not in t], [MIXED[2], MIXED[3]]):
        tok = sh.tokens(batch)
        for d, text in enumerate(batch):
            raw = (
                text.encode("ascii") if text.isascii() else text.encode("utf-32-le")
            )  # as is: ASCII or UCS-4
            want = _ref_key(text) if whitespace else hashlib.blake2b(raw, digest_size=16).digest()
            assert tok.keys[d] == want, (text, whitespace)
            assert tok.doc(d).size == len(re.findall(r"\w+", text))
            alone = sh.tokens([text])
            assert (alone.doc(0) == tok.doc(d)).all()
    # the same word hashes the same whatever path its document took
    words = sh.tokens(["hello world", "hello caf\u00e9", "hello \U0001f600"])
    assert words.doc(0)[0] == words.doc(1)[0] == words.doc(2)[0]


# ----------------------------------------------- star clusters, edit budget
def test_star_clusters_do_not_chain_through_a_contained_text() -> None:
    # left-over site furniture F is contained in two unrelated pages of the
    # site; transitively all three are one cluster, star clusters keep the
    # two stories apart (F is a duplicate of the survivor only)
    rng = random.Random(41)
    furniture = " ".join(story(rng, paragraphs=2, words=40))
    a = " ".join(story(rng, paragraphs=2, words=60))
    b = " ".join(story(rng, paragraphs=2, words=62))
    docs = {"fa": a + "\n" + furniture, "fb": b + "\n" + furniture, "f": furniture}
    d = run(docs)
    assert dropped(d) == {"f": "fb"}  # fb is the longest
    assert d["fa"].keep and d["fa"].cluster_id is None
    assert d["f"].containment == 1.0 and d["f"].similarity < 0.5
    t = run(docs, clusters="transitive")
    assert dropped(t) == {"f": "fb", "fa": "fb"}


def _edit(words: list[str], every: int) -> list[str]:
    out = list(words)
    for i in range(every // 2, len(out), every):
        out[i] = "zzsub"
    return out


def test_edit_budget_is_length_aware() -> None:
    rng = random.Random(42)
    short = " ".join(story(rng, paragraphs=1, words=60)).split()
    long = " ".join(story(rng, paragraphs=10, words=60)).split()
    # the same share of edits: one substituted word in 20 (about 25% of the shingles lost)
    docs = {
        "short": " ".join(short),
        "short-edit": " ".join(_edit(short, 20)),
        "long": " ".join(long),
        "long-edit": " ".join(_edit(long, 20)),
    }
    d = run(docs, survivor="first_seen")
    # the short copy misses ~15 shingles (within edit_budget): a duplicate; the
    # long one misses ~120 (the same fraction): not, as with edit_budget off
    assert 0.7 <= d["short-edit"].containment < 0.8
    assert dropped(d) == {"short-edit": "short"}
    assert dropped(run(docs, edit_budget=0)) == {}
    assert dropped(run(docs, survivor="first_seen", edit_budget=10**6)) == {
        "short-edit": "short",
        "long-edit": "long",
    }


def test_prefilter_skips_only_hopeless_candidates() -> None:
    # pages of one site: their own story plus the same furniture (Jaccard ~0.2:
    # LSH candidates, hopeless as duplicates), next to real near-duplicates
    rng = random.Random(43)
    furniture = " ".join(story(rng, paragraphs=1, words=30))
    docs = generated(60)
    docs.update(
        {f"page{i:02d}": " ".join(story(rng, paragraphs=1, words=60)) + "\n" + furniture for i in range(30)}
    )
    eng = DedupEngine(DedupOptions())
    for k, v in docs.items():
        eng.add(k, v)
    got = eng.resolve()
    assert eng.stats["verified_candidates"] < eng.stats["candidate_pairs"]
    assert got == run(docs, prefilter_margin=1.0)
    assert DedupEngine().bands * DedupEngine().rows <= 128


def test_star_clusters_drop_only_verified_duplicates_of_their_survivor() -> None:
    # a copy A of the survivor S with a new paragraph X, and a piece m of A
    # (its last paragraph of S plus X): m is contained in A, A in S, but only
    # half of m is in S. m is not dropped as a copy of S (and X, which only A
    # and m hold, is not lost with A)
    rng = random.Random(44)
    p = story(rng, paragraphs=8, words=40)
    x = story(rng, paragraphs=1, words=40)[0]
    docs = {"s": "\n".join(p[:7]), "a": "\n".join(p[:5] + [x]), "m": "\n".join([p[4], x])}
    for survivor in ("longest", "first_seen"):
        d = run(docs, survivor=survivor)
        assert dropped(d) == {"a": "s"}
        assert d["a"].containment >= 0.8 and d["m"].keep
    # transitive clusters do chain: m goes with S through A
    assert dropped(run(docs, clusters="transitive")) == {"a": "s", "m": "s"}


def test_shingle_store_pair_similarities_match_python_sets() -> None:
    import numpy as np
    from ingest_plugins.dedup.shingles import ShingleStore, pair_similarities

    rng = np.random.default_rng(3)
    sets = [np.unique(rng.integers(0, 60, int(rng.integers(0, 40))).astype(np.uint32)) for _ in range(50)]
    offsets = np.cumsum([0] + [a.size for a in sets])
    store = ShingleStore()
    store.put(np.arange(50), np.concatenate(sets), offsets, np.arange(50))
    store.share(np.array([50, 51]), np.array([3, 0]))  # exact copies share a range
    store.drop(np.array([7, 8]))
    store._compact()  # live sets move, shared ranges stay shared
    assert (store.get(50) == sets[3]).all() and (store.get(51) == sets[0]).all()
    assert not store.held(np.array([7, 8, 99])).any()
    rows = [r for r in range(52) if r not in (7, 8)]
    pairs = np.array([(a, b) for a in rows for b in rows if a < b][::7])
    for chunk in (1 << 19, 5):  # one chunk, and many
        jac, con, small = pair_similarities(store, pairs, chunk)
        for (i, j), x, y, z in zip(pairs.tolist(), jac, con, small):
            a, b = set(store.get(i).tolist()), set(store.get(j).tolist())
            inter, union, least = len(a & b), len(a | b), min(len(a), len(b))
            assert z == least
            assert x == pytest.approx(inter / union if union else 1.0)
            assert y == pytest.approx(inter / least if least else (1.0 if not union else 0.0))


# ------------------------------------------------------------ large buckets
def test_a_bucket_past_max_bucket_pairs_its_rows_with_its_first_rows_only() -> None:
    n = 3_010
    key_of_row = np.array([7] * 3_000 + [9] * 10, dtype=np.uint64)  # rows 0-2999 in one bucket, 3000-3009
    rows = np.arange(n, dtype=np.int64)[::-1].copy()  # given in any order
    keys = key_of_row[rows]
    every = np.unique(bucket_pair_codes(keys, rows, n))
    assert every.size == 3_000 * 2_999 // 2 + 45
    capped = np.unique(bucket_pair_codes(keys, rows, n, max_bucket=1_000))
    large = capped[capped // n < 3_000]
    assert large.size == ANCHORS * (ANCHORS - 1) // 2 + (3_000 - ANCHORS) * ANCHORS
    assert set((large // n).tolist()) == set(range(ANCHORS))  # every pair has one of the first rows
    assert (capped[capped // n >= 3_000] == every[every // n >= 3_000]).all()  # a small bucket: every pair
    stats = BucketStats(n)
    bucket_pair_codes(keys, rows, n, max_bucket=1_000, stats=stats)
    assert (stats.largest, stats.capped_rows) == (3_000, 3_000)
    assert stats.capped[:3_000].all() and not stats.capped[3_000:].any()


def test_copies_of_one_story_in_large_buckets_are_found_as_without_a_limit() -> None:
    """Two hundred edited copies of a wire story fill buckets far past ``max_bucket``:
    paired with the first few only, they are still all found, with the same decisions."""
    rng = random.Random(4)
    base = story(rng, paragraphs=6, words=60)
    docs = {
        f"copy{i:03d}": "\n".join(p.replace(rng.choice(VOCAB), "qqq", 1) for p in base) for i in range(200)
    }
    docs.update({f"other{i}": "\n".join(story(rng, 4, 40)) for i in range(30)})
    limited = run(docs, max_bucket=20)
    assert limited == run(docs, max_bucket=0)
    assert len(dropped(limited)) >= 190


def test_a_pipeline_whose_buckets_were_capped_says_so(tmp_path, monkeypatch) -> None:
    """Past max_bucket a text is compared with its bucket's first rows only: the run
    says how many texts that was and how large the largest bucket was, unsharded and
    over shards alike (their clusters resolved in 4 tasks, the warning said once)."""
    from ingest_plugins.dedup import components

    from ingest.testing import run_config

    monkeypatch.setattr(components, "INPUTS_PER_PARTITION", 20)

    rng = random.Random(4)
    base = story(rng, paragraphs=6, words=60)
    corpus = {
        f"copy{i:03d}.txt": "\n".join(p.replace(rng.choice(VOCAB), "qqq", 1) for p in base) for i in range(60)
    }
    corpus.update({f"other{i}.txt": "\n".join(story(rng, 4, 40)) for i in range(10)})
    config = {"sink": {"type": "jsonl", "path": "out"}, "pipeline": [{"stage": "dedup", "max_bucket": 20}]}
    seen = []
    for name, run_options in (("plain", {"shards": "off"}), ("sharded", {"shard_files": 20})):
        result = run_config({**config, "run": run_options}, directory=tmp_path / name, corpus=corpus)
        assert result.exit_code == 0, result.stderr
        stats = result.report["stages"]["dedup"]["dedup"]
        largest, capped = stats["largest_bucket"], stats["capped_bucket_texts"]
        assert largest > 20 and 20 < capped <= 60, name  # the copies, not the other stories
        warnings = [str(w) for w in result.report["warning_samples"] if "max_bucket = 20" in str(w)]
        assert len(warnings) == 1 and f"{capped} texts were in an LSH bucket" in warnings[0], name
        assert f"the largest held {largest}" in warnings[0]
        seen.append((largest, capped))
    assert seen[0] == seen[1]  # over shards, the same buckets
    quiet = run_config(
        {**config, "pipeline": [{"stage": "dedup"}]}, directory=tmp_path / "quiet", corpus=corpus
    )
    assert quiet.report["stages"]["dedup"]["dedup"]["capped_bucket_texts"] == 0
    assert not [w for w in quiet.report["warning_samples"] if "max_bucket" in str(w)]
