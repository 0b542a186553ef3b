"""Guess a text's language from the share of its words that are stop words.

Function words make up a large part of any running text (around 40% in
news prose) and each language has its own, so counting them is a fast and
dependable detector for paragraphs of prose, with no model to download. It
is not meant for a handful of words, for lists or for code: those come out
as undetermined, with the numbers that show why.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs

from ingest_langfilter.profiles import PROFILES

# Runs of letters (any script); digits, apostrophes and punctuation split words,
# so French "l'homme" gives "l" and "homme".
_WORD = re.compile(r"[^\W\d_]+")


@attrs.frozen
class Detection:
    """What :func:`detect` found.

    Attributes:
        language: the best-scoring language code, or ``None`` when no word
            of the text is in any profile.
        score: the share of the text's words that are stop words of
            ``language`` (0 to 1).
        confidence: how far ahead of the runner-up ``language`` is, as
            ``(best - second) / best`` (0: a tie, 1: no other language scored).
        words: how many words the text has.
        runner_up: the second-best language code, if any scored.
    """

    language: str | None
    score: float
    confidence: float
    words: int
    runner_up: str | None = None


def words_of(text: str) -> list[str]:
    """The text's words, lower-cased."""
    return _WORD.findall(text.lower())


def detect(text: str, profiles: Mapping[str, frozenset[str]] = PROFILES) -> Detection:
    """Score ``text`` against every profile and return the best guess."""
    words = words_of(text)
    if not words:
        return Detection(None, 0.0, 0.0, 0)
    hits = {code: sum(1 for w in words if w in stop) for code, stop in profiles.items()}
    # Sort by hits, then code, so ties resolve the same way on every run.
    ranked = sorted(hits.items(), key=lambda item: (-item[1], item[0]))
    (best, best_hits), (second, second_hits) = ranked[0], ranked[1] if len(ranked) > 1 else (None, 0)
    if best_hits == 0:
        return Detection(None, 0.0, 0.0, len(words))
    return Detection(
        language=best,
        score=round(best_hits / len(words), 3),
        confidence=round((best_hits - second_hits) / best_hits, 3),
        words=len(words),
        runner_up=second if second_hits else None,
    )
