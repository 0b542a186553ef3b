"""The ``dedup`` stage: exact and near-duplicate documents, with provenance.

A corpus-level stage: the runner spools the stream, showing each document
to :meth:`DedupStage.observe` on its way in (the engine hashes it then),
:meth:`DedupStage.fit` resolves clusters (adding every document itself when
it did not observe them all: a resumed run's spool), then
the stream passes again and each duplicate is dropped with ``duplicate_of``
(the survivor's id), the similarity and the method (``exact`` or ``near``),
or, with ``mode = "annotate"``, kept with its cluster id and role in
metadata. A composite page (a digest holding two or more documents that are
not duplicates of each other) is dropped with reason ``composite`` and the
ids of those documents in ``details.contains``, or kept and flagged with
``composite = "keep"``. With ``story_grouping`` every document gets a
``story_id``.

Metadata written on kept documents (when there is something to say):
``dedup_cluster`` (the survivor's id), ``dedup_role`` (``survivor``,
``duplicate`` or, annotating, ``composite``), ``dedup_similarity``,
``dedup_method``, ``dedup_composite_of`` (a composite page: the ids of the
documents it holds) with ``dedup_coverage``, ``story_id``.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs
import numpy as np

from ingest import Document, StageContext, StageKind, StageSpec, hookimpl
from ingest_plugins.dedup import buckets, components, pairs, parts
from ingest_plugins.dedup.engine import Decision, Decisions, DedupEngine, DedupOptions, hash_shard
from ingest_plugins.dedup.lsh import ANCHORS
from ingest_plugins.dedup.shard_hashes import ShardDocuments, ShardHashes, write_documents
from ingest_plugins.dedup.shingles import sorted_unique

REASONS = {"exact": "exact_duplicate", "near": "near_duplicate", "composite": "composite"}
#: the engine's figures that the resolving tasks of a sharded run add up
_ADDED_UP = (
    "candidate_pairs",
    "verified_candidates",
    "verified_pairs",
    "dropped",
    "composites",
    "capped_bucket_texts",
)

#: Documents hashed between two progress reports (``ctx.progress``): a report per
#: phase and per this many documents, never per document.
PROGRESS_EVERY = 10_000


def _annotations(decision: Decision) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    if decision.cluster_id is not None:
        metadata["dedup_cluster"] = decision.cluster_id
        metadata["dedup_role"] = decision.role
    elif decision.role == "composite":
        metadata["dedup_role"] = decision.role
    if decision.composite_of is not None:
        metadata["dedup_composite_of"] = list(decision.composite_of)
        metadata["dedup_coverage"] = decision.coverage
    if decision.duplicate_of is not None:
        metadata["dedup_duplicate_of"] = decision.duplicate_of
        metadata["dedup_similarity"] = decision.similarity
        metadata["dedup_method"] = decision.method
    if decision.story_id is not None:
        metadata["story_id"] = decision.story_id
    return metadata


#: The history action with which an earlier stage marks lines as text that recurs beside
#: different text across the corpus (the boilerplate stage: a blog's bio, below the share of the
#: site's pages that would make it furniture): two documents are never duplicates on those lines.
RECURRING_TEXT = "recurring_text"


def compared_text(doc: Document) -> str:
    """The text the stage compares: ``doc.text`` without the lines a ``recurring_text``
    event marks (the document keeps them)."""
    marked = None
    for event in doc.history:
        if event.action == RECURRING_TEXT:
            lines = event.details.get("lines") or ()
            marked = (marked or set()) | {str(line.get("text", "")).strip() for line in lines}
    if not marked:
        return doc.text
    return "\n".join(line for line in doc.text.split("\n") if line.strip() not in marked)


class DedupStage:
    """Fits a :class:`DedupEngine` on the corpus, then drops or annotates."""

    def __init__(self, options: DedupOptions, ctx: StageContext) -> None:
        self.options = options
        self.ctx = ctx
        self.decisions: Mapping[str, Decision] = {}
        self._engine: DedupEngine | None = None  # fed by observe(), resolved by fit()
        self._observed = 0
        # over shards the decisions list only documents with something to say: the others are kept as they are
        self._unlisted_kept = False

    def observe(self, doc: Document) -> None:
        """Hash one document while the runner spools the stream (before
        :meth:`fit`), so that ``fit`` need not read the spool back."""
        if self._engine is None:
            self._engine = self._new_engine()
        self._engine.add(doc.id, compared_text(doc), doc.metadata)
        self._observed += 1
        if self._observed % PROGRESS_EVERY == 0 or self._observed == 1:
            self.ctx.progress("hashing documents", self._observed)

    def fit(self, corpus: Iterable[Document]) -> None:
        # The engine fed by observe() is used only when it saw every document
        # of the corpus; otherwise (no observe calls, a resumed run's spool)
        # the corpus is read here.
        engine, observed = self._engine, self._observed
        self._engine, self._observed = None, 0
        if engine is None or observed != _length(corpus):
            if engine is not None:
                engine.close()
            engine = self._new_engine()
            total = _length(corpus)
            for done, doc in enumerate(corpus):
                if done % PROGRESS_EVERY == 0:
                    self.ctx.progress("hashing documents", done, total)
                engine.add(doc.id, compared_text(doc), doc.metadata)
        self._resolve(engine, corpus)

    def _resolve(
        self, engine: DedupEngine, corpus: Iterable[Document], columns: bool = False, warn: bool = True
    ) -> None:
        """Decide every document of ``corpus`` (all added to ``engine``, in order);
        ``columns``: the decisions as :class:`Decisions` (a sharded run's corpus);
        ``warn``: about capped buckets here (not in one of many resolving tasks)."""
        # The engine re-reads texts only for what it did not keep in memory; a spool
        # that knows where each record starts (engine rows are its positions, in
        # order) gives back just those documents.
        texts_at = None
        if getattr(corpus, "indexed", False):
            read_at = corpus.read_at  # type: ignore[attr-defined]

            def texts_at(positions: list[int]) -> Iterator[tuple[str, str]]:
                return ((doc.id, compared_text(doc)) for doc in read_at(positions))

        resolve = engine.resolve_columns if columns else engine.resolve
        self.decisions = resolve(lambda: ((doc.id, compared_text(doc)) for doc in corpus), texts_at)
        self._report(engine.stats, warn)

    def _report(self, engine_stats: Mapping[str, Any], warn: bool = True) -> None:
        """The engine's figures in the stage's ledger entry, and a warning when texts
        of capped buckets were compared with a few only (``warn``)."""
        stats = self.ctx.ledger.stages.get(self.ctx.stage_id)
        if stats is not None:
            stats.extra["dedup"] = {
                key: value for key, value in engine_stats.items() if isinstance(value, (int, float, str))
            }
        capped = engine_stats.get("capped_bucket_texts", 0)
        if capped and warn:
            self.ctx.warn(
                f"{capped} texts were in an LSH bucket of more than max_bucket = {self.options.max_bucket} "
                f"(the largest held {engine_stats['largest_bucket']}): each was compared with its bucket's "
                f"first {ANCHORS} only, and a near-duplicate among them may be missed. Such buckets come "
                "from text many pages share, a site's furniture: remove it first (the boilerplate stage), "
                "or raise max_bucket"
            )

    # -- sharded runs (see docs/hooks.md) -----------------------------------------

    def cannot_shard(self) -> str | None:
        """Why the stage cannot run over shards with these options, or None."""
        if self.options.index_path or self.options.save_index:
            return "cannot run over shards with index_path or save_index yet"
        return None

    def shard_rounds(self) -> list[int]:
        """Five rounds: the shards' band and exact keys in partitions (more as the
        planned input grows), each finding its buckets' candidate pairs and its
        exact copies; as many partitions of the pairs, each keeping a pair once
        (the bucketing tasks find a pair once for each band key they share) and
        passing on its candidate composite pages' shingles; the shards' smallest
        shingle hashes in partitions by value, each looking the pages' shingles up
        (:mod:`.parts`); one task that joins the documents all of that names into
        connected components and cuts them in partitions (:mod:`.components`);
        a task per partition that resolves its documents. With story grouping
        (every document grouped) one task resolves every shard's hashes instead
        of the last two rounds. No round runs in the ``ingest run`` process."""
        planned = self.ctx.planned_inputs
        partitions = buckets.partitions_for(planned)
        rounds = [partitions, partitions, parts.partitions_for(planned), 1]
        if not self.options.story_grouping:
            rounds.append(components.partitions_for(planned))
        return rounds

    def shard_pass(self, docs: Iterable[Document]) -> list[list[Any]]:
        """In a shard's task: each document hashed as the engine hashes it, but its
        shingle set; its band and exact keys cut by partition (round 0), nothing
        for the pair round (1), its smallest shingle hashes cut by value for the
        part search (2), then nothing for the component and resolving rounds (its
        documents' ids, ranks and set sizes wait in a file of its own), or with
        story grouping, the rest for the one task that resolves (3)."""
        if self.ctx.shard_folder is None:
            raise RuntimeError("shard_pass() runs in a shard's task, which gives it ctx.shard_folder")
        hashes = hash_shard(self.options, ((doc.id, compared_text(doc), doc.metadata) for doc in docs))
        bands, rows = self.options.band_rows()
        partitions = self.shard_rounds()
        pieces = buckets.cut_buckets(hashes, bands, rows, partitions[0])
        smallest = parts.cut_smallest(hashes, partitions[2], self.options.containment_min_shingles)
        # the pair round reads its pairs' rows of the signatures from the shard's folder
        pairs.write_signatures(self.ctx.shard_folder, hashes, self.options.num_perm)
        if not self.options.story_grouping:
            # the resolving tasks read the ids, ranks and sizes of the documents they need
            write_documents(self.ctx.shard_folder, hashes)
            return [pieces, [None] * partitions[1], smallest, [None], [None] * partitions[4]]
        # story grouping groups every document: the resolving task takes every shard's
        # hashes (met in rounds 0 to 2 but the story fingerprints)
        hashes.keys, hashes.signatures = hashes.keys[:0], hashes.signatures[:0]
        hashes.bottom = hashes.bottom[:0]
        return [pieces, [None] * partitions[1], smallest, [hashes]]

    def exchange_partition(
        self, round: int, index: int, pieces: Iterable[Any], earlier: Any, corpus: Any
    ) -> (
        list[buckets.BucketFinds]
        | list[parts.PageShingles]
        | list[parts.FoundParts]
        | Iterator[components.ComponentRows]
    ):
        """Round 0, in a task per partition of the keys: the candidate pairs of the
        partition's buckets and its exact copies, over every shard, cut for the
        pair round. Round 1, in a task per partition of the pairs: each of its
        pairs once, prefiltered by their signatures and verified from their texts,
        and its candidate composite pages' shingles cut for the part search. Round 2,
        in a task per partition of the shingle values: the documents found in those
        pages, verified, for the component task. Round 3, in one task: the
        documents all of that names, by connected component, for the resolving tasks."""
        rounds = self.shard_rounds()
        if round == 0:
            found = buckets.find_in_partition(pieces, self.options.max_bucket)
            return buckets.route_finds(found, rounds[1])
        if round == 3:
            return components.cut_components(earlier, rounds[4], corpus.scratch)

        def texts_at(positions: list[int]) -> Iterator[tuple[str, str]]:
            return ((doc.id, compared_text(doc)) for doc in corpus.read_at(positions))

        if round == 2:
            return [parts.search_partition(pieces, earlier, self.options, texts_at)]
        rows = pairs.ShardRows(
            [corpus.stage_folder(shard) for shard in range(len(corpus.folders))],
            corpus.starts(),
            self.options.num_perm,
        )
        verified = pairs.verify_partition(buckets.merge_finds(earlier), self.options, rows.read, texts_at)
        ends = sorted_unique(verified.edges.ravel())
        sizes = rows.read(ends)[:, 0].astype(np.int64)[np.searchsorted(ends, verified.edges)]
        return parts.page_pieces(verified, sizes, self.options, texts_at, rounds[2], index % rounds[2])

    def combine_partition(
        self,
        index: int,
        pieces: Iterable[ShardHashes | None],
        corpus: Iterable[Document],
        earlier: Iterable[components.ComponentRows] | Iterable[parts.FoundParts],
    ) -> tuple[list[Decisions], dict[str, Any] | None]:
        """The last round: in a task per partition of the components, its documents
        resolved as the engine resolves the corpus, their ids, ranks and set sizes
        read from the shards' files; with story grouping, in one task, every
        shard's hashes in shard order. Each shard's model is the decisions on its
        documents that say something (a document missing from every one is kept as
        it is); the summary is the engine's figures (added up in
        :meth:`combine_summaries`)."""
        # this task is one of the run's workers: the engine hashes nothing more in other processes
        engine = DedupEngine(self.options, workers=1)
        starts = corpus.starts()  # type: ignore[attr-defined]
        try:
            # the pairs come verified: no signature is read here
            if self.options.story_grouping:
                found_parts: list[parts.FoundParts] = list(earlier)  # type: ignore[arg-type]
                verified = [v for found in found_parts for v in found.verified]
                engine.add_shards(pieces, finds=verified, found_parts=found_parts)  # type: ignore[arg-type]
                self._resolve(engine, corpus, columns=True)
                summary = None
            else:
                (mine,) = earlier
                assert isinstance(mine, components.ComponentRows)
                folders = [corpus.stage_folder(shard) for shard in range(len(starts) - 1)]  # type: ignore[attr-defined]
                ids, ranks, sizes = ShardDocuments(folders, starts).read(mine.rows)
                engine.add_rows(starts[-1], mine.rows, ids, ranks, sizes, [mine.verified], [mine.found])
                del ids, ranks, sizes
                # the capped texts are counted over every partition, and said once
                self._resolve(engine, corpus, columns=True, warn=False)
                summary = dict(engine.stats)
        finally:
            engine.close()
        decisions, self.decisions = self.decisions, {}
        assert isinstance(decisions, Decisions)
        models = [decisions.rows_between(start, stop) for start, stop in zip(starts[:-1], starts[1:])]
        return models, summary

    def combine_summaries(self, summaries: list[dict[str, Any] | None], corpus: Any) -> None:
        """In the ``ingest run`` process: the resolving tasks' figures added up (the
        corpus's counts from the first, the largest bucket the largest)."""
        figures = [s for s in summaries if s is not None]
        if not figures:
            return
        total = dict(figures[0])
        for key in _ADDED_UP:
            total[key] = sum(f.get(key, 0) for f in figures)
        total["largest_bucket"] = max(f.get("largest_bucket", 0) for f in figures)
        self._report(total)

    def use_shard(self, decisions: list[Decisions]) -> None:
        """In a shard's task: the decisions on its documents (from each resolving task),
        before they pass."""
        # read only: a ChainMap takes any mapping
        self.decisions = decisions[0] if len(decisions) == 1 else collections.ChainMap(*decisions)  # type: ignore[arg-type]
        self._unlisted_kept = True

    def _new_engine(self) -> DedupEngine:
        # hashing runs on the run's cores ([run] workers; results never depend on it),
        # or in Ray tasks on the Ray executor
        options = self.options
        if options.save_index:
            # Written beside the target and moved into place only once every
            # document has passed the stage: an index must never name documents
            # that a failed or interrupted run did not export (a resumed run
            # would load it and drop them as already seen).
            options = attrs.evolve(options, save_index=_pending_path(options.save_index))
        return DedupEngine(
            options, progress=self.ctx.progress, **{"workers": self.ctx.workers, **self._distributed()}
        )

    def _distributed(self) -> dict[str, Any]:
        """On Ray (``ctx.executor.kind == "ray"``): hashing in Ray tasks and
        LSH buckets grouped by a Ray shuffle; the decisions are the same."""
        executor = self.ctx.executor
        if executor.kind != "ray":
            return {}
        from ingest_plugins.dedup.ray_lsh import RayCandidatePairs  # imports ray

        return {
            "workers": executor.parallelism,
            "executor": executor,
            "candidate_pairs": RayCandidatePairs.for_parallelism(executor.parallelism),
        }

    def __call__(self, docs: Iterable[Document]) -> Iterator[Document]:
        for doc in docs:
            decision = self.decisions.get(doc.id)
            if decision is None and self._unlisted_kept:
                yield doc
                continue
            if decision is None:
                # Not seen in fit: cannot happen unless ids repeat; keep, and say so.
                self.ctx.warn("document was not seen by the dedup pass (duplicate id?); kept", doc=doc)
                yield doc
                continue
            annotations = _annotations(decision)
            if decision.keep or self.options.mode == "annotate":
                if annotations:
                    doc = doc.with_event(self.ctx.stage_id, "dedup", **annotations)
                    doc.metadata = {**doc.metadata, **annotations}  # on the copy: the input is left as it was
                yield doc
                continue
            story = {"story_id": decision.story_id} if decision.story_id else {}
            if decision.method == "composite":
                self.ctx.drop(
                    doc,
                    REASONS["composite"],
                    contains=list(decision.composite_of or ()),
                    coverage=decision.coverage,
                    method=decision.method,
                    **story,
                )
                continue
            self.ctx.drop(
                doc,
                REASONS.get(decision.method or "", "duplicate"),
                duplicate_of=decision.duplicate_of,
                similarity=decision.similarity,
                containment=decision.containment,
                method=decision.method,
                **story,
            )
        if self.options.save_index and os.path.exists(_pending_path(self.options.save_index)):
            os.replace(_pending_path(self.options.save_index), self.options.save_index)


def _length(corpus: Iterable[Document]) -> int | None:
    """How many documents ``corpus`` holds, when it can say without being read."""
    try:
        return len(corpus)  # type: ignore[arg-type]
    except TypeError:
        return None


def _pending_path(path: str) -> str:
    """Where the index waits until the stage has seen every document."""
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.pending")


@hookimpl
def ingest_stages() -> list[StageSpec]:
    return [
        StageSpec(
            name="dedup",
            kind=StageKind.DEDUP,
            factory=DedupStage,
            options=DedupOptions,
            summary="Drop exact and near-duplicate documents (MinHash LSH, verified), with duplicate_of and "
            "similarity, and digest pages made of other documents.",
            needs_corpus=True,
        )
    ]
