"""The ``boilerplate`` stage: page furniture out, article text in.

Wraps :class:`ingest_plugins.boilerplate.Cleaner`. Every removed line is
recorded in the document's history (action ``removed_lines``) with its
1-based line number in the text the stage received and the rule that
removed it, so ``ingest explain DOC_ID`` can show it. Blank lines removed
between furniture are counted, not listed.

Two ways to use recurring-line learning (the ``lexicon`` rule):

* ``learn_lexicon = true``: a two-pass run. The stage first reads the whole
  corpus (spooled to disk), learns the lines that recur across documents
  (above all within one outlet), optionally writes them to ``save_lexicon``
  for review, then cleans every document with them.
* ``lexicon_path = "lexicon.jsonl"``: use a lexicon saved by an earlier run;
  the stage stays per-document (and runs in worker processes).

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

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from ingest import Document, Drop, StageContext, StageKind, StageSpec, hookimpl, path_field
from ingest.contract.errors import error_text
from ingest_plugins.boilerplate.classify import RULE_NAMES, Cleaner, LowConfidence, join_kept
from ingest_plugins.boilerplate.lexicon import Lexicon
from ingest_plugins.boilerplate.options import BoilerplateOptions
from ingest_plugins.boilerplate.titles import find_headline, review, title_is_settled


@attrs.define
class BoilerplateStageOptions(BoilerplateOptions):
    """The options of :class:`BoilerplateOptions`, plus how the stage runs."""

    lexicon_path: str = path_field(
        metadata={"help": "a lexicon saved by an earlier run (save_lexicon) to apply"}
    )
    learn_lexicon: bool = attrs.field(
        default=False, metadata={"help": "first pass over the corpus to learn recurring lines (two-pass run)"}
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

    def __attrs_post_init__(self) -> None:
        if self.save_lexicon and not self.learn_lexicon:
            raise ValueError("save_lexicon: needs learn_lexicon = true (it saves what the first pass learns)")
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
    """Cleans one document with a :class:`Cleaner`; shared by both modes."""

    def __init__(self, options: BoilerplateStageOptions, ctx: StageContext, cleaner: Cleaner) -> None:
        self.options = options
        self.ctx = ctx
        self.cleaner = cleaner

    def __call__(self, doc: Document) -> Document | Drop:
        outlet = doc.metadata.get("outlet")
        lines, keep, rules, low = self.cleaner.decide_with_confidence(
            doc.text, outlet=outlet if isinstance(outlet, str) else None
        )
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
        cleaned = doc.with_event(self.ctx.stage_id, "removed_lines", **details)
        cleaned.text = text  # a copy of its own: the input document is left as it was
        if low is not None:
            cleaned = self._low_confidence(cleaned, low)
        if self.options.titles:
            cleaned = self._titles(doc, cleaned, lines, keep, rules)
        return cleaned

    def _low_confidence(self, doc: Document, low: LowConfidence) -> Document:
        """``doc`` with the recall floor's record (action ``low_confidence``): the article span
        held only ``span_share`` of the page's prose, and the listed lines (1-based, of the text
        the stage received) were kept outside it."""
        return doc.with_event(
            self.ctx.stage_id,
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
        reviewed = cleaned.with_event(self.ctx.stage_id, "metadata", lines=change.entries)
        metadata = {k: v for k, v in doc.metadata.items() if k not in change.remove}
        metadata.update(change.set)
        reviewed.metadata = metadata  # a new dict: the input document's is left as it was
        return reviewed


def _cleaner(options: BoilerplateStageOptions, ctx: StageContext, lexicon: Lexicon | None = None) -> Cleaner:
    rules = _plugin_rules(ctx)
    _check_rule_names(options, rules)
    return Cleaner(options, lexicon=lexicon, extra_rules=rules)


class CorpusBoilerplate:
    """Two-pass mode: learn the corpus lexicon, then clean every document."""

    def __init__(self, options: BoilerplateStageOptions, ctx: StageContext) -> None:
        self.options = options
        self.ctx = ctx
        _check_rule_names(options, _plugin_rules(ctx))
        self.clean: _Cleaning | None = None

    def fit(self, corpus: Iterable[Document]) -> None:
        lexicon = Lexicon.from_options(self.options)
        for doc in corpus:
            outlet = doc.metadata.get("outlet")
            lexicon.add_document(doc.text, outlet=outlet if isinstance(outlet, str) else None)
        lexicon.finalize()
        if self.options.save_lexicon:
            lexicon.save(self.options.save_lexicon)
        self.clean = _Cleaning(self.options, self.ctx, _cleaner(self.options, self.ctx, lexicon))

    def __call__(self, docs: Iterable[Document]) -> Iterator[Document]:
        assert self.clean is not None, "fit() runs first"
        for doc in docs:
            try:
                result = self.clean(doc)
            except Exception as exc:  # noqa: BLE001 - recorded, and the run goes on
                self.ctx.drop_error(doc, error_text(exc))
                continue
            if isinstance(result, Drop):
                self.ctx.drop(doc, result.reason, **result.details)
            else:
                yield result


def boilerplate_stage(options: BoilerplateStageOptions, ctx: StageContext) -> Any:
    """A per-document function, or with ``learn_lexicon`` a corpus-level stage."""
    if options.learn_lexicon:
        return CorpusBoilerplate(options, ctx)
    return _Cleaning(options, ctx, _cleaner(options, ctx))


@hookimpl
def ingest_stages() -> list[StageSpec]:
    return [
        StageSpec(
            name="boilerplate",
            kind=StageKind.BOILERPLATE,
            factory=boilerplate_stage,
            options=BoilerplateStageOptions,
            summary="Remove page furniture (menus, promos, related stories, bylines) line by line, with the rule for each.",
            per_document=lambda options: not options.learn_lexicon,
            needs_corpus=lambda options: options.learn_lexicon,
        )
    ]
