"""``language_filter``: an ``ingest`` stage that keeps documents written in
the languages you allow and drops the rest, saying what it detected.

Installed, the package registers itself through the ``ingest.plugins`` entry
point; use it with::

    [[pipeline]]
    stage = "language_filter"
    languages = ["en", "de"]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from ingest import Document, Drop, StageContext, StageKind, StageSpec, hookimpl
from ingest_langfilter.detect import Detection, detect
from ingest_langfilter.profiles import NAMES, PROFILES

__all__ = ["Detection", "LanguageFilterOptions", "detect", "ingest_stages", "language_filter"]
__version__ = "0.1.0"


def _known_languages(_instance: Any, attribute: attrs.Attribute, value: list[str]) -> None:
    # The message names the option; ingest adds the file and the table.
    if not value:
        raise ValueError(f"{attribute.name}: give at least one language")
    unknown = [code for code in value if code not in PROFILES]
    if unknown:
        known = ", ".join(f"{code} ({NAMES[code]})" for code in sorted(PROFILES))
        raise ValueError(f"{attribute.name}: unknown language {unknown[0]!r}; known: {known}")


def _share(_instance: Any, attribute: attrs.Attribute, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name}: must be between 0 and 1, got {value}")


@attrs.define
class LanguageFilterOptions:
    """The options of ``language_filter`` (``ingest plugins`` lists them)."""

    languages: list[str] = attrs.field(
        factory=lambda: ["en"],
        validator=_known_languages,
        metadata={"help": "language codes to keep: " + ", ".join(sorted(PROFILES))},
    )
    min_confidence: float = attrs.field(
        default=0.3,
        validator=_share,
        metadata={"help": "how far ahead of the runner-up the best language must be (0-1)"},
    )
    min_score: float = attrs.field(
        default=0.15,
        validator=_share,
        metadata={"help": "share of words that must be stop words of the best language"},
    )
    min_words: int = attrs.field(
        default=20,
        validator=attrs.validators.ge(1),
        metadata={"help": "documents with fewer words are undetermined"},
    )
    keep_undetermined: bool = attrs.field(
        default=False,
        metadata={"help": "keep documents whose language cannot be determined"},
    )
    metadata_key: str = attrs.field(
        default="language",
        metadata={"help": 'metadata key for the detected language of kept documents ("" for none)'},
    )


def _undetermined_because(found: Detection, options: LanguageFilterOptions) -> str | None:
    """Why no language can be trusted for this text, or None if one can."""
    if found.words < options.min_words:
        return "too_few_words"
    if found.language is None or found.score < options.min_score:
        return "too_few_stop_words"
    if found.confidence < options.min_confidence:
        return "ambiguous"
    return None


def language_filter(
    options: LanguageFilterOptions, ctx: StageContext
) -> Callable[[Document], Document | Drop]:
    """Build the per-document function of the stage."""
    allowed = set(options.languages)

    def process(doc: Document) -> Document | Drop:
        found = detect(doc.text)
        numbers = {"score": found.score, "confidence": found.confidence, "words": found.words}
        why = _undetermined_because(found, options)
        if why is not None:
            if not options.keep_undetermined:
                return Drop(
                    "language_undetermined", details={"why": why, "best_guess": found.language, **numbers}
                )
            return doc.with_event(ctx.stage_id, "language_undetermined", why=why, **numbers)
        if found.language not in allowed:
            return Drop(
                "language_not_allowed",
                details={"language": found.language, "allowed": sorted(allowed), **numbers},
            )
        kept = doc.with_event(ctx.stage_id, "detected_language", language=found.language, **numbers)
        if options.metadata_key:
            kept = attrs.evolve(kept, metadata={**kept.metadata, options.metadata_key: found.language})
        return kept

    return process


@hookimpl
def ingest_stages() -> list[StageSpec]:
    return [
        StageSpec(
            "language_filter",
            StageKind.FILTER,
            language_filter,
            LanguageFilterOptions,
            "Keep documents in the allowed languages (stop-word profiles; no model needed).",
            per_document=True,
        )
    ]
