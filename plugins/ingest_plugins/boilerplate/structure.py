"""Page-structure cuts: where the article ends, where it starts, other articles.

* ``end_marker``: a line such as "Related Articles", "Comments", "More from
  ...", "You may also like" after the article start, *followed by furniture or
  by other articles* (isolated teaser paragraphs between byline/date/title
  lines, or little prose), cuts the page from there to the end.  A marker
  followed by continuous prose is ignored, so a word inside an article never
  empties a document.
* ``before_article`` / ``after_article``: the article is the span of lines with
  the highest sum of prose words minus a penalty per furniture line (the
  "body text extraction" idea on lines).  Prose islands separated from it by
  more furniture than they weigh -- teasers, other stories, comments -- fall
  outside and are removed.  One or two short non-prose lines between prose
  paragraphs (a ticker, a share bar) cost nothing: only a longer run of
  furniture, a byline/date line or a cut end marker separates prose.
* ``teaser_list``: a run of isolated paragraphs, each behind two or more
  headline/byline/date lines, closing the page's prose, is a list of other
  stories even without a marker.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..native import native_module
from .lines import GOOD, NEARGOOD, LineFeatures, Page
from .rules import ci_match

_TRAIL = r"[\s:.\-–—|»›>()\[\]0-9]*"
END_MARKER_RE = re.compile(
    r"^\W{0,3}(?:"
    r"related(?:\s+(?:articles?|stories|story|posts?|news|content|coverage|links?|reading|topics|videos?|items|coverage))?"
    r"|more\s+(?:from|on|in|about|stories|news|articles|headlines|to\s+(?:read|explore)|like\s+this|for\s+you)\b.{0,40}"
    r"|more(?:\s+[\w.'’&-]+){1,3}|elsewhere\s+(?:on|in|at)\b.{0,40}"
    r"|(?:you|we\s+think\s+you)\s+(?:may|might|will|could|should)\s+(?:also\s+)?(?:like|enjoy|love|be\s+interested(?:\s+in)?|have\s+missed)"
    r"|recommended(?:\s+(?:for\s+you|stories|articles|reading|videos?|content))?|suggested\s+(?:for\s+you|stories|articles|reading)"
    r"|(?:read|watch|up)\s+next|what\s+to\s+read\s+next|further\s+reading|keep\s+reading|next\s+(?:story|article|up)"
    r"|(?:most|top)\s+(?:popular|read|viewed|shared|commented|stories|news|headlines)\b.{0,25}"
    r"|trending(?:\s+(?:now|stories|news|articles|topics|on\s+.{1,30}))?|popular(?:\s+(?:now|posts|stories|articles|on\s+.{1,30}))?"
    r"|(?:recent|latest)\s+(?:news|posts|stories|articles|headlines|updates|videos?)"
    r"|comments?|(?:no\s+)?comments?\s+(?:yet|so\s+far)\W*|(?:leave|post|add|write|submit)\s+(?:a|your)\s+(?:comment|reply|response)"
    r"|join\s+the\s+(?:conversation|discussion)|(?:show|view|load|read|see)\s+(?:all\s+)?comments|discussion|conversation|responses?"
    r"|\d+\s+(?:comments?|responses?|replies|thoughts|reactions)\b.{0,80}|comments?\s+(?:feed|policy|section|are\s+closed)\b.{0,40}"
    r"|about\s+the\s+authors?|(?:share|print|email)\s+this\s+(?:article|story|post|page)|share\s+this"
    r"|sponsored(?:\s+(?:content|stories|links))?|promoted(?:\s+(?:content|stories|links))?|paid\s+(?:content|post)"
    r"|(?:from\s+)?(?:around|across)\s+the\s+web|editor'?s?\s+(?:picks?|choice)|top\s+stories"
    r"|also\s+on\s+.{1,40}|see\s+also|in\s+other\s+news|other\s+(?:stories|news|articles)|similar\s+(?:articles|stories|posts)"
    r"|(?:hash)?tags?|topics|filed\s+under|categories|more\s+stories|more\s+news|newsletter|sign\s+up\s+for\b.{0,40}|subscribe\b.{0,40}"
    # a few other languages (es, pt, fr, de, it, nl); more via the ``end_markers`` option
    r"|art[ií]culos\s+relacionados|artigos\s+relacionados|not[ií]cias\s+relacionadas|noticias\s+relacionadas"
    r"|(?:veja|leia|lee|lea)\s+tamb[eé]m|lee\s+tambi[eé]n|comentários|comentarios|deixe\s+(?:uma|um|seu)\s+\w+"
    r"|deja\s+(?:una|un|tu)\s+\w+|mais\s+lidas|m[aá]s\s+le[ií]das|articles\s+(?:similaires|li[eé]s|connexes)"
    r"|commentaires|laisser\s+un\s+commentaire|[àa]\s+lire\s+aussi|lire\s+aussi|ähnliche\s+artikel|kommentare"
    r"|mehr\s+zum\s+thema|das\s+könnte\s+sie\s+auch\s+interessieren|leggi\s+anche|articoli\s+correlati|commenti"
    r"|gerelateerde\s+artikelen|reacties|lees\s+ook"
    r"|you\s+might\s+also\s+like|related\s+coverage|explore\s+more"
    r")" + _TRAIL + r"$",
    re.IGNORECASE,
)

_end_marker_match = ci_match(END_MARKER_RE)

#: the words END_MARKER_RE's alternatives open with, as the first ``\w+`` token of a lower-cased ASCII
#: line gives them (digits of the trail may be glued on, and are stripped off): an ASCII line that
#: opens with another word is no marker ("" stands for a count: "12 comments")
_MARKER_OPENERS = frozenset(
    {
        "related",
        "more",
        "elsewhere",
        "you",
        "we",
        "recommended",
        "suggested",
        "read",
        "watch",
        "up",
        "what",
        "further",
        "keep",
        "next",
        "most",
        "top",
        "trending",
        "popular",
        "recent",
        "latest",
        "comment",
        "comments",
        "no",
        "leave",
        "post",
        "add",
        "write",
        "submit",
        "join",
        "show",
        "view",
        "load",
        "see",
        "discussion",
        "conversation",
        "response",
        "responses",
        "about",
        "share",
        "print",
        "email",
        "sponsored",
        "promoted",
        "paid",
        "from",
        "around",
        "across",
        "editor",
        "editors",
        "also",
        "in",
        "other",
        "similar",
        "hashtag",
        "hashtags",
        "tag",
        "tags",
        "topics",
        "filed",
        "categories",
        "newsletter",
        "sign",
        "subscribe",
        "articulos",
        "artigos",
        "noticias",
        "veja",
        "leia",
        "lee",
        "lea",
        "comentarios",
        "deixe",
        "deja",
        "mais",
        "mas",
        "articles",
        "commentaires",
        "laisser",
        "a",
        "lire",
        "kommentare",
        "mehr",
        "das",
        "leggi",
        "articoli",
        "commenti",
        "gerelateerde",
        "reacties",
        "lees",
        "explore",
        "",
    }
)
_DIGITS = "0123456789"

#: lines that open a new item (story teaser, comment): strong separators
DATED_RULES = frozenset({"timestamp", "byline", "comment_meta"})


class EndMarkerRule:
    """Cut the page at an end-of-article marker followed by furniture or other articles."""

    name = "end_marker"

    def __init__(self, extra: list[str] | None = None) -> None:
        from .rules import phrases_regex

        self.extra = phrases_regex(extra or [], _TRAIL + "$")

    def is_marker(self, text: str) -> bool:
        """True when ``text`` (a stripped line) is an end-of-article marker."""
        return _end_marker_match(text) is not None or (
            self.extra is not None and self.extra.match(text) is not None
        )

    def is_marker_line(self, f: LineFeatures) -> bool:
        """:meth:`is_marker` of a line (or paragraph): on an ASCII line the regex runs only when
        its first word may open a marker (case folding can make other words match elsewhere)."""
        if self.extra is None and f.first_word.rstrip(_DIGITS) not in _MARKER_OPENERS and f.text.isascii():
            return False
        return self.is_marker(f.text)

    def __call__(self, page: Page) -> Iterator[tuple[int, float]]:
        feats = page.unit_features
        classes = page.initial
        n = len(feats)
        before = 0
        seen_prose = False
        prose = [c in (GOOD, NEARGOOD) for c in classes]
        total = sum([f.n_words for f, p in zip(feats, prose) if p])
        max_words = 16
        is_marker = self.is_marker_line
        first = -1  # the densest prose span's start: found at the first marker (most pages have none)
        min_before = 0
        for u in range(n):
            f = feats[u]
            if prose[u]:
                before += f.n_words
                seen_prose = True
                continue
            if not seen_prose or not f.n_words or f.n_words > max_words or not is_marker(f):
                continue
            if first < 0:
                # a marker needs an article above it: enough prose, or the start of the
                # densest prose span (markers in the page header are not an end)
                pre = best_span(page, [GOOD if p else c for c, p in zip(classes, prose)])
                first = pre[0] if pre else 0
                pre_words = (
                    sum([feats[v].n_words for v in range(pre[0], pre[1] + 1) if prose[v]]) if pre else 0
                )
                min_before = max(page.options.marker_min_words, pre_words // 2)
            if u < first and before < min_before:
                continue
            if self._furniture_follows(page, u, before, total - before):
                for v in range(u, n):
                    for i in page.units[v]:
                        yield i, 1.0
                return

    @staticmethod
    def _furniture_follows(page: Page, u: int, before: int, after: int) -> bool:
        """Does what follows marker unit ``u`` look like furniture or other stories?"""
        classes = page.initial
        removed = page.removed
        feats = page.unit_features
        check_headlines = page.options.marker_headline_check
        prose_units = 0
        runs = 0
        lead = 0  # furniture lines between the marker and the first paragraph
        other = 0
        dated = 0
        run = 0
        max_run = 0
        for v in range(u + 1, len(classes)):
            c = classes[v]
            # a near-good line that does not end a sentence is a headline, not text
            if c == GOOD or (c == NEARGOOD and (feats[v].ends_sentence or not check_headlines)):
                prose_units += 1
                if run == 0:
                    runs += 1
                run += 1
                if run > max_run:
                    max_run = run
            else:
                if prose_units == 0:
                    lead += 1
                other += 1
                run = 0
                r = removed.get(page.units[v][0])
                if r is not None and r[0] in DATED_RULES:
                    dated += 1
        if prose_units == 0:
            return True
        short_runs = max_run <= 2 and prose_units <= 1.5 * runs
        # isolated paragraphs, each behind a headline or byline: teasers, comments
        if short_runs and lead >= 1 and other >= 2 * runs:
            return True
        # repeated byline/date blocks: a list of other stories or comments
        if max_run <= 2 and dated >= 2:
            return True
        # little prose left compared with the article above, and not on its own
        return after <= page.options.tail_max_prose_ratio * before and other >= prose_units


def best_span_python(page: Page, classes: list[str]) -> tuple[int, int] | None:
    """The [first, last] unit span maximising prose words minus furniture penalties.

    A gap of at most ``span_bridge_lines`` short non-prose units between two prose
    units costs nothing (jusText's idea: short or bad lines between good ones do not
    break the article): only a longer run of furniture, a byline/date line (it opens
    another item) or a cut end marker separates the article from other prose.
    One linear pass (Kadane's maximum-sum segment).
    """
    o = page.options
    feats = page.unit_features
    units = page.units
    removed = page.removed
    line_pen = o.span_line_penalty
    word_pen = o.span_word_penalty
    dated_factor = o.span_dated_factor
    bridge = o.span_bridge_lines
    short = o.length_low
    values = [0.0] * len(feats)
    get = removed.get
    # bridgeable: a short unit that is not a byline/date/comment header or a cut marker
    gap_start = -1
    gap_ok = True
    seen_good = False
    for u, (f, c, lines_u) in enumerate(zip(feats, classes, units)):
        if c == GOOD:
            values[u] = float(f.n_words)
            if seen_good and gap_start >= 0 and gap_ok and u - gap_start <= bridge:
                for g in range(gap_start, u):
                    values[g] = 0.0
            seen_good = True
            gap_start = -1
            continue
        cost = -(line_pen + word_pen * f.n_words)
        r = get(lines_u[0])
        ok = f.n_chars < short
        if r is not None:
            if r[0] in DATED_RULES:
                cost *= dated_factor
                ok = False
            elif r[0] == "end_marker":
                ok = False
        values[u] = cost
        if gap_start < 0:
            gap_start = u
            gap_ok = ok
        elif not ok:
            gap_ok = False
    best = 0.0
    span: tuple[int, int] | None = None
    cur = 0.0
    start = 0
    for u, val in enumerate(values):
        if cur <= 0:
            cur = val
            start = u
        else:
            cur += val
        if cur > best:
            best = cur
            span = (start, u)
    return span


_native = native_module("ingest_plugins.boilerplate._structure")


def best_span(page: Page, classes: list[str]) -> tuple[int, int] | None:
    """:func:`best_span_python`, computed by the compiled ``_structure`` module when it is built."""
    o = page.options
    bridge, short = o.span_bridge_lines, o.length_low
    if (
        _native is None
        or type(bridge) is not int
        or type(short) is not int
        or type(page.removed) is not dict
        or type(classes) is not list
    ):
        return best_span_python(page, classes)
    n = len(page.unit_features)
    return _native.best_span(  # type: ignore[no-any-return]
        page.unit_features,
        classes,
        page.units,
        page.removed,
        GOOD,
        DATED_RULES,
        o.span_line_penalty,
        o.span_word_penalty,
        o.span_dated_factor,
        min(max(bridge, -1), n + 1),  # acts the same anywhere past these bounds
        min(max(short, -(2**62)), 2**62),
    )


def teaser_lists(page: Page, classes: list[str], transparent: list[bool], min_items: int) -> list[int]:
    """Units forming a list of other stories: isolated prose paragraphs, each after
    two or more title/byline/date lines, at least ``min_items`` times in a row,
    with no prose after the list.

    An item much longer than the others (the article itself, when it is a
    single paragraph) is left out of the list.
    """
    if min_items <= 0:
        return []
    feats = page.unit_features
    n = len(classes)
    # items: (first unit of its furniture gap, prose unit)
    items: list[tuple[int, int]] = []
    lists: list[list[tuple[int, int]]] = []
    gap_start = 0
    gap = 0
    for u in range(n + 1):
        if u < n and transparent[u]:
            continue
        if u < n and classes[u] != GOOD:
            if gap == 0:
                gap_start = u
            gap += 1
            continue
        if u == n or gap < 2:
            # a prose paragraph right after another one, or the end: close the current list
            if len(items) >= min_items:
                lists.append(items)
            items = []
            if u == n:
                break
            gap = 0
            continue
        # an isolated paragraph after a gap of two or more furniture lines
        nxt = u + 1
        while nxt < n and transparent[nxt]:
            nxt += 1
        if nxt < n and classes[nxt] == GOOD:
            if len(items) >= min_items:
                lists.append(items)
            items = []
            gap = 0
            continue
        items.append((gap_start, u))
        gap = 0
    out: list[int] = []
    # only a list that closes the page's prose: a list in mid-page is the article's own
    # structure (a round-up of deals, a gallery) more often than other stories
    lists = [items for items in lists if not any(c == GOOD for c in classes[items[-1][1] + 1 :])]
    for items in lists:
        sizes = sorted(feats[p].n_words for _, p in items)
        median = sizes[len(sizes) // 2]
        for start, p in items:
            if feats[p].n_words > 2.5 * median:
                continue  # much longer than the teasers: the article
            out.extend(range(start, p + 1))
    return out
