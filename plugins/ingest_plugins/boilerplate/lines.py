"""Per-line features and the :class:`Page` that rules work on."""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING

import attrs

from ..native import native_module

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from .lexicon import Lexicon
    from .options import BoilerplateOptions

WORD_RE = re.compile(r"\w+")
_ASCII_WORD_RE = re.compile(r"[A-Za-z0-9_]+")
CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_CLOSERS = "\"'”’»)]」』）"
_ENDERS = frozenset(".!?…:;。！？")
_ALPHA_START_RE = re.compile(r"\b[^\W\d_]")
_CAP_START_RE = re.compile(r"\b[A-Z\u00c0-\u00de\u0391-\u03a9\u0400-\u042f]")
_NORM_DROP_RE = re.compile(r"[\W_]+")
_DIGIT_RE = re.compile(r"\d")

GOOD, NEARGOOD, SHORT, BAD = "good", "neargood", "short", "bad"


def tokens(lowered: str) -> list[str]:
    """The ``\\w+`` tokens of a lower-cased line."""
    # on ASCII lines ``\w`` is exactly ``[A-Za-z0-9_]``, which the regex engine scans faster
    return _ASCII_WORD_RE.findall(lowered) if lowered.isascii() else WORD_RE.findall(lowered)


#: ``normalise`` of an ASCII line in one C-level pass: digits to "0", letters kept (the
#: line is lower-cased first), every other character to a space (runs collapse in split)
_ASCII_NORMALISE = str.maketrans(
    {chr(c): "0" if chr(c).isdigit() else (chr(c) if chr(c).isalnum() else " ") for c in range(128)}
)


def normalise(line: str) -> str:
    """Key of a line for the lexicon: lower case, digits as 0, punctuation as spaces."""
    lowered = line.lower()
    if lowered.isascii():
        return " ".join(lowered.translate(_ASCII_NORMALISE).split())
    return _NORM_DROP_RE.sub(" ", _DIGIT_RE.sub("0", lowered)).strip()


@attrs.define(slots=True)
class LineFeatures:
    """Cheap text features of one input line (computed once per line)."""

    index: int
    raw: str
    text: str  # stripped
    _words: list[str] | None  # lower-case \w+ tokens (None: made on first use, see ``words``)
    n_chars: int
    n_words: int
    n_stop: int
    stop_density: float
    ends_sentence: bool
    n_sentences: int  # sentence boundaries inside + final one
    _caps: float = -1.0  # computed on first use
    _date: int = -2  # words left once dates are taken out: -2 not computed yet, -1 no date
    _hits: frozenset[str] | set[str] | None = None  # trigger words of the line rules (cached)
    _first: str | None = None  # first word, "" when none (None: taken from ``words``)
    _last: str | None = None  # last word, likewise

    @property
    def words(self) -> list[str]:
        """The lower-case ``\\w+`` tokens of the line (made on first use: the rules
        need them on a few short lines, the counts come with the features)."""
        if self._words is None:
            self._words = tokens(self.raw.lower())
        return self._words

    @property
    def first_word(self) -> str:
        """The first of :attr:`words`, "" when there are none."""
        if self._first is None:
            self._word_ends()
        return self._first  # type: ignore[return-value]

    @property
    def last_word(self) -> str:
        """The last of :attr:`words`, "" when there are none."""
        if self._last is None:
            self._word_ends()
        return self._last  # type: ignore[return-value]

    def _word_ends(self) -> None:
        words = self.words
        self._first, self._last = (words[0], words[-1]) if words else ("", "")

    @property
    def blank(self) -> bool:
        return self.n_chars == 0

    @property
    def cap_ratio(self) -> float:
        """Share of the alphabetic words that start with a capital letter."""
        if self._caps < 0:
            alpha = len(_ALPHA_START_RE.findall(self.text))
            self._caps = len(_CAP_START_RE.findall(self.text)) / alpha if alpha else 0.0
        return self._caps


def compute_features(
    lines: list[str],
    stopwords: frozenset[str],
    lowered: list[str] | None = None,
    triggers: frozenset[str] | None = None,
) -> list[LineFeatures]:
    """Compute :class:`LineFeatures` for every line.

    ``lowered`` may hold the lines in lower case (``text.lower().split("\n")``);
    ``triggers``, the rules' trigger words, fills each line's ``_hits`` cache.
    Without a stop-word list (unknown language) the density is replaced by a
    neutral proxy: 0.5 for lines that read like sentences, else 0.

    The compiled ``_features.features`` does it all in one pass, lower-casing
    the lines and making the objects itself; :func:`features_python` is its
    twin (and runs when ``_columns`` is :func:`columns_python`, or for lines
    that are instances of a ``str`` subclass).
    """
    if _features is not None and _columns is not columns_python:
        made = _features(LineFeatures, lines, stopwords or None, triggers)
        if made is not None:
            return made  # type: ignore[no-any-return]
    return features_python(lines, stopwords, lowered, triggers)


def features_python(
    lines: list[str],
    stopwords: frozenset[str],
    lowered: list[str] | None = None,
    triggers: frozenset[str] | None = None,
) -> list[LineFeatures]:
    """:func:`compute_features` in Python: the features are computed column by column
    (one C-level ``map`` or a tight comprehension per feature, see ``_columns``) and
    only then wrapped in objects."""
    if lowered is None or len(lowered) != len(lines):
        # a line's lower case is its part of the page's (no character lower-cases across "\n")
        lowered = [line.lower() for line in lines]
    texts, firsts, lasts, nc, nw, nstop, ends, nsent, hits = _columns(
        lines, lowered, stopwords or None, triggers
    )
    # ideographic full stops and unspaced scripts: only pages that have them pay
    page = "\n".join(texts) if len(texts) > 1 else (texts[0] if texts else "")
    if not page.isascii():
        if "。" in page:
            for i, text in enumerate(texts):
                if "。" in text:
                    nsent[i] += text.count("。")
        if CJK_RE.search(page) is not None:
            for i, text in enumerate(texts):
                cjk = len(CJK_RE.findall(text))
                if cjk:
                    # unspaced scripts: about two characters a word, and a character weighs two
                    nw[i] += cjk // 2
                    nc[i] += cjk
    if stopwords:
        dens = [s / n if n else 0.0 for s, n in zip(nstop, nw)]
    else:
        dens = [0.5 if (s and n >= 6) else 0.0 for s, n in zip(nsent, nw)]
    return list(
        map(
            LineFeatures,
            range(len(lines)),
            lines,
            texts,
            _WORDS_LATER,
            nc,
            nw,
            nstop,
            dens,
            ends,
            nsent,
            _NO_CAPS,
            _NO_DATE,
            hits,
            firsts,
            lasts,
        )
    )


Columns = tuple[
    list[str],
    list[str],
    list[str],
    list[int],
    list[int],
    list[int],
    list[bool],
    list[int],
    "list[frozenset[str] | None]",
]
_NO_HITS: frozenset[str] = frozenset()


def columns_python(
    lines: list[str],
    lowered: list[str],
    stopwords: frozenset[str] | None,
    triggers: frozenset[str] | None = None,
) -> Columns:
    """Per-line feature columns ``(texts, firsts, lasts, nc, nw, nstop, ends, nsent, hits)`` of a page.

    The reference for the native ``_features.columns`` (same values, computed
    column by column with C-level maps and regex calls); ``firsts``/``lasts``
    are each line's first and last word ("" when it has none), ``nw`` its
    number of words; ``stopwords`` None counts no stop words; ``hits`` are the
    words of each line in ``triggers`` (None for every line without ``triggers``).
    """
    texts = list(map(str.strip, lines))
    words = list(map(tokens, lowered))
    nw = list(map(len, words))
    nc = list(map(len, texts))
    enders = _ENDERS
    closers = _CLOSERS
    ends = [
        t[-1:] in enders or (t[-1:] in closers and t.rstrip(closers)[-1:] in enders) if t else False
        for t in texts
    ]
    nsent = [
        (
            t.count(". ") + (t.count("? ") if "? " in t else 0) + (t.count("! ") if "! " in t else 0)
            if " " in t
            else 0
        )
        + e
        for t, e in zip(texts, ends)
    ]
    if stopwords:
        is_stop = stopwords.__contains__
        nstop = [sum(map(is_stop, w)) if w else 0 for w in words]
    else:
        nstop = [0] * len(lines)
    if triggers is None:
        hits: list[frozenset[str] | None] = [None] * len(lines)
    else:
        inter, disjoint = triggers.intersection, triggers.isdisjoint
        hits = [_NO_HITS if disjoint(w) else inter(w) for w in words]
    firsts = [w[0] if w else "" for w in words]
    lasts = [w[-1] if w else "" for w in words]
    return texts, firsts, lasts, nc, nw, nstop, ends, nsent, hits


_native = native_module("ingest_plugins.boilerplate._features")
# LineFeatures' "not computed yet"
_NO_CAPS, _NO_DATE, _WORDS_LATER = itertools.repeat(-1.0), itertools.repeat(-2), itertools.repeat(None)
_columns = _native.columns if _native is not None else columns_python
_features = _native.features if _native is not None else None
#: True when the per-line features are computed by the compiled extension
NATIVE = _columns is not columns_python


@attrs.define
class Page:
    """One document as the rules see it.

    ``features[i]`` describes input line ``i``.  ``removed`` maps a line index to
    ``(rule name, score)`` for lines already removed by an earlier rule; rules
    may read it (e.g. to treat removed lines as furniture) but only the
    classifier writes it.  The structure stages work on ``units`` (paragraphs:
    wrapped lines joined); ``initial``/``classes`` hold each unit's class
    (``good``/``neargood``/``short``/``bad``) and are filled after the line
    rules have run.
    """

    features: list[LineFeatures]
    options: BoilerplateOptions
    stopwords: frozenset[str]
    outlet: str | None = None
    lexicon: Lexicon | None = None
    removed: dict[int, tuple[str, float]] = attrs.Factory(dict)
    #: scratch space shared by rules for per-line results (e.g. parsed dates)
    cache: dict[object, object] = attrs.Factory(dict)
    #: paragraphs: lists of line indices (hard-wrapped lines joined), blank lines left out
    units: list[list[int]] = attrs.Factory(list)
    #: features of each unit (the line's own for one-line units)
    unit_features: list[LineFeatures] = attrs.Factory(list)
    #: per unit: own-feature class, then context-resolved class
    initial: list[str] = attrs.Factory(list)
    classes: list[str] = attrs.Factory(list)

    @property
    def nonblank(self) -> list[LineFeatures]:
        """Features of the lines that have words (cached)."""
        nb = self.cache.get("nonblank")
        if nb is None:
            nb = [f for f in self.features if f.n_words]
            self.cache["nonblank"] = nb
        return nb  # type: ignore[return-value]

    @property
    def lines(self) -> list[str]:
        return [f.raw for f in self.features]

    def __len__(self) -> int:
        return len(self.features)


def page_stop_density(features: list[LineFeatures], min_words: int = 8) -> float:
    """Stop-word density over the longer lines of a page (a language check)."""
    words = stops = 0
    for f in features:
        if f.n_words >= min_words:
            words += f.n_words
            stops += f.n_stop
    return stops / words if words else 1.0


def derive_stopwords(features: list[LineFeatures], top: int, min_words: int = 8) -> frozenset[str]:
    """The page's own most frequent short words: function words in any language.

    Used when the configured language's list does not fit the page (another
    language, or no list at all).
    """
    counts: dict[str, int] = {}
    for f in features:
        if f.n_words >= min_words:
            for w in f.words:
                if len(w) <= 5 and not w.isdigit():
                    counts[w] = counts.get(w, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:top]
    return frozenset(w for w, n in ranked if n >= 2)


def restat(features: list[LineFeatures], stopwords: frozenset[str], target: float = 0.0) -> None:
    """Recount stop words of every line with another list.

    With ``target`` > 0 the densities are rescaled so that the page density
    equals ``target``: a page-derived list covers fewer tokens than a curated
    one, and inflected languages use fewer function words.
    """
    for f in features:
        if f.n_words:
            f.n_stop = sum(map(stopwords.__contains__, f.words))
            f.stop_density = f.n_stop / f.n_words
    if target > 0:
        dens = page_stop_density(features)
        if 0 < dens < target:
            k = target / dens
            for f in features:
                f.stop_density = min(1.0, f.stop_density * k)


def proxy_density(features: list[LineFeatures], value: float) -> None:
    """Language-neutral stand-in for stop-word density: sentence-like lines get ``value``."""
    for f in features:
        if f.n_words:
            f.n_stop = 0
            f.stop_density = value if (f.n_sentences and f.n_words >= 6) else 0.0


def merge_features(parts: list[LineFeatures]) -> LineFeatures:
    """Features of a paragraph made of several wrapped lines."""
    if len(parts) == 1:
        return parts[0]
    # the words of the joined lines are theirs in order ("\n" is no word character):
    # made from the joined text on first use, like a line's
    firsts = [p.first_word for p in parts if p.first_word]
    lasts = [p.last_word for p in parts if p.last_word]
    n = sum(p.n_words for p in parts)
    n_stop = sum(p.n_stop for p in parts)
    last = parts[-1]
    dens = (sum(p.stop_density * p.n_words for p in parts) / n) if n else 0.0
    return LineFeatures(
        parts[0].index,
        "\n".join(p.raw for p in parts),
        " ".join(p.text for p in parts),
        None,
        sum(p.n_chars for p in parts) + len(parts) - 1,
        n,
        n_stop,
        dens,
        last.ends_sentence,
        sum(p.n_sentences for p in parts),
        first=firsts[0] if firsts else "",
        last=lasts[-1] if lasts else "",
    )


_CONT_END = (",", "-", "–", "—", "(", "/", "&")


def build_units(
    features: list[LineFeatures],
    removed: dict[int, tuple[str, float]],
    stopwords: frozenset[str],
    stands_alone: Callable[[str], bool] | None = None,
) -> list[list[int]]:
    """Group non-blank lines into paragraphs: hard-wrapped lines join their continuation.

    A line joins the next non-blank line when it does not end a sentence and the
    next one continues it: it starts in lower case, or this line ends with a
    comma/dash/function word.  (Joining on length alone would glue lists of
    headlines into one paragraph.)  A line for which ``stands_alone(text)`` is true
    (an end-of-article marker such as "You may also like") joins nothing.
    """
    units: list[list[int]] = []
    prev: LineFeatures | None = None
    for f in features:
        if not f.n_chars:
            continue
        join = False
        if (
            prev is not None
            and f.index not in removed
            and prev.index not in removed
            and not prev.ends_sentence
            and prev.n_words >= 2
            and f.n_words >= 1
        ):
            first = f.text[0]
            if (
                first.islower()
                or prev.text.endswith(_CONT_END)
                or (prev.last_word in stopwords and prev.n_words >= 4)
            ):
                join = True
            if join and stands_alone is not None and stands_alone(prev.text):
                join = False
        if join:
            units[-1].append(f.index)
        else:
            units.append([f.index])
        prev = f
    return units
