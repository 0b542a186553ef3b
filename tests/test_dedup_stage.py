"""The dedup stage in a pipeline: determinism, provenance, incremental runs."""

from __future__ import annotations

import random

from ingest import Document

WORDS = (
    "council budget river school market police harbour festival election bridge museum railway "
    "hospital farmers weather league court factory airport library tourism housing energy water"
).split()


def article(rng: random.Random, words: int = 120) -> str:
    sentences = []
    while sum(len(s.split()) for s in sentences) < words:
        sentences.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 16))).capitalize() + ".")
    return " ".join(sentences)


def variant(rng: random.Random, text: str) -> str:
    words = text.split()
    for _ in range(3):  # a few word substitutions, like an editor's
        words[rng.randrange(len(words))] = rng.choice(WORDS)
    return " ".join(words)


def generated_corpus(n_stories: int = 60, seed: int = 5) -> tuple[list[Document], dict[str, str]]:
    """Stories with exact, whitespace and edited copies; returns docs and id -> story."""
    rng = random.Random(seed)
    docs, story_of = [], {}
    for s in range(n_stories):
        base = article(rng)
        copies = [base]
        if s % 3 == 0:
            copies.append(base.replace(". ", ".  \n"))  # whitespace copy
        if s % 2 == 0:
            copies.append(variant(rng, base))
        if s % 5 == 0:
            copies.append(base + " " + article(rng, 15))  # an extra paragraph
        for c, text in enumerate(copies):
            doc_id = f"s{s:03d}-{c}"
            docs.append(Document(doc_id, text, metadata={"outlet": f"outlet{c}"}))
            story_of[doc_id] = f"s{s:03d}"
    return docs, story_of


def decisions(result) -> dict[str, tuple]:
    out = {doc.id: ("kept",) for doc in result.kept}
    for record in result.dropped:
        out[record.id] = (record.reason, record.duplicate_of, record.details.get("method"))
    return out


def test_every_copy_is_found_and_no_story_is_merged(run_pipeline):
    docs, story_of = generated_corpus()
    result = run_pipeline(docs, ["dedup"])
    assert len(result.kept) == 60
    assert len({story_of[d.id] for d in result.kept}) == 60
    for record in result.dropped:
        assert story_of[record.id] == story_of[record.duplicate_of]
        assert record.details["method"] in ("exact", "near") and record.details["similarity"] is not None
    exact = [r for r in result.dropped if r.reason == "exact_duplicate"]
    assert exact and all(r.details["method"] == "exact" for r in exact)


def test_same_decisions_for_shuffled_input_and_any_worker_count(run_pipeline, monkeypatch):
    from ingest_plugins.dedup import DedupEngine

    monkeypatch.setattr(DedupEngine, "inline_batches", 0)  # the dedup stage's helpers from the first batch on
    docs, _ = generated_corpus(seed=11)
    stages = ["header", "boilerplate", "dedup"]
    baseline = decisions(run_pipeline(docs, stages, run={"workers": 1}))
    shuffled = list(docs)
    random.Random(1).shuffle(shuffled)
    assert decisions(run_pipeline(shuffled, stages, run={"workers": 1})) == baseline
    assert decisions(run_pipeline(docs, stages, run={"workers": 2})) == baseline


def test_lean_memory_rereads_the_spool_and_decides_the_same(run_pipeline):
    docs, _ = generated_corpus(seed=11)
    baseline = decisions(run_pipeline(docs, ["dedup"]))
    lean = run_pipeline(docs, [{"stage": "dedup", "shingle_memory_mb": 0.01}])
    assert decisions(lean) == baseline
    assert lean.ledger.stages["dedup"].extra["dedup"]["bytes_per_doc"] < 1000


def test_lean_memory_reads_back_only_the_candidates_from_a_disk_spool(run_pipeline, monkeypatch):
    from ingest.engine.spool import Spool

    docs, _ = generated_corpus(seed=11)
    baseline = decisions(run_pipeline(docs, ["dedup"]))
    asked: list[int] = []
    read_at = Spool.read_at

    def counted(self: Spool, positions):  # type: ignore[no-untyped-def]
        positions = list(positions)
        asked.append(len(positions))
        return read_at(self, positions)

    monkeypatch.setattr(Spool, "read_at", counted)
    lean = run_pipeline(docs, [{"stage": "dedup", "shingle_memory_mb": 0.01}], run={"spool_memory_mb": 0})
    assert decisions(lean) == baseline
    assert asked and 0 < sum(asked) < len(docs)  # the candidates, not the whole spool


def test_incremental_run_against_a_saved_index_drops_what_a_combined_run_drops(run_pipeline, tmp_path):
    docs, _ = generated_corpus(seed=21)
    day1, day2 = docs[: len(docs) // 2], docs[len(docs) // 2 :]
    stage = {"stage": "dedup", "survivor": "first_seen"}
    combined = decisions(run_pipeline(docs, [stage]))
    index = tmp_path / "dedup.index"
    first = run_pipeline(day1, [{**stage, "save_index": str(index)}])
    assert index.exists()
    second = run_pipeline(day2, [{**stage, "index_path": str(index)}])
    incremental = {**decisions(first), **decisions(second)}
    assert incremental == combined


def test_survivor_policies_and_annotate_mode(run_pipeline):
    base = article(random.Random(3))
    docs = [
        Document("a", base, metadata={"outlet": "Small Paper", "date": "2025-07-09"}),
        Document(
            "b",
            base + " An extra closing sentence about the river and the bridge.",
            metadata={"outlet": "Wire", "date": "2025-07-08"},
        ),
        Document("c", base, metadata={"outlet": "Big Paper", "date": "2025-07-10"}),
    ]
    longest = run_pipeline(docs, ["dedup"])
    assert longest.kept_ids == ["b"]
    preferred = run_pipeline(
        docs, [{"stage": "dedup", "survivor": "preferred_outlets", "preferred_outlets": ["Big Paper"]}]
    )
    assert preferred.kept_ids == ["c"] and {r.duplicate_of for r in preferred.dropped} == {"c"}
    earliest = run_pipeline(docs, [{"stage": "dedup", "survivor": "earliest"}])
    assert earliest.kept_ids == ["b"]
    annotated = run_pipeline(docs, [{"stage": "dedup", "mode": "annotate"}])
    assert annotated.kept_ids == ["a", "b", "c"]
    roles = {d.id: (d.metadata["dedup_role"], d.metadata["dedup_cluster"]) for d in annotated.kept}
    assert roles == {"a": ("duplicate", "b"), "b": ("survivor", "b"), "c": ("duplicate", "b")}


def test_saved_index_appears_only_once_every_document_has_passed(tmp_path):
    """An interrupted run must not leave an index naming documents it never
    exported: a resumed run would load it and drop them as already seen."""
    from ingest import Pipeline

    index = tmp_path / "dedup.index"
    story = (
        "The harbour council approved the new budget after a long debate in the town hall on Tuesday. " * 3
    )
    docs = [
        {
            "id": f"d{i}",
            "text": f"Story {i}. {story}" if i % 2 else f"Other story number {i} about rivers." * 4,
        }
        for i in range(12)
    ]
    pipeline = Pipeline.from_dict(
        {"pipeline": [{"stage": "dedup", "save_index": str(index)}]}, load_entry_points=False
    )
    stream = pipeline.process(docs)
    first = next(stream)  # the corpus is read and resolved; the stream has begun
    assert first.id == "d0"
    assert not index.exists() and (tmp_path / ".dedup.index.pending").exists()
    rest = list(stream)
    assert index.exists() and not (tmp_path / ".dedup.index.pending").exists()
    assert len(rest) + 1 + pipeline.report["dropped"] == 12 and pipeline.report["dropped"] > 0

    # The saved index is the usual one: a later batch dedups against it.
    again = Pipeline.from_dict(
        {"pipeline": [{"stage": "dedup", "index_path": str(index)}]}, load_entry_points=False
    )
    assert list(again.process([{"id": "late", "text": docs[1]["text"]}])) == []


def _dedup_stage(workers: int = 1):
    """A DedupStage outside a pipeline, with a context of its own."""
    from ingest import Pipeline

    pipeline = Pipeline.from_dict(
        {"run": {"workers": workers}, "pipeline": [{"stage": "dedup"}]}, load_entry_points=False
    )
    stage_cfg = pipeline.config.stages[0]
    ledger = pipeline._new_ledger()
    ctx = pipeline._context(stage_cfg.id, stage_cfg.name, stage_cfg.registered.plugin.name, ledger, None)
    return stage_cfg.spec.factory(stage_cfg.options, ctx)


def test_observing_while_spooling_decides_like_a_plain_fit():
    """observe() for every document, then fit(): the decisions of fit() alone."""
    docs, _ = generated_corpus(seed=13)
    plain = _dedup_stage()
    plain.fit(docs)
    for workers in (1, 2):
        observing = _dedup_stage(workers)
        for doc in docs:
            observing.observe(doc)
        observing.fit(docs)
        assert observing.decisions == plain.decisions
    assert any(not d.keep for d in plain.decisions.values())


def test_fit_reads_the_corpus_when_it_observed_only_part_of_it():
    """A resumed run's spool holds documents the stage never observed: fit
    starts over from the corpus, and decides as if nothing was observed."""
    docs, _ = generated_corpus(seed=17)
    plain = _dedup_stage()
    plain.fit(docs)
    partial = _dedup_stage(2)
    for doc in docs[len(docs) // 2 :]:
        partial.observe(doc)
    partial.fit(docs)
    assert partial.decisions == plain.decisions


def test_pipeline_dedup_observes_while_spooling_and_hashes_each_document_once(run_pipeline, monkeypatch):
    """In a pipeline the stage observes every document while it is spooled
    and fit does not add them again; the decisions are those of a plain fit."""
    from ingest_plugins.dedup import DedupEngine
    from ingest_plugins.dedup.plugin import DedupStage

    docs, _ = generated_corpus(seed=19)
    added: list[str] = []
    original_add = DedupEngine.add

    def counting_add(self, doc_id, text, metadata=None):
        added.append(doc_id)
        original_add(self, doc_id, text, metadata)

    monkeypatch.setattr(DedupEngine, "add", counting_add)
    observed = decisions(run_pipeline(docs, ["dedup"]))
    assert sorted(added) == sorted(d.id for d in docs)  # each document hashed once
    monkeypatch.delattr(DedupStage, "observe")  # the plain fit(corpus) contract
    added.clear()
    assert decisions(run_pipeline(docs, ["dedup"])) == observed
    assert sorted(added) == sorted(d.id for d in docs)
