"""Metadata from the text: title, outlet/byline/author, dateline, relative date.

Only the first ``WINDOW`` non-blank lines after the header are examined (a
page states these things at its top; scanning further would pick up the
bylines of unrelated "Related Articles" stories and cost time).  Extraction
never removes or edits lines and never overwrites a key already set.

Rules (all general; none lists site strings):

title
    The first non-blank line, or the second if the first is *junk* (one
    ASCII token such as ``logo``/``Menu``, or no letters at all), when it is
    title-like: 1-30 words (2+ unless non-ASCII), at most 200 characters, has
    a letter, does not end in ``. , ; :``, is not a byline (``... 2 days ago``),
    an author line (``By ...``), a URL, a ``key: value`` line with a lowercase
    key, or an agency-tagged paragraph.  If the
    next non-blank line (or the one after a junk line) is the same text
    (whitespace- and case-insensitive) ``title_repeated`` is set.
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
    In the first 3 body paragraphs: ``Place[, Region]: text`` (capitalised
    place of 1-4 words, not a generic label such as ``Note``/``Update``/
    ``Also Read``, at least 6 words after the colon), ``PLACE (Agency) - text``
    or an all-caps ``PLACE - Text`` / ``PLACE, date - Text`` (text after the
    dash starting uppercase, a digit or a quote).
"""
from __future__ import annotations

import re
from typing import Any, Sequence

from .dates import RelativeDate, find_relative_suffix
from .patterns import CONTINUATION_KEY, KEY_VALUE

#: How many non-blank lines after the header the extractors look at.
WINDOW = 12

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
DATELINE_DASH = re.compile(r"(?P<place>[A-Z][A-Z'’.]+(?:[ -][A-Z][A-Z'’.]+){0,3})(?:,\s*[^—–\-]{2,40}?)?\s+[—–-]{1,2}\s+[\"'“‘A-Z0-9]")
BY_LINE = re.compile(r"(?i:by)\s+(?P<name>[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*){0,4})\s*")

# Generic labels that open a paragraph like a dateline does ("Note: ...").
_LABELS = frozenset(
    """note update updated editor editor's correction disclaimer summary however also read source sources
    photo photos video videos watch breaking exclusive opinion analysis live warning important reminder question
    answer quote tags hashtags related comments keywords share advertisement ad follow subscribe contact email
    tel phone image credit caption file background context why what how who when where highlights pictured listen
    recommended trending sponsored disclosure transcript edit edited notice alert bulletin press release
    statement excerpt translation attention ps p.s. tl;dr tldr""".split()
)
_LABEL_PHRASES = frozenset({"also read", "read more", "editor's note", "key points", "bottom line", "the bottom line", "in brief", "press release", "see also"})


def _words(s: str) -> list[str]:
    return s.split()


def has_words(s: str, n: int) -> bool:
    """At least ``n`` words, without splitting a whole long paragraph."""
    return len(s[:1000].split(None, n)) >= n


def is_junk(s: str) -> bool:
    """Page furniture that may precede a title: one ASCII token, or no letters."""
    if not any(c.isalpha() for c in s):
        return True
    return len(s) <= 24 and s.isascii() and len(s.split()) == 1


def is_body(s: str) -> bool:
    """A prose paragraph (ends the byline zone)."""
    return len(s) >= 120 or has_words(s, 12)


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
    return not any(c in s for c in ".!?:;\"“”") or s.endswith((".com", ".net", ".org"))


def is_title_like(s: str) -> bool:
    if len(s) > 200:
        return False
    w = _words(s)
    if not w or len(w) > 30:
        return False
    if len(w) == 1 and (s.isascii() or len(s) < 4):
        return False
    if not any(c.isalpha() for c in s):
        return False
    if s[-1] in ".,;:" and not s.endswith("..."):
        return False
    if s[0] in "(-•·|*>#[" or "://" in s or s.lower().startswith("www."):
        return False
    if BY_LINE.fullmatch(s) or find_relative_suffix(s) is not None:
        return False
    m = KEY_VALUE.fullmatch(s)
    if m and CONTINUATION_KEY.fullmatch(m.group("key")):
        return False  # "title: x" left in the text is a header-like line, not a title
    return True


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
) -> tuple[dict[str, Any], RelativeDate | None]:
    """Extract metadata from ``items`` = [(1-based line number, stripped non-blank line), ...].

    Returns ``(metadata additions, parsed relative date or None)``; keys in
    ``existing`` are never produced.
    """
    md: dict[str, Any] = {}
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
        if title and "title" not in existing:
            md["title"] = t_text
            md["title_line"] = t_line
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
                    continue
            found = find_relative_suffix(s) if len(s) <= 80 else None
            if found is None:
                continue
            prefix, r = found
            name = _clean_prefix(prefix)
            if outlet and "outlet" not in existing:
                if name and is_name_like(name):
                    md["outlet"], md["outlet_line"] = name, ln
                elif not name and k > pos and is_name_like(items[k - 1][1]):
                    md["outlet"], md["outlet_line"] = items[k - 1][1], items[k - 1][0]
            if relative_dates:
                rel = r
            break

    # --- first body paragraphs: agency tag, dateline ---------------------------
    if outlet or dateline:
        paras = 0
        for ln, s in items[pos:]:
            if not has_words(s, 6):
                continue
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
                continue
            m = PLACE_AGENCY.match(s)
            if m and not is_label(m.group("place")) and all(w[0].isupper() for w in m.group("place").split()):
                if want_outlet and not is_label(m.group("agency")):
                    md["outlet"], md["outlet_line"] = m.group("agency").strip(), ln
                if want_dateline:
                    md["dateline"], md["dateline_line"] = m.group("place"), ln
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
                continue
            m = DATELINE_DASH.match(s)
            if m and len(m.group("place")) >= 3 and not is_label(m.group("place")):
                md["dateline"], md["dateline_line"] = m.group("place"), ln
    return md, rel
