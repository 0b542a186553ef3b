"""The ``boilerplate`` stage: page furniture out, article text in.

Wraps :class:`ingest_plugins.boilerplate.Cleaner`. Every removed line is
recorded in the document's history (action ``removed_lines``) with its
1-based line number in the text the stage received and the rule that
removed it, so ``ingest explain DOC_ID`` can show it. Blank lines removed
between furniture are counted, not listed.

Recurring lines and site furniture (the ``lexicon`` rule), two ways:

* ``learn_lexicon = true`` (the default): a two-pass run. The stage first
  reads the whole corpus (spooled to disk), learns the lines that recur across
  documents and the blocks that recur within one site, short or long (a
  blog's author bio, a newsletter pitch, a standard disclaimer; see
  :mod:`ingest_plugins.boilerplate.lexicon` and, for what a site is,
  :mod:`ingest_plugins.boilerplate.sites`), optionally writes them to
  ``save_lexicon`` for review, then cleans every document with them. Both
  passes run on the run's executor (its worker processes or Ray tasks).
* ``lexicon_path = "lexicon.jsonl"``: use a lexicon saved by an earlier run;
  the stage stays per-document (and runs in worker processes). So does
  ``learn_lexicon = false``, without the lexicon.

Plugins add line rules through the ``ingest_boilerplate_rules`` hook.

Recall floor (``recall_floor``): when the article span the stage picks holds
only a small share of the page's prose, the other prose blocks that no strong
signal (a line rule, an end marker, the lexicon, a teaser list) removed are
kept too, and the page gets a ``low_confidence`` event in its history (the
span's share of the prose and the lines kept outside the span).

Titles (``titles = true``): the stage picks the page's headline from the lines
above the article it keeps and sets ``metadata.title`` (with ``title_line``,
the line of the input), and reviews the title, outlet, author, dateline and
relative date an earlier stage read from the text: one on a furniture line or
outside the article is withdrawn, a title that differs from the headline is
replaced (see :mod:`ingest_plugins.boilerplate.titles`). Each value it sets or
withdraws is in the history (action ``metadata``, with the line and the rule;
as for removed lines, the line numbers are those of the text the stage
received).
"""

from __future__ import annotations

import collections
import copy
import itertools
import os
import tempfile
from collections.abc import Iterable, Iterator, Sized
from typing import Any, Union

import attrs

from ingest import Document, Drop, StageContext, StageKind, StageSpec, hookimpl, path_field
from ingest.contract.errors import error_text
from ingest_plugins.boilerplate.classify import RULE_NAMES, Cleaner, LowConfidence, join_kept
from ingest_plugins.boilerplate.lexicon import (
    PARTITIONS,
    Lexicon,
    LexiconPiece,
    fingerprints_by_partition,
    partitions_for,
)
from ingest_plugins.boilerplate.lines import normalise
from ingest_plugins.boilerplate.options import BoilerplateOptions
from ingest_plugins.boilerplate.sites import site_of
from ingest_plugins.boilerplate.titles import find_headline, review, title_is_settled


@attrs.define
class BoilerplateStageOptions(BoilerplateOptions):
    """The options of :class:`BoilerplateOptions`, plus how the stage runs."""

    lexicon_path: str = path_field(
        metadata={"help": "a lexicon saved by an earlier run (save_lexicon) to apply"}
    )
    learn_lexicon: bool = attrs.field(
        default=True,
        metadata={
            "help": "first pass over the corpus to learn the lines that recur across its documents and "
            "the site furniture (blocks recurring within one site), then clean with them (two-pass run); "
            "false: one document at a time"
        },
    )
    save_lexicon: str = path_field(
        metadata={"help": "with learn_lexicon: write the learned lexicon here (JSON lines)"}
    )
    drop_empty: bool = attrs.field(
        default=True, metadata={"help": "drop a document with no article text left (reason no_content)"}
    )
    record_lines: bool = attrs.field(
        default=True, metadata={"help": "record every removed line with its rule in the document history"}
    )
    titles: bool = attrs.field(
        default=True,
        metadata={
            "help": "set metadata.title from the headline above the kept article (none when unsure), and "
            "withdraw a title, outlet, author or dateline read from a furniture line or from outside the "
            "article"
        },
    )
    title_window: int = attrs.field(
        default=40,
        metadata={"help": "the headline is looked for in this many non-blank lines above the article"},
    )
    title_min_overlap: float = attrs.field(
        default=0.5,
        metadata={
            "help": "share of a headline's words (not stop words) that the article's first paragraphs "
            "must hold"
        },
    )

    @property
    def two_pass(self) -> bool:
        """Whether the stage learns its lexicon from the corpus (a saved one is applied instead)."""
        return self.learn_lexicon and not self.lexicon_path

    def __attrs_post_init__(self) -> None:
        if self.save_lexicon and not self.two_pass:
            raise ValueError(
                "save_lexicon: needs learn_lexicon = true and no lexicon_path (it saves what the first pass "
                "learns)"
            )
        if self.title_window < 1:
            raise ValueError(f"title_window: must be at least 1, got {self.title_window!r}")
        if not 0.0 <= self.title_min_overlap <= 1.0:
            raise ValueError(f"title_min_overlap: must be between 0 and 1, got {self.title_min_overlap!r}")


def _plugin_rules(ctx: StageContext) -> list[Any]:
    if ctx.plugins is None:
        return []
    return [rule for rules in ctx.plugins.hook.ingest_boilerplate_rules() for rule in (rules or ())]


def _check_rule_names(options: BoilerplateStageOptions, rules: list[Any]) -> None:
    known = set(RULE_NAMES) | {rule.name for rule in rules}
    unknown = [name for name in options.disabled_rules if name not in known]
    if unknown:
        raise ValueError(
            f"disabled_rules: unknown rule(s) {', '.join(map(repr, unknown))}; rules: {', '.join(sorted(known))}"
        )


class _Cleaning:
    """Cleans one document with a :class:`Cleaner`; shared by both modes (and picklable
    with its cleaner, for the workers of the two-pass mode)."""

    def __init__(self, options: BoilerplateStageOptions, stage_id: str, cleaner: Cleaner) -> None:
        self.options = options
        self.stage_id = stage_id
        self.cleaner = cleaner

    def __call__(self, doc: Document) -> Document | Drop:
        site = site_of(doc)
        lines, keep, rules, low = self.cleaner.decide_with_confidence(doc.text, outlet=site)
        lexicon = self.cleaner.lexicon
        if lexicon is not None and lexicon.has_recurring:
            result = self._clean(doc, lines, keep, rules, low)
            return result if isinstance(result, Drop) else self._recurring(result, lines, keep, site)
        return self._clean(doc, lines, keep, rules, low)

    def _clean(
        self,
        doc: Document,
        lines: list[str],
        keep: list[bool],
        rules: list[str | None],
        low: LowConfidence | None,
    ) -> Document | Drop:
        if all(keep):
            return doc if low is None else self._low_confidence(doc, low)
        text = join_kept(itertools.compress(lines, keep))
        removed = [i for i, k in enumerate(keep) if not k]
        nonblank = [i for i in removed if lines[i].strip()]
        details: dict[str, Any] = {"removed": len(nonblank), "removed_blank": len(removed) - len(nonblank)}
        if self.options.drop_empty and not text.strip():
            return Drop("no_content", details={"removed": details["removed"]})
        if self.options.record_lines:
            details["lines"] = [{"line": i + 1, "text": lines[i], "rule": rules[i]} for i in nonblank]
        cleaned = doc.with_event(self.stage_id, "removed_lines", **details)
        cleaned.text = text  # a copy of its own: the input document is left as it was
        if low is not None:
            cleaned = self._low_confidence(cleaned, low)
        if self.options.titles:
            cleaned = self._titles(doc, cleaned, lines, keep, rules)
        return cleaned

    def _recurring(self, doc: Document, lines: list[str], keep: list[bool], site: str | None) -> Document:
        """``doc`` with the long lines it keeps that recur beside different text elsewhere
        without being furniture (see :meth:`Lexicon.recurs`), as a ``recurring_text`` event:
        the dedup stage leaves them out when it compares documents."""
        lexicon = self.cleaner.lexicon
        assert lexicon is not None
        max_words = lexicon.max_words
        found = []
        for i, line in enumerate(lines):
            if keep[i] and line.count(" ") >= max_words:
                key = normalise(line)
                if key.count(" ") >= max_words and lexicon.recurs(key, site):
                    found.append({"line": i + 1, "text": line})
        return doc.with_event(self.stage_id, "recurring_text", lines=found) if found else doc

    def _low_confidence(self, doc: Document, low: LowConfidence) -> Document:
        """``doc`` with the recall floor's record (action ``low_confidence``): the article span
        held only ``span_share`` of the page's prose, and the listed lines (1-based, of the text
        the stage received) were kept outside it."""
        return doc.with_event(
            self.stage_id,
            "low_confidence",
            span_share=round(low.span_share, 3),
            span_words=low.span_words,
            page_words=low.page_words,
            kept_outside_span=[i + 1 for i in low.restored],
        )

    def _titles(
        self, doc: Document, cleaned: Document, lines: list[str], keep: list[bool], rules: list[str | None]
    ) -> Document:
        """``cleaned`` with the headline and the review of the text metadata of ``doc``, the
        document the stage received (see :mod:`~ingest_plugins.boilerplate.titles`)."""
        o = self.options
        headline = None
        if not title_is_settled(doc.metadata, doc.history):
            headline = find_headline(
                doc.text,
                lines,
                keep,
                rules,
                self.cleaner.stopwords,
                window=o.title_window,
                min_overlap=o.title_min_overlap,
                first_is_title=o.keep_title,
            )
        change = review(doc.metadata, doc.history, lines, keep, rules, headline, window=o.title_window)
        if change is None:
            return cleaned
        reviewed = cleaned.with_event(self.stage_id, "metadata", lines=change.entries)
        metadata = {k: v for k, v in doc.metadata.items() if k not in change.remove}
        metadata.update(change.set)
        reviewed.metadata = metadata  # a new dict: the input document's is left as it was
        return reviewed


def _cleaner(options: BoilerplateStageOptions, ctx: StageContext, lexicon: Lexicon | None = None) -> Cleaner:
    rules = _plugin_rules(ctx)
    _check_rule_names(options, rules)
    return Cleaner(options, lexicon=lexicon, extra_rules=rules)


#: Documents per task when the two-pass mode spreads its work over the run's executor.
BATCH_DOCUMENTS = 64


def _fingerprints(batch: tuple[int, list[tuple[str | None, str]]]) -> list[LexiconPiece]:
    """Task of the first pass: the lexicon's fingerprint of each ``(site, text)``,
    split by partition (:func:`~ingest_plugins.boilerplate.lexicon.split_prints`)."""
    max_words, docs = batch
    return fingerprints_by_partition(docs, max_words, PARTITIONS)


_Outcome = Union[Document, Drop, tuple[str, str]]


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in lists of ``size`` (the last one shorter)."""
    it = iter(items)
    while batch := list(itertools.islice(it, size)):
        yield batch


def _clean_batch(batch: tuple[_Cleaning, list[Document]]) -> list[_Outcome]:
    """Task of the second pass: each document cleaned, dropped, or ``("error", text)``."""
    clean, docs = batch
    out: list[_Outcome] = []
    for doc in docs:
        try:
            out.append(clean(doc))
        except Exception as exc:  # noqa: BLE001 - sent back and recorded as the stage's error
            out.append(("error", error_text(exc)))
    return out


class CorpusBoilerplate:
    """Two-pass mode: learn the corpus lexicon (site furniture included), then clean
    every document with it. Both passes go over the run's executor in batches of
    :data:`BATCH_DOCUMENTS` (the run's worker processes, or Ray tasks); counting
    the lines stays here, in memory that grows with the recurring lines only."""

    def __init__(self, options: BoilerplateStageOptions, ctx: StageContext) -> None:
        self.options = options
        self.ctx = ctx
        self.rules = _plugin_rules(ctx)
        _check_rule_names(options, self.rules)
        self.lexicon: Lexicon | None = None
        self.clean: _Cleaning | None = None

    def fit(self, corpus: Iterable[Document]) -> None:
        expected = len(corpus) if isinstance(corpus, Sized) else None
        max_words = self.options.lexicon_max_words
        batches = (
            (max_words, [(site_of(doc), doc.text) for doc in batch])
            for batch in _batches(corpus, BATCH_DOCUMENTS)
        )
        self.ctx.progress("learning site furniture", 0, expected)

        def counted() -> Iterator[list[LexiconPiece]]:
            done = 0
            for pieces in self.ctx.executor.map(_fingerprints, batches):
                yield pieces
                done += sum(pieces[0].site_documents.values())
                self.ctx.progress("learning site furniture", done, expected)

        # counted in partitions as a sharded run's tasks count them: both decide alike
        lexicon = Lexicon.counted_in_partitions(self.options, counted(), expected)
        if self.options.save_lexicon:
            lexicon.save(self.options.save_lexicon)
        self.lexicon = lexicon
        cleaner = Cleaner(self.options, lexicon=lexicon, extra_rules=self.rules)
        self.clean = _Cleaning(self.options, self.ctx.stage_id, cleaner)

    # -- sharded runs (see docs/hooks.md) -----------------------------------------

    def shard_partitions(self) -> int:
        """The lexicon is counted in partitions of its lines, a task each: 8 for
        every 200,000 inputs the run planned (see
        :func:`~ingest_plugins.boilerplate.lexicon.partitions_for`)."""
        return partitions_for(self.ctx.planned_inputs)

    def shard_pass(self, docs: Iterable[Document]) -> list[LexiconPiece]:
        """In a shard's task: the lexicon's fingerprint of each document, with its
        site, split by partition."""
        max_words = self.options.lexicon_max_words
        partitions = self.shard_partitions()
        return fingerprints_by_partition(((site_of(doc), doc.text) for doc in docs), max_words, partitions)

    def combine_partition(
        self, index: int, pieces: Iterable[LexiconPiece], corpus: Sized
    ) -> tuple[Iterator[Lexicon], Lexicon | None]:
        """In partition ``index``'s task: the partition's lines of every shard counted
        in shard order, as ``fit`` counts them; each shard's model is that part of the
        lexicon cut down to the shard's sites. The summary: the part, when the
        lexicon is to be saved."""
        # the number of documents is asked for only if the lexicon needs it
        lexicon = Lexicon.from_options(
            self.options, expected_documents=lambda: len(corpus), share=self.shard_partitions()
        )
        shard_sites: list[set[str | None]] = []
        for piece in pieces:
            lexicon.add_piece(piece)
            shard_sites.append(set(piece.site_documents))
        lexicon.finalize()
        # made one at a time as the run writes them: a shard's model holds its sites' entries
        models = (lexicon.for_sites(sites) for sites in shard_sites)
        return models, lexicon if self.options.save_lexicon else None

    def combine_summaries(self, summaries: list[Lexicon | None], corpus: Sized) -> None:
        """Here: the partitions' lexicons saved as one, if ``save_lexicon`` asks."""
        if self.options.save_lexicon:
            Lexicon.merged([s for s in summaries if s is not None]).save(self.options.save_lexicon)

    def use_shard(self, lexicons: list[Lexicon]) -> None:
        """In a shard's task: the lexicon of its sites (a part from each partition),
        before its documents pass."""
        lexicon = Lexicon.merged(lexicons)
        self.lexicon = lexicon
        self.clean = _Cleaning(
            self.options, self.ctx.stage_id, Cleaner(self.options, lexicon=lexicon, extra_rules=self.rules)
        )

    def __call__(self, docs: Iterable[Document]) -> Iterator[Document]:
        assert self.clean is not None, "fit() runs first"
        if self.ctx.executor.parallelism == 1 or self.rules:
            # in this process: a plugin's rules need not be picklable
            for doc in docs:
                try:
                    result: _Outcome = self.clean(doc)
                except Exception as exc:  # noqa: BLE001 - recorded, and the run goes on
                    result = ("error", error_text(exc))
                yield from self._settle(doc, result)
            return
        sent: collections.deque[list[Document]] = collections.deque()

        def batches() -> Iterator[tuple[_Cleaning, list[Document]]]:
            for batch in _batches(docs, BATCH_DOCUMENTS):
                sent.append(batch)
                yield self._for_batch(sent[-1]), sent[-1]

        for outcomes in self.ctx.executor.map(_clean_batch, batches()):
            for doc, result in zip(sent.popleft(), outcomes):
                yield from self._settle(doc, result)

    def _for_batch(self, batch: list[Document]) -> _Cleaning:
        """The cleaning for a batch, its lexicon cut down to the batch's sites (what a task
        carries stays small however many sites the corpus has)."""
        assert self.clean is not None and self.lexicon is not None
        cleaner = copy.copy(self.clean.cleaner)
        cleaner.lexicon = self.lexicon.for_sites({site_of(doc) for doc in batch})
        return _Cleaning(self.options, self.ctx.stage_id, cleaner)

    def _settle(self, doc: Document, result: _Outcome) -> Iterator[Document]:
        if isinstance(result, tuple):
            self.ctx.drop_error(doc, result[1])
        elif isinstance(result, Drop):
            self.ctx.drop(doc, result.reason, **result.details)
        else:
            yield result


def boilerplate_stage(options: BoilerplateStageOptions, ctx: StageContext) -> Any:
    """A per-document function, or with ``learn_lexicon`` (the default) a corpus-level stage."""
    if options.two_pass:
        return CorpusBoilerplate(options, ctx)
    return _Cleaning(options, ctx.stage_id, _cleaner(options, ctx))


def replay_lexicon(
    options: BoilerplateStageOptions, events: list[dict[str, Any]], scratch_dir: str
) -> BoilerplateStageOptions | None:
    """For ``ingest explain --set``: the stage per document, with the lines its lexicon
    removed from this page in the run saved as a lexicon of their own, so they stay
    removed (unless the overrides switch the rule off). None when the run did not
    record the removed lines (``record_lines = false``)."""
    lines: list[str] = []
    for event in events:
        if event.get("action") != "removed_lines":
            continue
        listed = event.get("lines")
        if not isinstance(listed, list):
            return None if event.get("removed") else options
        lines += [
            str(x.get("text", "")) for x in listed if isinstance(x, dict) and x.get("rule") == "lexicon"
        ]
    fd, path = tempfile.mkstemp(prefix="lexicon-", suffix=".jsonl", dir=scratch_dir)
    os.close(fd)
    Lexicon.of_lines(lines, options.lexicon_max_words).save(path)
    return attrs.evolve(options, learn_lexicon=False, lexicon_path=path, save_lexicon="")


@hookimpl
def ingest_stages() -> list[StageSpec]:
    return [
        StageSpec(
            name="boilerplate",
            kind=StageKind.BOILERPLATE,
            factory=boilerplate_stage,
            options=BoilerplateStageOptions,
            summary="Remove page furniture (menus, promos, related stories, bylines) line by line, with the rule for each.",
            per_document=lambda options: not options.two_pass,
            needs_corpus=lambda options: options.two_pass,
            replay=replay_lexicon,
        )
    ]
