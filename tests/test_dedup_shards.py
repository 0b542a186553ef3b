"""Dedup over shards: each shard hashed in its own task (no shingle set travels), every
shard resolved in one task that holds a few columns a document and keeps the signatures
on disk; the decisions are those of the engine fed document by document."""

from __future__ import annotations

import json
import pickle
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from ingest_plugins.dedup import buckets as buckets_module
from ingest_plugins.dedup import components as components_module
from ingest_plugins.dedup import engine as engine_module
from ingest_plugins.dedup import parts as parts_module
from ingest_plugins.dedup.buckets import (
    BucketFinds,
    VerifiedPairs,
    cut_buckets,
    find_in_partition,
    merge_finds,
    route_finds,
)
from ingest_plugins.dedup.components import cut_components
from ingest_plugins.dedup.engine import Decision, DedupEngine, DedupOptions, hash_shard
from ingest_plugins.dedup.pairs import (
    SIGNATURES_NAME,
    ShardRows,
    measure_rows,
    verify_partition,
    write_signatures,
)
from ingest_plugins.dedup.parts import FoundParts, cut_smallest, page_pieces, search_partition
from ingest_plugins.dedup.shard_hashes import ShardDocuments, write_documents
from test_dedup_composite import corpus as digests_corpus
from test_dedup_composite import prose
from test_dedup_engine import generated

from ingest.testing import run_config

DEV = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "dev" / "neardup" / "input"


def dev_documents() -> dict[str, str]:
    if not DEV.is_dir():
        pytest.skip(f"{DEV} is not here")
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(DEV.iterdir())}


def streamed(docs: dict[str, str], options: DedupOptions) -> dict[str, Decision]:
    engine = DedupEngine(options)
    for doc_id, text in docs.items():
        engine.add(doc_id, text)
    return engine.resolve(texts=lambda: iter(docs.items()))


class Texts:
    """What the sharded corpus gives the engine: the texts at some positions, counting reads."""

    def __init__(self, docs: dict[str, str]) -> None:
        self.items = list(docs.items())
        self.read: set[int] = set()

    def __call__(self, positions: list[int]) -> Iterator[tuple[str, str]]:
        for position in positions:
            self.read.add(position)
            yield self.items[position]


def found_in_partitions(shards: list, options: DedupOptions, partitions: int) -> list[BucketFinds]:
    """What a sharded run's bucketing and pair rounds find: each shard's keys cut by
    partition and pickled (as they travel), each partition's buckets found over every
    shard and cut for as many pair partitions, each of which keeps its pairs once."""
    bands, rows = options.band_rows()
    cut = [pickle.loads(pickle.dumps(cut_buckets(shard, bands, rows, partitions))) for shard in shards]
    found = [find_in_partition((pieces[p] for pieces in cut), options.max_bucket) for p in range(partitions)]
    routed = [pickle.loads(pickle.dumps(route_finds(f, partitions))) for f in found]
    return [merge_finds(passed[p] for passed in routed) for p in range(partitions)]


def signature_table(shards: list, options: DedupOptions) -> np.ndarray:
    """The rows the shards' tasks write (:func:`write_signatures`), of the whole corpus."""
    table = np.concatenate(
        [np.empty((len(shard), 1 + options.num_perm), dtype=np.uint32) for shard in shards]
    )
    start = 0
    for shard in shards:
        table[start : start + len(shard), 0] = shard.sizes
        table[start : start + len(shard), 1:] = shard.signatures
        start += len(shard)
    return table


def verified_in_partitions(
    shards: list, options: DedupOptions, partitions: int, docs: dict[str, str]
) -> list[VerifiedPairs]:
    """What a sharded run's pair round verifies: each pair partition's pairs (see
    :func:`found_in_partitions`) prefiltered with the shards' signature rows and
    verified from the texts, pickled as they travel."""
    table = signature_table(shards, options)
    texts = Texts(docs)
    found = found_in_partitions(shards, options, partitions)
    verified = [verify_partition(f, options, lambda rows: table[rows], texts) for f in found]
    assert texts.read or not any(f.codes.size for f in found)
    return [pickle.loads(pickle.dumps(v)) for v in verified]


def searched_in_partitions(
    shards: list, options: DedupOptions, partitions: int, docs: dict[str, str], value_partitions: int
) -> list[FoundParts]:
    """What a sharded run's part search passes on: each pair partition's candidate pages
    cut for ``value_partitions`` tasks, each looking them up among its share of the
    shards' smallest hashes (cut by value in the shards' tasks), all pickled as they travel."""
    table = signature_table(shards, options)
    texts = Texts(docs)
    smallest = [
        pickle.loads(pickle.dumps(cut_smallest(shard, value_partitions, options.containment_min_shingles)))
        for shard in shards
    ]
    passed = []
    for index, verified in enumerate(verified_in_partitions(shards, options, partitions, docs)):
        sizes = table[verified.edges, 0].astype(np.int64).reshape(-1, 2)
        pieces = page_pieces(verified, sizes, options, texts, value_partitions, index % value_partitions)
        passed.append(pickle.loads(pickle.dumps(pieces)))
    return [
        pickle.loads(
            pickle.dumps(
                search_partition((pieces[v] for pieces in smallest), [p[v] for p in passed], options, texts)
            )
        )
        for v in range(value_partitions)
    ]


def sharded(
    docs: dict[str, str],
    options: DedupOptions,
    shard_size: int,
    scratch: Path,
    partitions: int | None = None,
    verified: bool = False,
    value_partitions: int | None = None,
    named_only: bool = False,
    components: int | None = None,
) -> tuple[dict[str, Decision], Texts]:
    """Decisions of the engine fed ``docs`` in shards of ``shard_size``, their keys
    bucketed in ``partitions`` (None: by :meth:`DedupEngine.add_shards` itself),
    with ``verified``, their pairs verified in as many pair partitions, with
    ``value_partitions``, composite pages' parts searched in that many partitions,
    and with ``named_only``, only the documents the rounds name resolved (their
    columns read back from the files each shard writes), in ``components``
    partitions by connected component, as a sharded run does."""
    items = list(docs.items())
    shards = [
        hash_shard(options, ((doc_id, text, None) for doc_id, text in items[lo : lo + shard_size]))
        for lo in range(0, len(items), shard_size)
    ]
    finds: list | None = None
    found_parts: list[FoundParts] | None = None
    if partitions is not None and value_partitions is not None:
        found_parts = searched_in_partitions(shards, options, partitions, docs, value_partitions)
        finds = [v for found in found_parts for v in found.verified]
        for shard in shards:  # the resolving task gets no smallest hashes
            shard.bottom = shard.bottom[:0]
    elif partitions is not None:
        finds = (
            verified_in_partitions(shards, options, partitions, docs)
            if verified
            else found_in_partitions(shards, options, partitions)
        )
    texts = Texts(docs)
    if named_only:
        assert finds is not None and found_parts is not None
        cut_folder = scratch / "components"
        cut_folder.mkdir(exist_ok=True)
        cut = list(cut_components(pickle.loads(pickle.dumps(found_parts)), components or 1, cut_folder))
        assert not list(cut_folder.iterdir()), "each partition's file is removed once read back"
        named = np.concatenate([c.rows for c in cut])
        assert named.size == np.unique(named).size < len(docs)  # each named document in one partition
        for c in cut:  # each component whole: every link between documents of the partition
            ends = (c.verified.edges, c.verified.copies, c.verified.firsts, c.found.pages, c.found.parts)
            assert all(np.isin(e, c.rows).all() for e in ends)
        decisions: dict[str, Decision] = {}
        with tempfile.TemporaryDirectory() as folder:
            folders = [Path(folder) / f"shard-{k}" for k in range(len(shards))]
            for shard, shard_folder in zip(shards, folders):
                shard_folder.mkdir()
                write_documents(shard_folder, shard)
            starts = np.cumsum([0] + [len(shard) for shard in shards]).tolist()
            for mine in pickle.loads(
                pickle.dumps(cut)
            ):  # each partition of the components resolved on its own
                ids, ranks, sizes = ShardDocuments(folders, starts).read(mine.rows)
                engine = DedupEngine(options)
                engine.add_rows(len(docs), mine.rows, ids, ranks, sizes, [mine.verified], [mine.found])
                made = engine.resolve(texts=lambda: iter(items), texts_at=texts)
                assert not made.keys() & decisions.keys()
                decisions.update(made)
        return dict(sorted(decisions.items())), texts
    engine = DedupEngine(options)
    counts = engine.add_shards(shards, scratch_dir=str(scratch), finds=finds, found_parts=found_parts)
    assert counts == [len(shard) for shard in shards]
    if not verified:
        assert list(scratch.iterdir()), "the signatures are on disk while the engine resolves"
    decisions = engine.resolve(texts=lambda: iter(items), texts_at=texts)
    assert not list(scratch.iterdir()), "resolve() removes its scratch folder"
    return decisions, texts


def listed(decisions: dict[str, Decision], story: bool) -> dict[str, Decision]:
    """The decisions that say something: over shards a document kept alone has none."""
    return {k: d for k, d in decisions.items() if story or d != Decision(k, True)}


OPTIONS = [
    {},
    {"survivor": "first_seen"},
    {"clusters": "transitive"},
    {"composite": "keep", "mode": "annotate"},
    {"story_grouping": True},
    {"survivor": "earliest", "shingle_memory_mb": 0.01},
]


@pytest.mark.parametrize(
    "partitions, verified, value_partitions, named_only, components",
    [
        (None, False, None, False, None),
        (5, False, None, False, None),
        (5, True, None, False, None),
        (5, True, 3, False, None),
        (5, True, 3, True, 1),
        (5, True, 3, True, 4),
    ],
)
@pytest.mark.parametrize(
    "opts", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default"
)
def test_shards_resolved_together_decide_as_the_streamed_engine_on_the_dev_set(
    tmp_path: Path,
    opts: dict,
    partitions: int | None,
    verified: bool,
    value_partitions: int | None,
    named_only: bool,
    components: int | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    docs = dev_documents()
    options = DedupOptions(**opts)
    if components == 4:  # the components joined a few links at a time, their rows a few at a time
        monkeypatch.setattr(components_module, "UNIONS_AT_ONCE", 7)
        monkeypatch.setattr(components_module, "ROWS_JOINED_AFTER", 5)
    if named_only and options.story_grouping:  # it groups every document: the task takes every shard's hashes
        with pytest.raises(ValueError, match="cannot group stories"):
            sharded(
                docs, options, 50, tmp_path, partitions, verified, value_partitions, named_only, components
            )
        return
    plain = streamed(docs, options)
    decisions, texts = sharded(
        docs, options, 50, tmp_path, partitions, verified, value_partitions, named_only, components
    )
    assert decisions == listed(plain, options.story_grouping)
    assert any(d.role == "duplicate" for d in plain.values())
    # only candidates' texts are read back (with the pair round: by its tasks)
    assert len(texts.read) < len(docs)
    assert verified or texts.read


@pytest.mark.parametrize("survivor", ["longest", "first_seen"])
@pytest.mark.parametrize("pages_at_once", [1, 4096])
def test_digests_and_exact_copies_across_shards_decide_as_one_engine(
    tmp_path: Path, survivor: str, pages_at_once: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = {**digests_corpus(3), **generated(40, seed=5)}
    items = list(docs.items())
    random.Random(2).shuffle(items)
    docs = dict(
        items + [(f"copy-{k}", v) for k, v in items[:: len(items) // 9]]
    )  # exact copies, later shards
    options = DedupOptions(survivor=survivor)
    plain = streamed(docs, options)
    # the pages that may hold other documents are looked up a batch at a time
    monkeypatch.setattr(engine_module, "_PAGES_LOOKED_UP", pages_at_once)
    assert any(d.role == "composite" for d in plain.values())
    assert any(d.method == "exact" for d in plain.values())
    for case in (
        (1, None, False, None, False),
        (7, 3, False, None, False),
        (7, 1, False, None, False),
        (len(docs), 4, False, None, False),
        (7, 3, True, None, False),
        (1, 2, True, None, False),
        (7, 3, True, 1, False),
        (1, 2, True, 3, False),
        (len(docs), 4, True, 2, False),
        (7, 3, True, 2, True, 1),
        (1, 2, True, 1, True, 3),
        (len(docs), 4, True, 2, True, 7),
    ):
        decisions, _ = sharded(docs, options, case[0], tmp_path, *case[1:])
        assert decisions == listed(plain, False), case


FURNITURE = "share subscribe newsletter follow cookies privacy terms app download latest news sports".split()


@pytest.mark.parametrize("partitions, range_entries", [(1, None), (2, None), (7, None), (1, 500), (3, 64)])
def test_buckets_found_in_partitions_are_those_of_one_engine_capped_buckets_too(
    tmp_path: Path, partitions: int, range_entries: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The candidate pairs, the largest bucket and the texts of capped buckets are
    those of the engine bucketing every signature at once, however the keys are
    partitioned (and a partition's keys bucketed a range at a time): a bucket lives
    in one partition; exact copies (in other shards) count once in a bucket."""
    if range_entries:
        monkeypatch.setattr(buckets_module, "RANGE_ENTRIES", range_entries)
    docs = generated(120, seed=11)
    items = list(docs.items())
    rng = random.Random(4)
    furniture = " ".join(rng.choice(FURNITURE) for _ in range(400))  # half the pages end with it
    docs = dict(
        [(k, f"{v}\n\n{furniture}" if i % 2 else v) for i, (k, v) in enumerate(items)]
        + [(f"copy-{k}", v) for k, v in items[::5]]
    )
    # a low LSH threshold and small buckets: the furniture's buckets are past max_bucket
    options = DedupOptions(threshold=0.05, max_bucket=20)
    engine = DedupEngine(options)
    for doc_id, text in docs.items():
        engine.add(doc_id, text)
    plain = engine.resolve(texts=lambda: iter(docs.items()))
    assert engine.stats["capped_bucket_texts"] > 0 and engine.stats["largest_bucket"] > 100
    items = list(docs.items())
    shards = [
        hash_shard(options, ((k, v, None) for k, v in items[lo : lo + 13])) for lo in range(0, len(items), 13)
    ]
    for verified in (False, True):
        other = DedupEngine(options)
        finds = (
            verified_in_partitions(shards, options, partitions, docs)
            if verified
            else found_in_partitions(shards, options, partitions)
        )
        other.add_shards(shards, str(tmp_path), finds=finds)
        decisions = other.resolve(texts=lambda: iter(items), texts_at=Texts(docs))
        assert decisions == listed(plain, False)
        for key in (
            "candidate_pairs",
            "verified_candidates",
            "largest_bucket",
            "capped_bucket_texts",
            "verified_pairs",
        ):
            assert other.stats[key] == engine.stats[key], (key, verified)
        assert engine.stats["verified_candidates"] < engine.stats["candidate_pairs"]  # the prefilter cut some


def test_finds_for_another_corpus_are_refused(tmp_path: Path) -> None:
    options = DedupOptions()
    shard = hash_shard(options, ((k, v, None) for k, v in generated(10, seed=1).items()))
    finds = found_in_partitions([shard, shard], options, 2)  # twice as many documents
    n = len(shard)
    with pytest.raises(ValueError, match=rf"finds are for \[{2 * n}\] documents, not {n}"):
        DedupEngine(options).add_shards([shard], str(tmp_path), finds=finds)


def test_the_pair_rounds_and_the_bucketing_rounds_finds_are_not_mixed(tmp_path: Path) -> None:
    options = DedupOptions()
    docs = generated(10, seed=1)
    shard = hash_shard(options, ((k, v, None) for k, v in docs.items()))
    found = found_in_partitions([shard], options, 2)
    verified = verified_in_partitions([shard], options, 2, docs)
    with pytest.raises(ValueError, match="the bucketing round's finds or the pair round's, not both"):
        DedupEngine(options).add_shards([shard], str(tmp_path), finds=[found[0], verified[1]])


def test_signature_rows_are_read_back_by_row_across_shard_files(tmp_path: Path) -> None:
    """Each shard's task writes a row a document (set size, signature); a pair task
    reads any rows of the corpus, whichever shard's file holds them."""
    options = DedupOptions(num_perm=16)
    items = list(generated(25, seed=2).items())[:25]
    shards = [hash_shard(options, ((k, v, None) for k, v in items[lo : lo + 10])) for lo in (0, 10, 20)]
    folders = []
    for number, shard in enumerate(shards):
        folder = tmp_path / str(number)
        folder.mkdir()
        write_signatures(folder, shard, options.num_perm)
        folders.append(folder)
    assert (folders[2] / SIGNATURES_NAME).stat().st_size == 5 * 17 * 4
    rows = ShardRows(folders, [0, 10, 20, 25], options.num_perm)
    wanted = np.array([0, 3, 9, 10, 19, 20, 24], dtype=np.int64)
    table = rows.read(wanted)
    sizes = np.concatenate([shard.sizes for shard in shards])
    signatures = np.concatenate([shard.signatures for shard in shards])
    assert np.array_equal(table[:, 0], sizes[wanted])
    assert np.array_equal(table[:, 1:], signatures[wanted])
    assert rows.read(np.zeros(0, dtype=np.int64)).shape == (0, 17)


@pytest.mark.parametrize("opts", [{}, {"story_grouping": True}, {"composite": "keep", "mode": "annotate"}])
def test_the_decisions_as_columns_cut_by_shard_and_pickled_are_the_engines(
    tmp_path: Path, opts: dict
) -> None:
    docs = {**digests_corpus(3), **generated(40, seed=5)}
    items = list(docs.items())
    docs = dict(items + [(f"copy-{k}", v) for k, v in items[::9]])  # exact copies, later shards
    items = list(docs.items())
    options = DedupOptions(**opts)
    shards = [
        hash_shard(options, ((doc_id, text, None) for doc_id, text in items[lo : lo + 7]))
        for lo in range(0, len(items), 7)
    ]
    engine = DedupEngine(options)
    counts = engine.add_shards(shards, scratch_dir=str(tmp_path))
    table = engine.resolve_columns(texts=lambda: iter(items), texts_at=Texts(docs))
    whole = table.as_dict()
    assert whole == listed(streamed(docs, options), options.story_grouping)
    assert table.count("duplicate") == sum(d.role == "duplicate" for d in whole.values()) > 0
    assert list(table) == [doc_id for doc_id, _ in items if doc_id in whole]  # row order
    start = 0
    for count in counts:  # what a shard's filter task gets: its rows only, through a pickle
        part = pickle.loads(pickle.dumps(table.rows_between(start, start + count)))
        own = [doc_id for doc_id, _ in items[start : start + count]]
        assert dict(part.items()) == {k: whole[k] for k in own if k in whole}
        assert all(part.get(k) == whole.get(k) for k in own)
        assert part.get("not-a-document") is None and "not-a-document" not in part
        start += count


def test_a_failed_resolve_leaves_no_scratch_folder(tmp_path: Path) -> None:
    docs = generated(30, seed=3)
    engine = DedupEngine(DedupOptions())
    engine.add_shards([hash_shard(DedupOptions(), ((k, v, None) for k, v in docs.items()))], str(tmp_path))

    def wrong(positions: list[int]) -> Iterator[tuple[str, str]]:
        yield from (("someone-else", "text") for _ in positions)

    with pytest.raises(ValueError, match="texts_at\\(\\) gave 'someone-else'"):
        engine.resolve(texts=lambda: iter(docs.items()), texts_at=wrong)
    engine.close()
    assert not list(tmp_path.iterdir())


def test_an_empty_shard_and_an_empty_corpus(tmp_path: Path) -> None:
    options = DedupOptions()
    empty = hash_shard(options, [])
    engine = DedupEngine(options)
    assert engine.add_shards([empty, empty], str(tmp_path)) == [0, 0]
    assert engine.resolve(texts=lambda: iter(()), texts_at=lambda positions: iter(())) == {}
    docs = generated(10, seed=8)
    decisions, _ = sharded({**docs}, options, len(docs), tmp_path)
    assert decisions == listed(streamed(docs, options), False)


def test_a_sharded_run_keeps_the_signatures_beside_the_shards(tmp_path: Path, monkeypatch) -> None:
    """The resolving task writes its scratch files in the run's shards folder, not in the
    system's temporary folder (which may be small): a run whose temporary folder does
    not exist still finishes, with the decisions of an unsharded run."""
    corpus = {f"{k}.txt": v for k, v in generated(60, seed=9).items()}
    config = {
        "sink": {"type": "jsonl", "path": "out"},
        "run": {"shard_files": 40},
        "pipeline": [{"stage": "dedup"}],
    }
    plain = run_config({**config, "run": {"shards": "off"}}, directory=tmp_path / "plain", corpus=corpus)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-folder"))  # forked workers inherit it
    sharded = run_config(config, "--workers", "2", directory=tmp_path / "sharded", corpus=corpus)
    assert sharded.exit_code == 0, sharded.stderr
    assert sharded.report["shards"]["count"] > 1
    assert sharded.report["dropped_by_stage_and_reason"] == plain.report["dropped_by_stage_and_reason"]
    assert plain.report["dropped_by_stage_and_reason"]
    assert not list((tmp_path / "sharded" / "out").glob(".ingest-shards*"))


@pytest.mark.parametrize("pair_partitions", [1, 3, 7])
def test_the_pair_round_keeps_each_pair_once_and_every_copy(pair_partitions: int) -> None:
    """Routed by a hash of the pair, a pair found by several bucketing tasks lands in
    one pair partition, which keeps it once; every exact copy and capped row passes."""
    docs = {**generated(60, seed=3), **{f"copy-{k}": v for k, v in list(generated(60, seed=3).items())[::5]}}
    options = DedupOptions(max_bucket=3)  # small buckets: some are capped
    shards = [
        hash_shard(options, ((k, v, None) for k, v in list(docs.items())[lo : lo + 13]))
        for lo in range(0, len(docs), 13)
    ]
    bands, rows = options.band_rows()
    cut = [cut_buckets(shard, bands, rows, 4) for shard in shards]
    found = [find_in_partition((pieces[p] for pieces in cut), options.max_bucket) for p in range(4)]
    every = np.concatenate([f.codes for f in found])
    assert every.size > np.unique(every).size, "some pair is found by more than one bucketing task"
    routed = [route_finds(f, pair_partitions) for f in found]
    assert all(len(r) == pair_partitions for r in routed)
    kept = [merge_finds(passed[p] for passed in routed) for p in range(pair_partitions)]
    codes = np.concatenate([k.codes for k in kept])
    assert codes.size == np.unique(codes).size  # each pair in one partition, once
    assert np.array_equal(np.sort(codes), np.unique(every))
    assert all(np.array_equal(k.codes, np.sort(k.codes)) for k in kept)
    copies = sorted(
        zip(
            np.concatenate([k.copies for k in kept]).tolist(),
            np.concatenate([k.firsts for k in kept]).tolist(),
        )
    )
    assert copies == sorted(
        zip(
            np.concatenate([f.copies for f in found]).tolist(),
            np.concatenate([f.firsts for f in found]).tolist(),
        )
    )
    assert len(copies) >= 12  # the copies added, and those the generator makes
    capped = np.concatenate([k.capped for k in kept])
    assert np.array_equal(np.sort(capped), np.unique(np.concatenate([f.capped for f in found])))
    assert capped.size > 0
    assert {k.largest for k in kept} == {max(f.largest for f in found)}
    assert {k.total for k in kept} == {len(docs)}
    with pytest.raises(ValueError, match="no bucketing task"):
        merge_finds([])


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_sharded_run_finds_its_buckets_in_partitions_and_drops_what_an_unsharded_run_drops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    """The shards' band and exact keys meet in a round of tasks, one per partition (one
    per 20 planned inputs here), the pairs are verified in as many, composite pages
    searched in 4 partitions by value, and the clusters resolved in 6 tasks: the
    records are those of an unsharded run, and nothing they passed on is left."""
    docs = generated(40, seed=9)
    items = list(docs.items())
    docs = dict(items + [(f"copy-{k}", v) for k, v in items[::7]])  # exact copies, in later shards
    corpus = {f"{k}.txt": v for k, v in docs.items()}
    config = {
        "sink": {"type": "jsonl", "path": "out"},
        "run": {"shard_files": 20},
        "pipeline": [{"stage": "dedup"}],
    }
    plain = run_config({**config, "run": {"shards": "off"}}, directory=tmp_path / "plain", corpus=corpus)
    monkeypatch.setattr(buckets_module, "INPUTS_PER_PARTITION", 20)
    # the part search in 4 partitions, the clusters resolved in 6 tasks
    monkeypatch.setattr(parts_module, "INPUTS_PER_PARTITION", 40)
    monkeypatch.setattr(components_module, "INPUTS_PER_PARTITION", 30)
    calls: list[int] = []
    find = buckets_module.find_in_partition

    def counted(pieces, max_bucket):
        calls.append(len(pieces))
        return find(pieces, max_bucket)

    monkeypatch.setattr(buckets_module, "find_in_partition", counted)
    run = run_config(config, "--workers", workers, directory=tmp_path / "sharded", corpus=corpus)
    assert run.exit_code == 0, run.stderr
    shards = run.report["shards"]["count"]
    # 110 inputs: five shards of 20, the last two's 30 cut anew into 15, 8, 4 and 3
    assert len(corpus) == 110 and shards == 8
    if workers == "1":  # the tasks ran in this process: a task per partition, each over every shard
        assert calls == [shards] * shards  # shards x 20 planned inputs: a partition per shard
    assert run.report["dropped_by_stage_and_reason"] == plain.report["dropped_by_stage_and_reason"]
    assert plain.report["dropped_by_stage_and_reason"]["dedup:exact_duplicate"] > 0

    def dropped(result: object) -> list[dict]:
        folder = Path(result.output)  # type: ignore[attr-defined]
        lines = [json.loads(line) for path in sorted(folder.glob("dropped*.jsonl")) for line in path.open()]
        return sorted(({**record, "path": Path(record["path"]).name} for record in lines), key=repr)

    assert dropped(run) == dropped(plain)
    assert not list((tmp_path / "sharded" / "out").glob(".ingest-shards*"))


def test_the_pairs_a_resolve_remembers_are_found_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """The measures kept beside the verified edges (sorted columns and a dict of the
    latest) give back what was put, in batches and one pair at a time."""
    monkeypatch.setattr(engine_module._PairCache, "_PENDING", 50)  # merged often
    rng = random.Random(7)
    cache = engine_module._PairCache(1000)
    reference: dict[tuple[int, int], tuple[float, float, bool]] = {}
    for _ in range(12):
        batch = {}
        while len(batch) < rng.randrange(1, 40):
            a, b = sorted(rng.sample(range(1000), 2))
            if (a, b) not in reference:
                batch[(a, b)] = (rng.random(), rng.random(), rng.random() < 0.5)
        pairs = np.array(list(batch), dtype=np.int64)
        measures = list(batch.values())
        cache.put(pairs, *(np.array([m[k] for m in measures]) for k in range(3)))
        reference.update(batch)
    assert len(cache) == len(reference)
    asked = list(reference) + [(1, 2), (3, 999), (0, 1)]
    known, jac, con, ok = cache.lookup(np.array(asked, dtype=np.int64))
    for (a, b), *got in zip(asked, known.tolist(), jac.tolist(), con.tolist(), ok.tolist()):
        expected = reference.get((a, b))
        assert cache.get(a, b) == expected
        assert (tuple(got[1:]) if got[0] else None) == expected
    edges = engine_module._Edges(1000, np.array([[1, 5], [2, 3], [7, 9]]), np.zeros(3), np.zeros(3))
    assert edges.has(np.array([[2, 3], [1, 4], [7, 9], [0, 0]])).tolist() == [True, False, True, False]


def test_texts_that_leave_out_a_candidate_are_named(tmp_path: Path) -> None:
    docs = generated(30, seed=3)
    items = list(docs.items())
    options = DedupOptions(keep_shingles=False)  # every candidate is read again
    engine = DedupEngine(options)
    for doc_id, text in items:
        engine.add(doc_id, text)
    with pytest.raises(ValueError, match=r"texts\(\) did not yield \d+ needed documents, e.g. \['s"):
        engine.resolve(texts=lambda: iter(items[len(items) // 2 :]))  # the first half never comes
    shards = [hash_shard(options, ((k, v, None) for k, v in items))]
    engine = DedupEngine(options)
    engine.add_shards(shards, str(tmp_path))
    half = len(items) // 2

    def short(positions: list[int]) -> Iterator[tuple[str, str]]:  # nothing past the first half
        return (items[position] for position in positions if position < half)

    with pytest.raises(ValueError, match=r"texts\(\) did not yield \d+ needed documents"):
        engine.resolve(texts=lambda: iter(items), texts_at=short)
    engine.close()


@pytest.mark.parametrize("survivor", ["longest", "first_seen"])
@pytest.mark.parametrize("value_partitions, at_once", [(1, 1 << 18), (2, 1 << 18), (5, 1 << 18), (2, 50)])
def test_the_part_search_in_partitions_finds_what_one_engine_finds(
    survivor: str, value_partitions: int, at_once: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages whose parts LSH found only in part: every partition of the smallest hashes
    looks its share of the pages' shingles up (a few pages' shingles at a time); a page
    that a document found in it is nearly all of goes, another gets the parts found in
    it: what the engine's search over its whole table decides, for any number of
    partitions."""
    monkeypatch.setattr(parts_module, "LOOKED_UP_AT_ONCE", at_once)
    a, b, c, d, e = (prose(seed, 400) for seed in range(31, 36))
    page = a + "\n\n" + b
    docs = {
        **{f"filler-{k}": prose(100 + k, 150) for k in range(12)},
        "a": a,
        "b": b,
        "c": c,
        "d": d,
        "e": e,
        # holds b and almost all of the page (added first: with first_seen a page holds only earlier documents)
        "nearly-the-page": page.rsplit(". ", 1)[0] + ".",
        "page": page,
        "digest": "\n\n".join((c, d, e)),
    }
    row = {doc_id: k for k, doc_id in enumerate(docs)}
    options = DedupOptions(survivor=survivor)
    texts = Texts(docs)
    # the edges LSH found (pretended): one part of each page
    edges = np.array([(row["a"], row["page"]), (row["c"], row["digest"])], dtype=np.int64)
    jac, con, _ = measure_rows(options, edges, texts)
    none = np.zeros(0, dtype=np.int64)
    verified = VerifiedPairs(len(docs), edges, jac, con, 2, 2, none, 0, none, none)

    engine = DedupEngine(options)
    for doc_id, text in docs.items():
        engine.add(doc_id, text)
    engine._drain()
    engine._edge_sim = engine_module._Edges(len(docs), edges, jac, con)
    engine._pair_sim = engine_module._PairCache(len(docs))
    engine._texts = lambda: iter(docs.items())
    one_engine = {row["page"]: [row["a"]], row["digest"]: [row["c"]]}
    engine._search_parts(one_engine, survivor == "first_seen")
    assert one_engine == {row["digest"]: [row["c"], row["d"], row["e"]]}

    shard = hash_shard(options, ((doc_id, text, None) for doc_id, text in docs.items()))
    sizes = shard.sizes[edges]
    passed = page_pieces(verified, sizes, options, texts, value_partitions, 0)
    smallest = cut_smallest(shard, value_partitions, options.containment_min_shingles)
    found = [
        pickle.loads(pickle.dumps(search_partition([smallest[v]], [passed[v]], options, texts)))
        for v in range(value_partitions)
    ]
    partitioned = DedupEngine(options)
    shard.bottom = shard.bottom[:0]
    partitioned.add_shards([shard], finds=[verified], found_parts=found)
    cand = {row["page"]: [row["a"]], row["digest"]: [row["c"]]}
    partitioned._add_found_parts(cand)
    assert cand == one_engine
    assert set(np.concatenate([f.copied for f in found]).tolist()) == {row["page"]}
    found_in = set(
        zip(
            np.concatenate([f.pages for f in found]).tolist(),
            np.concatenate([f.parts for f in found]).tolist(),
        )
    )
    assert {(row["digest"], row["d"]), (row["digest"], row["e"])} <= found_in


def test_the_document_columns_a_shard_writes_are_read_back_by_row_across_shards(tmp_path: Path) -> None:
    """The resolving task reads the ids, ranks and set sizes of the documents it needs
    from the files the shards wrote: any rows, across shards, ids of any characters
    (a file name's lone surrogate included)."""
    options = DedupOptions(survivor="earliest")
    names = ["a.txt", "b\udcff.txt", "ça/é.txt", "", "d d", "e\n.txt", "f"]
    docs = [(name, f"text {k} " * (k + 1), {"date": f"2024-01-0{k + 1}"}) for k, name in enumerate(names)]
    shards = [hash_shard(options, docs[:3]), hash_shard(options, docs[3:4]), hash_shard(options, docs[4:])]
    folders = [tmp_path / f"shard-{k}" for k in range(len(shards))]
    for shard, folder in zip(shards, folders):
        folder.mkdir()
        write_documents(folder, shard)
    documents = ShardDocuments(folders, [0, 3, 4, 7])
    ranks = np.concatenate([shard.ranks for shard in shards])
    sizes = np.concatenate([shard.sizes for shard in shards])
    for rows in ([0, 1, 2, 3, 4, 5, 6], [1, 3, 6], [5], []):
        ids, got_ranks, got_sizes = documents.read(np.array(rows, dtype=np.int64))
        assert ids == [names[r] for r in rows]
        assert got_ranks.tolist() == ranks[rows].tolist() and got_sizes.tolist() == sizes[rows].tolist()


@pytest.mark.parametrize("seed", range(3))
def test_union_find_in_four_bytes_an_element_finds_the_same_sets(seed: int) -> None:
    """The component task's union-find keeps 4 bytes a document (``compact``): the
    roots are those of the 8-byte one, each set's smallest element, whatever the
    order of the unions."""
    from ingest_plugins.dedup.clusters import UnionFind

    rng = random.Random(seed)
    n = 2000
    links = [(rng.randrange(n), rng.randrange(n)) for _ in range(1500)]
    wide, compact = UnionFind(n), UnionFind(n, compact=True)
    for a, b in links:
        wide.union(a, b)
    for a, b in reversed(links):
        compact.union(a, b)
    roots = compact.roots(n)
    assert roots.dtype == np.int32 and compact.parent.itemsize == 4
    assert roots.tolist() == wide.roots(n).tolist()
    assert all(roots[a] == roots[b] <= min(a, b) for a, b in links)
