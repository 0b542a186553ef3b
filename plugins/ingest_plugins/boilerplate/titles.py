"""The page's headline, found where it stands relative to the article span, and a
review of the title, outlet, byline and dateline that earlier stages read from the text.

The ``header`` stage reads a title from the first lines of a text; on a web page
those are often navigation ("Skip to main content", "Sign In"). This stage knows
where the article is (the first kept line opens it) and which lines are
furniture, so it decides:

* :func:`find_headline` walks up from the article's first line over at most
  ``window`` non-blank lines. A *candidate* is a line that no line rule removed
  (only the span or density verdicts; or the last line of a ``menu_run``, when a
  byline or date follows it: short headlines close runs of short lines), that is
  title-like (3-22 words, or 2 outside ASCII; no ``. , ; :`` at its end, no
  sentence boundary inside, not a URL, not lower case at its start, not a
  byline, not a breadcrumb trail, not a name of at most 4 capitalised words)
  and that is not one of a run of 3+ such lines (a list of other stories). Its
  evidence: the share of its words (3+ letters, not stop words, each found
  inside the text of the article's first paragraphs: "rescue" ~ "rescued"),
  at least ``min_overlap``; a byline or date line among the 3 lines under it;
  furniture (or the start of the page) right above it; a copy of it elsewhere on
  the page. It needs the overlap and one of the other three. A dated candidate
  with another dated one 2-4 lines away whose overlap is about as high is one of
  a series of teasers, and one with 2+ dated candidates between it and the
  article is above other stories: neither counts. The best score wins (overlap,
  +0.35 for a byline or date under it, +0.15 for furniture above it or a copy,
  -0.03 per candidate nearer the article); when a longer line (a standfirst, a
  caption) right under a shorter candidate won, the shorter upper one is the
  headline. With no candidate there is no title. A site name after a last
  `` | ``/`` - `` separator is split off.
* :func:`review` then checks what an earlier stage *read from the text* (its
  history says so, with the line): a title, outlet, author, dateline or relative
  date whose line is furniture for a line rule (a byline value may stand on a
  byline or date line), or outside the article (a dateline or an agency tag must
  open a kept paragraph; a byline must sit above the article within the window;
  a title at most 3 non-blank lines above it) is withdrawn; a title that differs
  from the headline found here is replaced, and with no headline found a title
  that is not a plausible headline is withdrawn. Values from a header block or
  from the source are never touched. Every change is recorded with its line and
  rule.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Sequence
from typing import Any

import attrs

from ingest_plugins.header.extract import split_site_name

#: verdicts that are not a line rule's: a line the span or density left out may be the headline
_STRUCTURE = frozenset({None, "before_article", "density"})
#: line rules that mark a byline, date or credit line (metadata lines, not other furniture)
_META_RULES = frozenset({"byline", "timestamp", "comment_meta"})
#: rules under which a byline value may still stand (bylines and dates are furniture to the cleaner)
_BYLINE_OK = _STRUCTURE | _META_RULES | {"caption"}

_WORD = re.compile(r"\w+")
_BY = re.compile(r"(?i)(?:by|author|posted by|written by|von|por|par)\b")
# a sentence ends inside the line ("... last week.Credit ..." , "It is. It was"): a caption or standfirst
_INNER_SENTENCE = re.compile(r"\w\w[.!?][\"”’]?(?:\s+[\"“‘]?[A-Z]|\s*\(|(?=[A-Z]))")
_FINAL_PUNCT = frozenset(".,;:")
#: a headline this many non-blank lines above the article or nearer wins before farther lines are read
_NEAR = 12
# a breadcrumb trail: "Blog > Health > Diet"
_BREADCRUMB = re.compile(r"\S\s+[>»›/]\s+\S[^>»›/]*\s[>»›/]\s+\S")

#: Rules recorded for the values this stage sets, replaces or withdraws (``<key>`` is ``title``,
#: ``outlet``, ``author``, ``dateline`` or ``relative_date``; ``<rule>`` the line rule that removed the line).
RULES = (
    "title:above_article",
    "title:replaced",
    "title:not_a_headline",
    "<key>:furniture:<rule>",
    "<key>:not_in_article",
)


@attrs.frozen
class Headline:
    """The headline of a page: line index (0-based), its text (site name split off),
    and the share of its words found in the article's first paragraphs."""

    index: int
    text: str
    overlap: float
    rule: str = "title:above_article"


def _title_like(s: str, max_words: int) -> bool:
    if len(s) > 200 or " " not in s:
        return False  # the cheap tests first: a paragraph, a single word
    n = len(s.split())
    if n > max_words or (n < 3 and not (n == 2 and not s.isascii())):
        return False
    if s[-1] in _FINAL_PUNCT and not s.endswith("..."):
        return False
    first = s[0]
    return not (first in "(-•·|*>#[©" or first.islower() or "://" in s or s.startswith("www."))


def _is_breadcrumb(s: str) -> bool:
    # the regex only where a separator is (most lines have none)
    return (">" in s or "»" in s or "›" in s or " / " in s) and _BREADCRUMB.search(s) is not None


def _inner_sentence(s: str) -> bool:
    return ("." in s or "!" in s or "?" in s) and _INNER_SENTENCE.search(s) is not None


def plausible_headline(s: str, max_words: int = 22) -> bool:
    """Title-like (see :func:`find_headline`), no sentence boundary inside, not a breadcrumb
    trail, not a name of at most 4 capitalised words."""
    return (
        _title_like(s, max_words) and not _inner_sentence(s) and not _is_breadcrumb(s) and not _name_like(s)
    )


def _name_like(s: str) -> bool:
    """1-4 words, every one capitalised (a person, an outlet, a section): not a headline."""
    words = s.split()
    if len(words) > 4 or s.upper() == s.lower():
        return False  # longer, or an uncased script: no telling
    return all(w[0].isupper() or not w[0].isalpha() for w in words)


def _first_kept(keep: Sequence[bool]) -> int | None:
    try:
        return keep.index(True)  # type: ignore[union-attr]
    except ValueError:
        return None


def _content(s: str, stopwords: frozenset[str]) -> list[str]:
    return [w for w in _WORD.findall(s.lower()) if len(w) > 2 and w not in stopwords and not w.isdigit()]


def find_headline(
    text: str,
    lines: Sequence[str],
    keep: Sequence[bool],
    rules: Sequence[str | None],
    stopwords: frozenset[str],
    *,
    window: int = 40,
    min_overlap: float = 0.5,
    max_words: int = 22,
    first_is_title: bool = False,
) -> Headline | None:
    """The headline above the article span (see the module docstring), or None when unsure.

    ``lines``, ``keep`` and ``rules`` are one entry per line of ``text``, as
    :meth:`Cleaner.decide` gives them. ``first_is_title``: the first kept line may
    itself be the title (the ``keep_title`` option keeps it).
    """
    first = _first_kept(keep)
    if first is None:
        return None
    # non-blank lines above the article, nearest first, and one more (what is above the topmost);
    # picked without a Python loop per line
    span = 3 * (window + 1)
    while True:
        lo = max(0, first - span)
        above = list(itertools.compress(range(lo, first), map(str.strip, lines[lo:first])))
        if len(above) > window or lo == 0:
            break
        span *= 4
    above = above[: -window - 2 : -1]
    body_start = first
    if first_is_title and _title_like(lines[first].strip(), max_words):
        above.insert(0, first)
        body_start = first + 1
    if not above:
        return None
    n_above = len(above)
    reach = above[: window + (1 if body_start > first else 0)]

    meta_cache: dict[int, bool] = {}

    def is_meta(q: int) -> bool:
        hit = meta_cache.get(q)
        if hit is None:
            hit = meta_cache[q] = rules[q] in _META_RULES or _BY.match(lines[q].lstrip()) is not None
        return hit

    listed_cache: dict[int, bool] = {}

    def listed(q: int) -> bool:  # one of a list of headline-like lines
        hit = listed_cache.get(q)
        if hit is None:
            s = lines[q].strip()
            hit = rules[q] not in _META_RULES and len(s.split()) >= 4 and _title_like(s, 30)
            listed_cache[q] = hit
        return hit

    body: str | None = None
    found: list[dict[str, Any]] = []
    rank = 0
    # lines no line rule removed, and the last line of each run of short lines (the menu_run rule:
    # a short headline can close one; then a byline or a date must follow it)
    walk = [
        (k, i, rules[i] == "menu_run")
        for k, i in enumerate(reach)
        if rules[i] in _STRUCTURE
        or (rules[i] == "menu_run" and (k == 0 or rules[reach[k - 1]] != "menu_run"))
    ]
    near_done = False
    for k, i, in_menu in walk:
        if not near_done and k >= _NEAR + 4:
            # the lines next to the article decide alone when they hold a headline (read with the
            # 4 lines above them, so that teasers and pairs are judged with their neighbours)
            near_done = True
            chosen = _select(found, text, min_overlap, _NEAR)
            if chosen is not None:
                return _headline(chosen)
        s = lines[i].strip()
        if not _title_like(s, 30) or is_meta(i) or _is_breadcrumb(s):
            continue
        rank += 1
        # a line that fails these still counts as one nearer the article
        if len(s.split()) > max_words or _name_like(s) or _inner_sentence(s):
            continue
        words = _content(s, stopwords)
        if not words:
            continue
        run = 1
        q = k + 1
        while q < n_above and listed(above[q]):
            run += 1
            q += 1
        q = k - 1
        while q >= 0 and listed(above[q]):
            run += 1
            q -= 1
        if run >= 3:
            continue  # one of a list of other stories' headlines
        # neighbours in the walk: reach[k - 1] is below (or the article), reach[k + 1] above
        meta_after = any(is_meta(q) for q in reach[max(0, k - 3) : k])
        if body is None:
            # the article's first paragraphs: up to 14 kept lines, the one reaching 3,000 characters last
            end = body_start + 60
            parts = [
                line for line in itertools.compress(lines[body_start:end], keep[body_start:end]) if line
            ][:14]
            size = 0
            for n, line in enumerate(parts, 1):
                size += len(line)
                if size >= 3000:
                    del parts[n:]
                    break
            body = " ".join(parts).lower()
        # a word of the headline inside a word of the article counts: "rescue" ~ "rescued"
        overlap = sum(1 for w in words if w in body) / len(words)
        if overlap < 0.25 and not meta_after:
            continue  # can neither win nor stand in the way of one that does
        prev = above[k + 1] if k + 1 < n_above else None
        found.append(
            {
                "k": k,
                "i": i,
                "rank": rank - 1,
                "menu": in_menu,
                "text": s,
                "overlap": overlap,
                "run": run,
                "meta_after": meta_after,
                "furniture_before": prev is None
                or (rules[prev] not in _STRUCTURE and rules[prev] != "blank")
                or "://" in lines[prev],
            }
        )
    chosen = _select(found, text, min_overlap, None)
    return _headline(chosen) if chosen is not None else None


def _headline(c: dict[str, Any]) -> Headline:
    return Headline(index=c["i"], text=split_site_name(c["text"])[0], overlap=round(c["overlap"], 3))


def _select(
    found: list[dict[str, Any]], text: str, min_overlap: float, below: int | None
) -> dict[str, Any] | None:
    """The best of the candidates ``found`` (those less than ``below`` lines above the article
    when given), or None (see :func:`find_headline`)."""
    dated = [c for c in found if c["meta_after"]]
    best: tuple[float, dict[str, Any]] | None = None
    for c in found:
        if below is not None and c["k"] >= below:
            break  # found is in walk order
        if c["overlap"] < min_overlap or (c["menu"] and not c["meta_after"]):
            continue
        # a copy elsewhere on the page (counted only when it matters)
        repeated = not c["furniture_before"] and text.count(c["text"]) > 1
        if not (c["meta_after"] or c["furniture_before"] or repeated):
            continue
        if c["meta_after"] and any(
            2 <= abs(c["k"] - d["k"]) <= 4 and d["overlap"] > c["overlap"] - 0.3 for d in dated if d is not c
        ):
            continue  # one of a series of dated teasers about the same subject
        if sum(1 for d in dated if d["k"] < c["k"] - 1) >= 2:
            continue  # dated items of other stories stand between it and the article
        score = (
            c["overlap"]
            + 0.35 * c["meta_after"]
            + 0.15 * (c["furniture_before"] or repeated)
            - 0.03 * c["rank"]
        )
        if best is None or score > best[0]:
            best = (score, c)
    if best is None:
        return None
    c = best[1]
    # a standfirst or a caption right under its (shorter) headline: the headline is the upper line
    upper = next((d for d in found if d["k"] == c["k"] + 1), None)
    if (
        c["run"] == 2
        and upper is not None
        and upper["overlap"] >= 0.25
        and len(upper["text"].split()) < len(c["text"].split())
    ):
        c = upper
    return c


# --- review of what earlier stages read from the text --------------------------------------


def _norm(s: str) -> str:
    return " ".join(_WORD.findall(s.lower()))


def _same_text(a: str, b: str) -> bool:
    """The same words in the same order, case aside (no work on lines of different lengths)."""
    return abs(len(a) - len(b)) <= 8 + min(len(a), len(b)) // 4 and _norm(a) == _norm(b)


def _removals(history: Sequence[Any]) -> list[tuple[int, list[int] | None]]:
    """``(position in history, sorted removed line numbers or None when not all are listed)``
    for every ``removed_lines`` event."""
    out = []
    for pos, event in enumerate(history):
        if event.action != "removed_lines":
            continue
        details = event.details
        listed = details.get("lines")
        if details.get("removed_blank") or not isinstance(listed, list):
            out.append((pos, None))
            continue
        numbers = sorted(x["line"] for x in listed if isinstance(x, dict) and isinstance(x.get("line"), int))
        out.append((pos, numbers if len(numbers) == len(listed) else None))
    return out


def _stage_start(history: Sequence[Any], position: int) -> int:
    """Position of the first of the run of events the stage of event ``position`` recorded."""
    stage = history[position].stage
    while position > 0 and history[position - 1].stage == stage:
        position -= 1
    return position


def current_line(history: Sequence[Any], position: int, line: int) -> int | None:
    """Line ``line`` (1-based) of the text the stage that recorded event ``position``
    received, in today's text: None when that stage or a later one removed it or did not
    list every line it removed."""
    start = _stage_start(history, position)
    for pos, removed in _removals(history):
        if pos < start:
            continue
        if removed is None:
            return None
        j = bisect.bisect_left(removed, line)
        if j < len(removed) and removed[j] == line:
            return None
        line -= j
    return line


def input_line(history: Sequence[Any], line: int) -> int | None:
    """Today's line ``line`` (1-based) as a line of the input (before every ``removed_lines``
    event of the history); None when an event did not list every line it removed."""
    for _, removed in reversed(_removals(history)):
        if removed is None:
            return None
        for r in removed:
            if r <= line:
                line += 1
            else:
                break
    return line


def text_sources(history: Sequence[Any]) -> dict[str, tuple[int, dict[str, Any]]]:
    """The latest recorded source of each metadata key: ``{key: (event position, entry)}``."""
    out: dict[str, tuple[int, dict[str, Any]]] = {}
    for pos, event in enumerate(history):
        if event.action != "metadata":
            continue
        for entry in event.details.get("lines") or ():
            if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                out[entry["key"]] = (pos, entry)
    return out


def title_is_settled(metadata: dict[str, Any], history: Sequence[Any]) -> bool:
    """A title that a header line or the source gave is there: no headline need be looked for."""
    if "title" not in metadata:
        return False
    source = text_sources(history).get("title")
    return source is None or str(source[1].get("rule", "")).startswith("header:")


#: metadata keys that go with a value, removed with it
_COMPANIONS = {
    "title": ("title", "title_line", "title_repeated"),
    "outlet": ("outlet", "outlet_line"),
    "author": ("author",),
    "dateline": ("dateline", "dateline_line"),
    "relative_date": ("relative_date", "relative_date_resolved", "relative_date_reference"),
}


@attrs.frozen
class Review:
    """What :func:`review` changes: metadata to set, keys to remove, entries to record."""

    set: dict[str, Any]
    remove: tuple[str, ...]
    entries: list[dict[str, Any]]


def review(
    metadata: dict[str, Any],
    history: Sequence[Any],
    lines: Sequence[str],
    keep: Sequence[bool],
    rules: Sequence[str | None],
    headline: Headline | None,
    *,
    window: int = 40,
) -> Review | None:
    """Check title, outlet, author, dateline and relative date against the article span
    (see the module docstring); None when nothing changes."""
    sources = text_sources(history)
    first = _first_kept(keep)
    if first is None or not (sources or headline):
        return None
    entries: list[dict[str, Any]] = []
    updates: dict[str, Any] = {}
    remove: list[str] = []

    def locate(key: str) -> tuple[dict[str, Any], int | None] | None:
        """The entry of a value an earlier stage read from the text, and its line index today."""
        if key not in metadata or key not in sources:
            return None
        pos, entry = sources[key]
        rule = str(entry.get("rule", ""))
        if rule.startswith("header:") or not isinstance(entry.get("line"), int):
            return None  # a header line said so: not ours to judge
        n = current_line(history, pos, entry["line"])
        return entry, (None if n is None or n > len(lines) else n - 1)

    def withdraw(key: str, entry: dict[str, Any], index: int, why: str) -> None:
        remove.extend(k for k in _COMPANIONS.get(key, (key,)) if k in metadata)
        entries.append({"line": index + 1, "rule": f"{key}:{why}", "text": lines[index].strip(), "key": key})

    # nearness to the article: non-blank lines between a line and the first kept line
    def lines_above(index: int) -> int:
        return sum(1 for j in range(index + 1, first) if lines[j].strip())

    title = locate("title")
    if headline is not None:
        current = metadata.get("title")
        same = isinstance(current, str) and (
            _same_text(current, headline.text) or _same_text(current, lines[headline.index].strip())
        )
        if "title" not in metadata or (title is not None and not same):
            if title is not None and title[1] is not None:
                entries.append(
                    {
                        "line": title[1] + 1,
                        "rule": "title:replaced",
                        "text": lines[title[1]].strip(),
                        "key": "title",
                    }
                )
            updates["title"] = headline.text
            remove.append("title_repeated")
            original = input_line(history, headline.index + 1)
            if original is not None:
                updates["title_line"] = original
            else:
                remove.append("title_line")
            nxt = next((j for j in range(headline.index + 1, len(lines)) if lines[j].strip()), None)
            if nxt is not None and _same_text(lines[nxt].strip(), lines[headline.index].strip()):
                updates["title_repeated"] = True
            entries.append(
                {
                    "line": headline.index + 1,
                    "rule": headline.rule,
                    "text": lines[headline.index].strip(),
                    "key": "title",
                }
            )
    elif title is not None and title[1] is not None:
        entry, i = title[0], title[1]
        if rules[i] not in _STRUCTURE:
            withdraw("title", entry, i, f"furniture:{rules[i]}")
        elif not keep[i] and (i > first or lines_above(i) >= 4):
            withdraw("title", entry, i, "not_in_article")
        elif not plausible_headline(lines[i].strip()):
            withdraw("title", entry, i, "not_a_headline")

    for key in ("outlet", "author", "relative_date", "dateline"):
        found = locate(key)
        if found is None or found[1] is None:
            continue
        entry, i = found
        rule = str(entry.get("rule", ""))
        if key == "dateline" or rule == "outlet:agency_tag":
            if not keep[i]:
                withdraw(
                    key, entry, i, "not_in_article" if rules[i] in _STRUCTURE else f"furniture:{rules[i]}"
                )
        elif rules[i] not in _BYLINE_OK:
            withdraw(key, entry, i, f"furniture:{rules[i]}")
        elif not keep[i] and (i > first or lines_above(i) > window):
            withdraw(key, entry, i, "not_in_article")
    if not entries:
        return None
    return Review(
        set=updates, remove=tuple(k for k in dict.fromkeys(remove) if k not in updates), entries=entries
    )
