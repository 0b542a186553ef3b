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
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from ingest import Document, Drop, StageContext, StageKind, StageSpec, hookimpl, path_field
from ingest.contract.errors import error_text
from ingest_plugins.boilerplate.classify import RULE_NAMES, Cleaner, join_kept
from ingest_plugins.boilerplate.lexicon import Lexicon
from ingest_plugins.boilerplate.options import BoilerplateOptions


@attrs.define
class BoilerplateStageOptions(BoilerplateOptions):
    """The options of :class:`BoilerplateOptions`, plus how the stage runs."""

    lexicon_path: str = path_field(metadata={"help": "a lexicon saved by an earlier run (save_lexicon) to apply"})
    learn_lexicon: bool = attrs.field(
        default=False, metadata={"help": "first pass over the corpus to learn recurring lines (two-pass run)"}
    )
    save_lexicon: str = path_field(metadata={"help": "with learn_lexicon: write the learned lexicon here (JSON lines)"})
    drop_empty: bool = attrs.field(
        default=True, metadata={"help": "drop a document with no article text left (reason no_content)"}
    )
    record_lines: bool = attrs.field(
        default=True, metadata={"help": "record every removed line with its rule in the document history"}
    )

    def __attrs_post_init__(self) -> None:
        if self.save_lexicon and not self.learn_lexicon:
            raise ValueError("save_lexicon: needs learn_lexicon = true (it saves what the first pass learns)")


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
        lines, keep, rules = self.cleaner.decide(doc.text, outlet=outlet if isinstance(outlet, str) else None)
        if all(keep):
            return doc
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
        return cleaned


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
