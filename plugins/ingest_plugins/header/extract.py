"""Metadata from the text: title, outlet/byline/author, dateline, relative date.

Only the first ``WINDOW`` non-blank lines after the header are examined (a
page states these things at its top; scanning further would pick up the
bylines of unrelated "Related Articles" stories and cost time).  Extraction
never removes or edits lines and never overwrites a key already set.

Rules (all general; none lists site strings):

title
    The first non-blank line, or the second if the first is *junk* (one
    ASCII token such as ``logo``/``Menu``, or no letters at all), when it is
    title-like (1-30 words, 2+ unless non-ASCII, at most 200 characters, has a
    letter, does not end in ``. , ; :``, is not a byline (``... 2 days ago``),
    an author line (``By ...``), a URL, a ``key: value`` line with a lowercase
    key, or an agency-tagged paragraph) *and* it stands above the article: a
    prose paragraph (``is_body``) follows within the next 4 non-blank lines
    (after a repeat of the title).  A page that opens with navigation, a
    sign-in link or a cookie notice therefore gets no title here (the
    ``boilerplate`` stage, which knows where the article is, may find the
    headline further down).  A site name after a last `` | ``/`` - ``/`` – ``
    separator (``Headline - Site Name``, as a ``<title>`` has it) is split off
    (see ``split_site_name``).  If the next non-blank line (or the one after a
    junk line) is the same text (whitespace- and case-insensitive)
    ``title_repeated`` is set.
outlet / relative date / author
    In up to 4 lines after the title, before the first body paragraph:
    a short line ending in a relative date (``Russia Today2 days ago``,
    ``timean hour ago``) gives ``relative_date``, and its prefix, if it looks
    like a name (1-6 words, capitalised, no sentence punctuation), the
    ``outlet``; a relative-date-only line preceded by such a name line gives
    that name as outlet; ``By Jane Doe`` gives ``author``.  Then in the first
    3 body paragraphs an agency tag at the start, ``(MENAFN) ...`` or
    ``LONDON (Reuters) - ...``, gives the outlet.
dateline
    In the first 3 body paragraphs that read as prose (12+ words or 120+
    characters, ending in sentence punctuation: a headline such as ``High
    School Roundup: Team wins again`` is not one): ``Place[, Region]: text`` (capitalised
    place of 1-4 words, not a generic label such as ``Note``/``Update``/
    ``Also Read``, at least 6 words after the colon), ``PLACE (Agency) - text``
    or an all-caps ``PLACE - Text`` / ``PLACE, date - Text`` (text after the
    dash starting uppercase, a digit or a quote).

Every value comes with its source: ``extract`` returns, per metadata key, the
1-based line it was read from and the rule (``title:first_line``,
``outlet:byline``, ``outlet:agency_tag``, ``author:by_line``,
``dateline:place_colon`` ...; see ``RULES``), which the ``header`` stage records in the
document's history.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .dates import RelativeDate, find_relative_suffix
from .patterns import CONTINUATION_KEY, KEY_VALUE

#: How many non-blank lines after the header the extractors look at.
WINDOW = 12

#: Rules naming where a value was read (recorded with the value's line).
RULES = (
    "title:first_line",
    "outlet:byline",
    "outlet:byline_name_line",
    "outlet:agency_tag",
    "author:by_line",
    "relative_date:byline",
    "dateline:place_colon",
    "dateline:place_agency",
    "dateline:place_dash",
)

#: A title must be followed by a prose paragraph within this many non-blank lines.
TITLE_BODY_WITHIN = 4

_NAME_WORD = r"[^\W\d_][\w'’.&-]*"
_AGENCY = r"(?P<agency>[A-Z][A-Za-z0-9&.'’ /-]{1,39})"
AGENCY_AT_START = re.compile(rf"\(\s*{_AGENCY}\s*\)\s*[-–—:|]*\s*\S")
PLACE_AGENCY = re.compile(
    rf"(?P<place>{_NAME_WORD}(?:[ -]{_NAME_WORD}){{0,3}})(?:,\s*[^(),]{{2,40}}?)?\s*\(\s*{_AGENCY}\s*\)\s*[-–—:|]+\s*\S"
)
DATELINE_COLON = re.compile(
    rf"(?P<place>{_NAME_WORD}(?:[ -]{_NAME_WORD}){{0,3}})(?:,\s*(?P<region>{_NAME_WORD}(?: {_NAME_WORD}){{0,2}}))?\s*:\s+(?P<rest>\S.*)"
)
# The text after the dash must start a sentence ("NATO — the alliance ..." is prose).
DATELINE_DASH = re.compile(
    r"(?P<place>[A-Z][A-Z'’.]+(?:[ -][A-Z][A-Z'’.]+){0,3})(?:,\s*[^—–\-]{2,40}?)?\s+[—–-]{1,2}\s+[\"'“‘A-Z0-9]"
)
BY_LINE = re.compile(r"(?i:by)\s+(?P<name>[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*){0,4})\s*")

# Generic labels that open a paragraph like a dateline does ("Note: ...").
_LABELS = frozenset(
    [
        "note",
        "update",
        "updated",
        "editor",
        "editor's",
        "correction",
        "disclaimer",
        "summary",
        "however",
        "also",
        "read",
        "source",
        "sources",
        "photo",
        "photos",
        "video",
        "videos",
        "watch",
        "breaking",
        "exclusive",
        "opinion",
        "analysis",
        "live",
        "warning",
        "important",
        "reminder",
        "question",
        "answer",
        "quote",
        "tags",
        "hashtags",
        "related",
        "comments",
        "keywords",
        "share",
        "advertisement",
        "ad",
        "follow",
        "subscribe",
        "contact",
        "email",
        "tel",
        "phone",
        "image",
        "credit",
        "caption",
        "file",
        "background",
        "context",
        "why",
        "what",
        "how",
        "who",
        "when",
        "where",
        "highlights",
        "pictured",
        "listen",
        "recommended",
        "trending",
        "sponsored",
        "disclosure",
        "transcript",
        "edit",
        "edited",
        "notice",
        "alert",
        "bulletin",
        "press",
        "release",
        "statement",
        "excerpt",
        "translation",
        "attention",
        "ps",
        "p.s.",
        "tl;dr",
        "tldr",
    ]
)
_LABEL_PHRASES = frozenset(
    {
        "also read",
        "read more",
        "editor's note",
        "key points",
        "bottom line",
        "the bottom line",
        "in brief",
        "press release",
        "see also",
    }
)


def _words(s: str) -> list[str]:
    return s.split()


# The separator before a site name in a <title>-like line ("Headline - Site", "Headline | Site").
_SITE_SEP = re.compile(r"\s+(?:[|\-–—·•]|::)\s+")
_DOMAIN = re.compile(r"[\w-]+\.(?:[a-z]{2,6})(?:\.[a-z]{2})?")
_WORD = re.compile(r"[^\W\d_]+")
# Sentence-final punctuation of a prose paragraph, and what may close it after that.
_ENDERS = frozenset(".!?…")
_CLOSERS = "\"'”’)]» \t"


def is_site_name(s: str) -> bool:
    """A site or outlet name as it ends a ``<title>``: a domain (``SpaceNews.com``) or 1-4
    words, the first capitalised, the others capitalised or short lowercase connectors
    (``The Times of India``); no sentence punctuation, no bare numbers (``Part 2``)."""
    if not s or len(s) > 40:
        return False
    if _DOMAIN.fullmatch(s):
        return True
    words = s.split()
    if not 1 <= len(words) <= 4 or any(c in s for c in '.,;:!?"“”()'):
        return False
    if not words[0][0].isupper():
        return False
    for w in words:
        if w.isdigit():
            return False
        if not (w[0].isupper() or w[0].isdigit() or (len(w) <= 3 and w.isalpha())):
            return False
    return True


def split_site_name(line: str) -> tuple[str, str | None]:
    """``("Headline", "Site")`` for ``"Headline - Site"`` (separators `` | ``, `` - ``, `` – ``,
    `` — ``, `` · ``, `` • ``, `` :: ``; the last one counts) when the part after it is a site
    name and the part before has 3+ words; else ``(line, None)``."""
    separators = list(_SITE_SEP.finditer(line))
    if not separators:
        return line, None
    last = separators[-1]
    head, tail = line[: last.start()].strip(), line[last.end() :].strip()
    if len(head.split()) < 3 or head[-1:] in ":|-–—" or not is_site_name(tail):
        return line, None
    return head, tail


def has_words(s: str, n: int) -> bool:
    """At least ``n`` words, without splitting a whole long paragraph."""
    return len(s[:1000].split(None, n)) >= n


def is_junk(s: str) -> bool:
    """Page furniture that may precede a title: one ASCII token, or no letters."""
    if not (s[:1].isalpha() or any(c.isalpha() for c in s)):  # most lines open with a letter
        return True
    return len(s) <= 24 and s.isascii() and len(s.split()) == 1


def is_body(s: str) -> bool:
    """A prose paragraph (ends the byline zone)."""
    return len(s) >= 120 or has_words(s, 12)


def is_prose(s: str) -> bool:
    """A body paragraph that ends like a sentence (what a dateline opens; a headline does not)."""
    end = s.rstrip(_CLOSERS)[-1:]  # the cheap test first: most lines at a page's top are no sentences
    return end in _ENDERS and is_body(s)


def is_label(place: str) -> bool:
    p = " ".join(place.split()).casefold()
    return p in _LABELS or p in _LABEL_PHRASES or p.split()[0] in _LABELS


def is_name_like(s: str) -> bool:
    """An outlet/byline name: 1-6 capitalised-start words, no sentence punctuation."""
    if len(s) > 60:
        return False
    w = _words(s)
    if not 1 <= len(w) <= 6:
        return False
    if not (s[0].isupper() or s[0].isdigit()):
        return False
    return not any(c in s for c in '.!?:;"“”') or s.endswith((".com", ".net", ".org"))


def is_title_like(s: str) -> bool:
    if len(s) > 200:
        return False
    w = _words(s)
    if not w or len(w) > 30:
        return False
    if len(w) == 1 and (s.isascii() or len(s) < 4):
        return False
    if not (s[0].isalpha() or any(c.isalpha() for c in s)):  # most lines open with a letter
        return False
    if s[-1] in ".,;:" and not s.endswith("..."):
        return False
    if s[0] in "(-•·|*>#[" or "://" in s or s.lower().startswith("www."):
        return False
    if BY_LINE.fullmatch(s) or find_relative_suffix(s) is not None:
        return False
    m = KEY_VALUE.fullmatch(s)
    # "title: x" left in the text is a header-like line, not a title
    return not (m and CONTINUATION_KEY.fullmatch(m.group("key")))


def _norm(s: str) -> str:
    return " ".join(s.split()).casefold()


def _same(a: str, b: str) -> bool:
    """Equal up to whitespace and case (length guard: no work on long paragraphs)."""
    return len(a) <= 2 * len(b) + 8 and _norm(a) == _norm(b)


def _clean_prefix(prefix: str) -> str:
    p = prefix.strip(" \t•·|-–—,")
    # A single lowercase glue word ("time", "posted", "updated") is a label, not a name.
    if p and " " not in p and p.islower():
        return ""
    m = BY_LINE.fullmatch(p)
    return m.group("name") if m else p


def extract(
    items: Sequence[tuple[int, str]],
    *,
    title: bool = True,
    outlet: bool = True,
    dateline: bool = True,
    relative_dates: bool = True,
    existing: frozenset[str] | set[str] = frozenset(),
) -> tuple[dict[str, Any], RelativeDate | None, dict[str, tuple[int, str]]]:
    """Extract metadata from ``items`` = [(1-based line number, stripped non-blank line), ...].

    Returns ``(metadata additions, parsed relative date or None, sources)``:
    ``sources`` maps each added key (``title``, ``outlet``, ``author``,
    ``dateline``, ``relative_date``) to ``(line, rule)``, the rule one of
    ``RULES``.  Keys in ``existing`` are never produced.
    """
    md: dict[str, Any] = {}
    src: dict[str, tuple[int, str]] = {}
    rel: RelativeDate | None = None
    n = len(items)
    pos = 0

    # --- title -------------------------------------------------------------
    j = 1 if n > 1 and is_junk(items[0][1]) else 0
    if j < n and is_title_like(items[j][1]):
        t_line, t_text = items[j]
        k = j + 1
        if k < n and not _same(items[k][1], t_text) and is_junk(items[k][1]):
            k += 1
        repeated = k < n and _same(items[k][1], t_text)
        pos = k + 1 if repeated else j + 1
        if title and "title" not in existing and _above_body(items, pos, t_text):
            md["title"] = split_site_name(t_text)[0]
            md["title_line"] = t_line
            src["title"] = (t_line, "title:first_line")
            if repeated:
                md["title_repeated"] = True
    else:
        pos = j  # a leading junk line is skipped either way

    # --- byline zone: outlet + relative date + author ------------------------
    if outlet or relative_dates:
        for k in range(pos, min(pos + 4, n)):
            ln, s = items[k]
            if is_body(s):
                break
            if outlet and "author" not in existing and "author" not in md:
                m = BY_LINE.fullmatch(s)
                if m:
                    md["author"] = m.group("name")
                    src["author"] = (ln, "author:by_line")
                    continue
            found = find_relative_suffix(s) if len(s) <= 80 else None
            if found is None:
                continue
            prefix, r = found
            name = _clean_prefix(prefix)
            if outlet and "outlet" not in existing:
                if name and is_name_like(name):
                    md["outlet"], md["outlet_line"] = name, ln
                    src["outlet"] = (ln, "outlet:byline")
                elif not name and k > pos and is_name_like(items[k - 1][1]):
                    md["outlet"], md["outlet_line"] = items[k - 1][1], items[k - 1][0]
                    src["outlet"] = (items[k - 1][0], "outlet:byline_name_line")
            if relative_dates:
                rel = r
                if "relative_date" not in existing:
                    src["relative_date"] = (ln, "relative_date:byline")
            break

    # --- first body paragraphs: agency tag, dateline ---------------------------
    if outlet or dateline:
        paras = 0
        # is_prose inlined: most lines at a page's top end in no sentence punctuation
        prose = [(ln, s) for ln, s in items[pos:] if s.rstrip(_CLOSERS)[-1:] in _ENDERS and is_body(s)]
        for ln, s in prose:
            paras += 1
            if paras > 3:
                break
            want_outlet = outlet and "outlet" not in existing and "outlet" not in md
            want_dateline = dateline and "dateline" not in existing and "dateline" not in md
            if not (want_outlet or want_dateline):
                break
            m = AGENCY_AT_START.match(s)
            if m:
                if want_outlet and not is_label(m.group("agency")):
                    md["outlet"], md["outlet_line"] = m.group("agency").strip(), ln
                    src["outlet"] = (ln, "outlet:agency_tag")
                continue
            m = PLACE_AGENCY.match(s)
            if m and not is_label(m.group("place")) and all(w[0].isupper() for w in m.group("place").split()):
                if want_outlet and not is_label(m.group("agency")):
                    md["outlet"], md["outlet_line"] = m.group("agency").strip(), ln
                    src["outlet"] = (ln, "outlet:agency_tag")
                if want_dateline:
                    md["dateline"], md["dateline_line"] = m.group("place"), ln
                    src["dateline"] = (ln, "dateline:place_agency")
                continue
            if not want_dateline:
                continue
            m = DATELINE_COLON.match(s)
            if m:
                place = m.group("place")
                if (
                    len(place) >= 3
                    and all(w[0].isupper() for w in place.replace("-", " ").split())
                    and not is_label(place)
                    and has_words(m.group("rest"), 6)
                ):
                    md["dateline"], md["dateline_line"] = place, ln
                    src["dateline"] = (ln, "dateline:place_colon")
                continue
            m = DATELINE_DASH.match(s)
            if m and len(m.group("place")) >= 3 and not is_label(m.group("place")):
                md["dateline"], md["dateline_line"] = m.group("place"), ln
                src["dateline"] = (ln, "dateline:place_dash")
    return md, rel, src


def _above_body(items: Sequence[tuple[int, str]], pos: int, title: str) -> bool:
    """A prose paragraph follows within ``TITLE_BODY_WITHIN`` non-blank lines from
    ``pos``, and the title shares words with the text down to it and the next lines
    (a headline is about its article; "Skip to main content" is not)."""
    end = min(pos + TITLE_BODY_WITHIN, len(items))
    for k in range(pos, end):
        if is_body(items[k][1]):
            below = " ".join(s[:600] for _, s in items[pos : k + 3]).lower()
            return shares_words(title, below)
    return False


def shares_words(title: str, text: str) -> bool:
    """At least half of the title's words (4+ letters, or 2+ outside ASCII) start a
    word of ``text`` (lower case), looking at their first 6 letters ("markets" ~ "market")."""
    words = [w for w in _WORD.findall(title.lower()) if len(w) >= 4 or (len(w) >= 2 and not w.isascii())]
    if not words:
        return False
    hits = sum(1 for w in words if w[:6] in text)
    return hits * 2 >= len(words)
