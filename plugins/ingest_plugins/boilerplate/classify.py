"""Entry point: :func:`clean` classifies every line of a page as article or furniture."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import NamedTuple

import attrs

from .context import initial_classes, resolve
from .lexicon import Lexicon, LexiconRule
from .lines import (
    BAD,
    GOOD,
    LineFeatures,
    Page,
    build_units,
    compute_features,
    derive_stopwords,
    merge_features,
    page_stop_density,
    proxy_density,
    restat,
)
from .options import BoilerplateOptions
from .rules import ALL_TRIGGERS, LineRule, PerLineRule, pattern_rules, rule_candidates
from .stopwords import stopwords_for
from .structure import DATED_RULES, EndMarkerRule, best_span, teaser_lists

#: furniture that sits inside articles (ads, share bars, credits): looked through by the context
_INLINE_RULES = frozenset({"ui_chrome", "link_phrase", "caption", "promo", "lexicon"})

PATTERN_RULE_NAMES: tuple[str, ...] = tuple(r.name for r in pattern_rules())
#: Every built-in rule name, in the order the rules run.
RULE_NAMES: tuple[str, ...] = (
    "lexicon",
    *PATTERN_RULE_NAMES,
    "end_marker",
    "teaser_list",
    "before_article",
    "after_article",
    "density",
    "blank",
)


class LineVerdict(NamedTuple):
    """The decision for one input line (an immutable named tuple: cheap to build)."""

    #: 0-based index in ``text.split("\n")`` (this field shadows ``tuple.index``)
    index: int  # type: ignore[assignment]
    text: str  #: the line as given
    keep: bool
    rule: str | None  #: name of the rule that removed it (None when kept)
    score: float  #: prose score 0..1 of the line (how article-like it reads)


@attrs.frozen
class LowConfidence:
    """A page whose article span holds only a small share of its prose (the recall floor).

    The span may be the wrong block (a long comment, a listing, one part of a
    multi-part page), so the other prose blocks that no strong signal removed
    were kept as well.
    """

    #: prose words (paragraphs classed as prose, not removed by a line rule) in the article span
    span_words: int
    #: prose words of the whole page, counted the same way
    page_words: int
    #: 0-based indices of the lines the floor kept (outside the span)
    restored: tuple[int, ...]

    @property
    def span_share(self) -> float:
        """Share of the page's prose words inside the article span."""
        return self.span_words / self.page_words if self.page_words else 0.0


#: builds a :class:`LineVerdict` from a 5-tuple without a Python-level ``__new__``
_new_verdict = partial(tuple.__new__, LineVerdict)


def unknown_rule_names(options: BoilerplateOptions, extra_rules: Sequence[LineRule] = ()) -> list[str]:
    """Names in ``options.disabled_rules`` that are neither built-in nor given plugin rules."""
    known = set(RULE_NAMES) | {r.name for r in extra_rules}
    return [n for n in options.disabled_rules if n not in known]


_DENSITY = ("density", 0.0)
#: a numbered list item: "1)", "2.", "3:", "4]" or an ordinal such as "1a", "2º", "3rd" before a word
_ITEM_RE = re.compile(r"^\W{0,2}(\d{1,3})(?:[.):\]]|(?:[a-zºª°]{1,2})(?=\s))")
#: the verdicts of the span choice alone
_OUTSIDE_SPAN = frozenset({"before_article", "after_article"})
#: line rules that may take a list item for a menu or a keyword list: a numbered list overrules them
_LIST_LIKE_RULES = frozenset({"menu_run", "keyword_list"})
#: what the recall floor may take back next to a prose block it keeps
_OUTSIDE_OR_LIST = _OUTSIDE_SPAN | _LIST_LIKE_RULES
_BLANK_RUN_RE = re.compile(r"\n\n\n+")
#: a paragraph cut short: "... […]", "...", "…" at its end
_EXCERPT_RE = re.compile(r"(?:\.\.\.|…|\[(?:…|\.\.\.)\])\W{0,2}$")
#: _EXCERPT_RE matches at most 7 characters ("[...]" and two more), ending at the end or
#: before a final newline: it is looked for in a paragraph's last 8 characters, not by a
#: search through the whole paragraph
_EXCERPT_END = 8
_BUILTIN_PER_LINE = frozenset(type(r) for r in pattern_rules() if hasattr(r, "match"))


class _PerLineGroup:
    """Consecutive per-line rules run as one step: the first rule (in order) that claims
    a line names it.  With only built-in rules each rule is tried on the few lines its
    cheap necessary condition admits (:func:`~.rules.rule_candidates`); otherwise every
    line is offered to the rules in order, skipping rules that cannot claim a line that long."""

    def __init__(self, options: BoilerplateOptions, first: PerLineRule) -> None:
        self.options = options
        self.rules: list[PerLineRule] = []
        self.by_length: dict[int, list[tuple[str, Callable[..., bool]]]] = {}
        self.add(first)

    def add(self, rule: PerLineRule) -> None:
        self.rules.append(rule)
        limits = sorted({r.max_words(self.options) for r in self.rules})
        self.limits = limits
        self.by_length = {
            lim: [(r.name, r.match) for r in self.rules if r.max_words(self.options) >= lim] for lim in limits
        }
        self.names = [r.name for r in self.rules]
        self.ordered = [(r.name, r.match) for r in self.rules]
        self.quick = all(type(r) in _BUILTIN_PER_LINE for r in self.rules) and not any(
            getattr(r, "extra", None) is not None for r in self.rules
        )

    def run(self, page: Page) -> None:
        removed = page.removed
        if self.quick:
            # only built-in rules: rule by rule over the few lines each may claim (a line's
            # claim depends on the line alone, so this equals trying the rules line by line)
            lines = page.nonblank
            if removed:
                lines = [f for f in lines if f.index not in removed]
            if not lines:
                return
            cands = rule_candidates(lines, self.options, self.names)
            for name, match in self.ordered:
                for f in cands[name]:
                    i = f.index
                    if i not in removed and match(f, page):
                        removed[i] = (name, 1.0)
            return
        # plugin-provided per-line rules or extra link phrases: every line, rule by rule in
        # order until one claims it; rules that cannot claim a line that long are skipped
        limits = self.limits
        by_length = self.by_length
        top = limits[-1]
        cached: dict[int, list[tuple[str, Callable[..., bool]]]] = {}
        for f in page.nonblank:
            i = f.index
            if i in removed:
                continue
            nw = f.n_words
            if nw > top:
                continue
            group = cached.get(nw)
            if group is None:
                group = by_length[next(lim for lim in limits if lim >= nw)]
                cached[nw] = group
            for name, match in group:
                if match(f, page):
                    removed[i] = (name, 1.0)
                    break


class Cleaner:
    """Compiled form of the options, reusable across documents (no mutable state)."""

    def __init__(
        self,
        options: BoilerplateOptions | None = None,
        *,
        lexicon: Lexicon | None = None,
        extra_rules: Sequence[LineRule] = (),
    ) -> None:
        self.options = options or BoilerplateOptions()
        o = self.options
        self.disabled = frozenset(o.disabled_rules)
        self.stopwords = stopwords_for(o.language, o.stopwords)
        if lexicon is None and o.lexicon_path:
            # a saved lexicon is judged with the thresholds of the current options
            lexicon = Lexicon.load(o.lexicon_path)
            lexicon.min_documents = o.min_documents
            lexicon.min_fraction = o.min_fraction
        self.lexicon = lexicon
        rules: list[LineRule] = [LexiconRule(), *pattern_rules(o.link_phrases), *extra_rules]
        self.rules = [r for r in rules if r.name not in self.disabled]
        self.end_marker = EndMarkerRule(o.end_markers) if "end_marker" not in self.disabled else None
        # consecutive built-in per-line rules run fused: one pass over the lines
        self.steps: list[LineRule | _PerLineGroup] = []
        for r in self.rules:
            if hasattr(r, "match") and hasattr(r, "max_words"):
                if self.steps and isinstance(self.steps[-1], _PerLineGroup):
                    self.steps[-1].add(r)  # type: ignore[arg-type]
                else:
                    self.steps.append(_PerLineGroup(o, r))  # type: ignore[arg-type]
            else:
                self.steps.append(r)

    def __call__(self, text: str, outlet: str | None = None) -> list[LineVerdict]:
        return self.clean(text, outlet)

    def clean(self, text: str, outlet: str | None = None) -> list[LineVerdict]:
        """Classify every line of ``text``; see :func:`clean`."""
        lines, keep, rules, feats, _ = self._classify(text, outlet)
        # how article-like each line reads, 0..1 (see context.prose_score)
        o = self.options
        high = max(1, o.length_high)
        dens_high = max(1e-9, o.stopwords_high)
        scores = [
            round(
                (1.0 if (a := f.n_chars / high) > 1.0 else a)
                * (1.0 if (b := f.stop_density / dens_high) > 1.0 else b)
                * (1.0 if f.ends_sentence else 0.5),
                3,
            )
            if f.n_words
            else 0.0
            for f in feats
        ]
        return list(map(_new_verdict, zip(range(len(lines)), lines, keep, rules, scores)))

    def decide(self, text: str, outlet: str | None = None) -> tuple[list[str], list[bool], list[str | None]]:
        """What :meth:`clean` decides, without the prose scores: ``(lines, keep, rules)``, one
        entry per line of ``text.split("\n")`` (``rules[i]`` names the rule that removed line
        ``i``, None when kept). The stage uses this: it never reads the scores."""
        lines, keep, rules, _, _ = self._classify(text, outlet)
        return lines, keep, rules

    def decide_with_confidence(
        self, text: str, outlet: str | None = None
    ) -> tuple[list[str], list[bool], list[str | None], LowConfidence | None]:
        """:meth:`decide`, plus a :class:`LowConfidence` record when the recall floor
        found the article span weak (None otherwise)."""
        lines, keep, rules, _, low = self._classify(text, outlet)
        return lines, keep, rules, low

    def _classify(
        self, text: str, outlet: str | None
    ) -> tuple[list[str], list[bool], list[str | None], list[LineFeatures], LowConfidence | None]:
        o = self.options
        lines = text.split("\n")
        feats = compute_features(lines, self.stopwords, None, ALL_TRIGGERS)
        stopwords = self.stopwords
        if o.auto_stopwords and page_stop_density(feats) < o.min_page_stop_density:
            # the page is not in the configured language: use its own function words,
            # or, for unspaced scripts where that fails too, sentence punctuation
            stopwords = derive_stopwords(feats, o.auto_stopwords)
            restat(feats, stopwords)
            if page_stop_density(feats) >= o.min_page_stop_density:
                restat(feats, stopwords, o.reference_stop_density)
            else:
                proxy_density(feats, o.stopwords_high)
        page = Page(feats, o, stopwords, outlet, self.lexicon)
        removed = page.removed
        n = len(feats)

        # 1. line rules (lexicon, patterns, plugins): the first rule to claim a line names it
        for step in self.steps:
            if isinstance(step, _PerLineGroup):
                step.run(page)
                continue
            for item in step(page):
                if isinstance(item, tuple):
                    i, score = int(item[0]), float(item[1])
                else:
                    i, score = int(item), 1.0
                if 0 <= i < n and i not in removed and feats[i].n_chars:
                    removed[i] = (step.name, score)

        # 2. paragraphs, their own classes, then the end-of-article cut
        units = build_units(feats, removed, stopwords, self.end_marker.is_marker if self.end_marker else None)
        page.units = units
        page.unit_features = [
            feats[u[0]] if len(u) == 1 else merge_features([feats[i] for i in u]) for u in units
        ]
        page.initial = initial_classes(page)
        if self.end_marker is not None:
            for i, score in self.end_marker(page):
                if i not in removed and feats[i].n_chars:
                    removed[i] = ("end_marker", score)
            for u, lines_u in enumerate(units):
                if lines_u[0] in removed:
                    page.initial[u] = BAD

        # what the line rules and the end-of-article cut removed (before the structure verdicts)
        rule_removed = dict(removed)

        # 3. neighbourhood resolution and the article span
        thin = o.transparent_max_words
        transparent = [
            thin > 0 and f.n_words <= thin and removed.get(units[u][0], ("",))[0] in _INLINE_RULES
            for u, f in enumerate(page.unit_features)
        ]
        sentence = [f.ends_sentence and f.text[-1:] not in ":;" for f in page.unit_features]
        classes = resolve(
            page.initial, o.neargood_run or 10**9, transparent, o.context_max_distance, sentence
        )
        if "teaser_list" not in self.disabled:
            for u in teaser_lists(page, classes, transparent, o.teaser_min_items):
                classes[u] = BAD
                for i in units[u]:
                    if i not in removed:
                        removed[i] = ("teaser_list", 0.0)
        page.classes = classes
        span = best_span(page, classes)
        nu = len(units)
        use_before = "before_article" not in self.disabled
        use_after = "after_article" not in self.disabled
        use_density = "density" not in self.disabled
        lo = span[0] if (span and use_before) else 0
        hi = span[1] if (span and use_after) else nu - 1
        if span is None and use_before:
            lo = nu  # no prose at all: the fallback below picks a line
        keep = [False] * n
        for u, lines_u in enumerate(units):
            if u < lo:
                verdict: str | None = "before_article"
            elif u > hi:
                verdict = "after_article"
            elif classes[u] == BAD and use_density:
                verdict = "density"
            else:
                verdict = None
            for i in lines_u:
                if i in removed:
                    continue
                if verdict is None:
                    keep[i] = True
                else:
                    removed[i] = (verdict, 0.0)
        low = None
        if span is not None and o.recall_floor > 0 and (use_before or use_after):
            low = self._recall_floor(page, classes, rule_removed, lo, hi, keep)
        if span is not None and o.keep_numbered_lists:
            self._numbered_lists(page, rule_removed, lo, hi, keep)

        # 4. the structure stage (span, density) never empties a page by itself: when
        # nothing is kept, keep the most prose-like unit that no line rule removed.  A
        # page made only of furniture the rules recognise comes out empty.
        if not any(keep):
            best = -1.0
            bu = -1
            for u, f in enumerate(page.unit_features):
                if f.n_words and rule_removed.get(units[u][0]) is None:
                    sc = f.n_words * (0.5 + f.stop_density) * (1.5 if f.ends_sentence else 1.0)
                    if sc > best:
                        best, bu = sc, u
            if bu >= 0:
                for i in units[bu]:
                    keep[i] = True
                    removed.pop(i, None)

        if o.keep_title:
            self._keep_title(page, keep)

        # 5. blank lines survive only between kept lines
        nc = [f.n_chars for f in feats]
        last_kept = False
        pending: list[int] = []
        for i, c in enumerate(nc):
            if not c:
                pending.append(i)
                continue
            k = keep[i]
            if pending:
                if k and last_kept:
                    for j in pending:
                        keep[j] = True
                pending.clear()
            last_kept = k
        get = removed.get
        rules = [
            None if k else (get(i, _DENSITY)[0] if c else "blank") for i, k, c in zip(range(n), keep, nc)
        ]
        return lines, keep, rules, feats, low

    @staticmethod
    def _recall_floor(
        page: Page,
        classes: list[str],
        rule_removed: dict[int, tuple[str, float]],
        lo: int,
        hi: int,
        keep: list[bool],
    ) -> LowConfidence | None:
        """Keep the prose blocks outside the span ``[lo, hi]`` when the span holds less than
        ``recall_floor`` of the page's prose words (see :class:`LowConfidence`).

        Only the span choice is overruled: a line that a line rule, an end marker, the
        lexicon or a teaser list removed stays removed, and so does a block of less than
        ``recall_floor_min_words`` words (a lone teaser, a caption).
        """
        o = page.options
        units = page.units
        feats = page.unit_features
        removed = page.removed
        nu = len(units)
        # prose: a paragraph classed as prose that no line rule removed (teaser-list items are BAD)
        # and that is not cut short with an ellipsis (the excerpt of another post)
        prose = [
            classes[u] == GOOD
            and units[u][0] not in rule_removed
            and not _EXCERPT_RE.search(feats[u].text[-_EXCERPT_END:])
            for u in range(nu)
        ]
        page_words = sum([feats[u].n_words for u in range(nu) if prose[u]])
        span_words = sum([feats[u].n_words for u in range(lo, min(hi, nu - 1) + 1) if prose[u]])
        if not page_words or span_words >= o.recall_floor * page_words:
            return None
        bridge = max(0, o.span_bridge_lines)

        def breaks(u: int) -> bool:
            # a byline/date/comment header or a cut marker opens another item: the block ends
            r = rule_removed.get(units[u][0])
            return r is not None and (r[0] in DATED_RULES or r[0] == "end_marker")

        def outside_span(u: int) -> bool:
            return all([removed.get(i, ("",))[0] in _OUTSIDE_SPAN for i in units[u]])

        def outside_only(u: int) -> bool:
            return all([removed.get(i, ("",))[0] in _OUTSIDE_OR_LIST for i in units[u]])

        def restorable(i: int) -> bool:
            r = rule_removed.get(i)
            return (r is None or r[0] in _LIST_LIKE_RULES) and i in removed and page.features[i].n_chars > 0

        restored: list[int] = []
        for first, last in ((0, lo - 1), (hi + 1, nu - 1)):
            block: list[int] = []  # prose units of the current block, with the gaps inside it
            words = 0
            gap: list[int] = []
            # a comment header ("... says:", "Reply") since the last block: the next block is a
            # reader's comment, not the article
            commented = in_comment = False
            for u in range(first, last + 2):
                if u <= last and prose[u]:
                    if not block:
                        in_comment, commented = commented, False
                    if block and gap:
                        block.extend(gap)
                    gap = []
                    block.append(u)
                    words += feats[u].n_words
                    continue
                if u <= last and block and not breaks(u) and len(gap) < bridge:
                    gap.append(u)
                    continue
                if block and not in_comment and words >= o.recall_floor_min_words:
                    # the lines next to the block that only the span choice (or a menu or
                    # keyword-list rule) removed -- a list, a subheading -- go with it
                    a, b = block[0], block[-1]
                    while a > first and outside_only(a - 1):
                        a -= 1
                    while b < last and outside_only(b + 1):
                        b += 1
                    # ... but menu lines at the edge of what comes back are the page's menus
                    while a < block[0] and not outside_span(a):
                        a += 1
                    while b > block[-1] and not outside_span(b):
                        b -= 1
                    for v in range(a, b + 1):
                        for i in units[v]:
                            if restorable(i):
                                keep[i] = True
                                del removed[i]
                                restored.append(i)
                block, words, gap = [], 0, []
                if u <= last and rule_removed.get(units[u][0], ("",))[0] == "comment_meta":
                    commented = True
        return LowConfidence(span_words, page_words, tuple(sorted(restored)))

    @staticmethod
    def _numbered_lists(
        page: Page, rule_removed: dict[int, tuple[str, float]], lo: int, hi: int, keep: list[bool]
    ) -> None:
        """Keep a numbered list (1, 2, 3 ... in order, at least three items) that adjoins the
        article span ``[lo, hi]``: the items of a listing or a schedule are short lines that the
        span leaves out, but related-story lists are rarely numbered from one."""
        units = page.units
        feats = page.features
        removed = page.removed
        nu = len(units)
        for step, start in ((1, hi + 1), (-1, lo - 1)):
            items: list[int] = []  # units of the list, items and the lines between them
            count = 0
            expected = -1
            extra = 0
            last_item = -1
            u = start
            while 0 <= u < nu:
                i = units[u][0]
                r = rule_removed.get(i)
                if r is not None and r[0] not in _LIST_LIKE_RULES:
                    break
                m = _ITEM_RE.match(feats[i].text.lstrip())
                n = int(m.group(1)) if m else -1
                if m and (expected < 0 or n in (expected, expected + step)):
                    count += 1
                    expected = n + step
                    items.append(u)
                    last_item = u
                    extra = 0
                elif count and extra < 2:
                    extra += 1  # a line that belongs to an item (a link, a price, a note)
                    items.append(u)
                elif not count and extra < 1:
                    extra += 1  # a short lead line between the span and the list
                    items.append(u)
                else:
                    break
                u += step
            # a list starts at one (or two): read upwards, it ends there
            lowest = expected - count if step == 1 else expected - step
            if count < 3 or lowest > 2:
                continue
            # at most one line past the last item belongs to it (a link, a price)
            while len(items) > 1 and items[-2] != last_item and items[-1] != last_item:
                items.pop()
            for v in items:
                for i in units[v]:
                    r = rule_removed.get(i)
                    if (r is None or r[0] in _LIST_LIKE_RULES) and feats[i].n_chars and not keep[i]:
                        keep[i] = True
                        removed.pop(i, None)

    @staticmethod
    def _keep_title(page: Page, keep: list[bool]) -> None:
        """Keep a short title-like line directly above the first kept line."""
        first = next((i for i, k in enumerate(keep) if k), None)
        if first is None:
            return
        for j in range(first - 1, -1, -1):
            f = page.features[j]
            if not f.n_chars:
                continue
            if 3 <= f.n_words <= 20 and not f.ends_sentence and f.n_chars < page.options.length_low + 30:
                rule = page.removed.get(j, ("", 0.0))[0]
                if rule in ("before_article", "density", "menu_run"):
                    keep[j] = True
                    page.removed.pop(j, None)
            return


def clean(
    text: str,
    options: BoilerplateOptions | None = None,
    *,
    lexicon: Lexicon | None = None,
    extra_rules: Sequence[LineRule] = (),
    outlet: str | None = None,
) -> list[LineVerdict]:
    """Classify each line of ``text`` (split on ``"\\n"``) as article (keep) or furniture.

    Returns one :class:`LineVerdict` per input line, in order.  ``lexicon`` (or
    ``options.lexicon_path``) enables the ``lexicon`` rule; ``outlet`` selects
    the outlet's own counts in it.  ``extra_rules`` are plugin
    :class:`LineRule` objects, run after the built-in pattern rules.  Rules named
    in ``options.disabled_rules`` are skipped (see :func:`unknown_rule_names`).
    For many documents build a :class:`Cleaner` once and call it (``clean``
    builds one per call, and reads ``options.lexicon_path`` each time).
    """
    return Cleaner(options, lexicon=lexicon, extra_rules=extra_rules).clean(text, outlet)


def kept_text(verdicts: Iterable[LineVerdict]) -> str:
    """Join the kept lines with ``"\\n"``; runs of blank lines become one, none at the ends."""
    return join_kept([v.text for v in verdicts if v.keep])


def join_kept(kept_lines: Iterable[str]) -> str:
    """:func:`kept_text` of the kept lines themselves."""
    # a blank kept line is "" once right-stripped: runs of them are runs of newlines
    joined = "\n".join([line.rstrip() for line in kept_lines])
    return _BLANK_RUN_RE.sub("\n\n", joined).strip("\n")
