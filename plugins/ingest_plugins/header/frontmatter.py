"""``---``-delimited front matter (simple ``key: value`` lines, no YAML dependency).

Recognised only at the first header position, when the opening ``---`` is
closed by another ``---`` within ``max_header_lines`` and every non-blank line
in between is one of:

* ``key: value`` (key: letters, digits, ``_ . -``; value may be quoted or an
  inline list ``[a, b]``, typed per ``known_keys`` — ``list`` keys split on
  commas, other unknown keys stay strings),
* ``key:`` followed by ``- item`` lines (a list of strings),
* a ``# comment``.

Anything else between the fences means it is not front matter (e.g. two
Markdown horizontal rules around a paragraph): nothing is consumed.
"""

from __future__ import annotations

from typing import Callable

import attrs

from .convert import unquote
from .patterns import FRONT_MATTER_COMMENT, FRONT_MATTER_FENCE, FRONT_MATTER_ITEM, KEY_VALUE, STRAY


@attrs.frozen
class FrontMatterEntry:
    """One key of the block: ``value`` is a str, or a list for ``- item`` lists."""

    line: int  # 1-based line number of the key line
    key: str
    value: str | list[str]
    raw: str  # the key line, plus its "- item" lines joined with "\n"
    stray: bool  # the key line (or one of its items) had stray bytes


def is_fence(line: str) -> bool:
    return FRONT_MATTER_FENCE.fullmatch(line) is not None


def parse_front_matter(
    get_line: Callable[[int], str | None], start: int, limit: int
) -> tuple[int, list[FrontMatterEntry]] | None:
    """Parse a block whose opening fence is line ``start`` (0-based).

    ``get_line(i)`` returns line ``i`` or None past the end.  Returns
    ``(index of closing fence, entries)`` or ``None`` when the block is not
    front matter.  ``limit`` is the exclusive 0-based line bound.
    """
    entries: list[FrontMatterEntry] = []
    list_key: tuple[int, str, str, bool] | None = None  # key awaiting "- item" lines
    items: list[str] = []

    def flush_list() -> None:
        nonlocal list_key, items
        if list_key is not None:
            ln, key, raw, stray = list_key
            # "key:" with no items is an empty string value, like YAML null-ish.
            entries.append(FrontMatterEntry(ln, key, list(items) if items else "", raw, stray))
        list_key, items = None, []

    for i in range(start + 1, limit):
        line = get_line(i)
        if line is None:
            return None
        raw = line.rstrip("\r")
        clean = STRAY.sub("", raw)
        stray = clean != raw
        if is_fence(clean):
            flush_list()
            return i, entries
        if not clean.strip() or FRONT_MATTER_COMMENT.fullmatch(clean):
            continue
        m_item = FRONT_MATTER_ITEM.fullmatch(clean)
        if m_item and list_key is not None:
            items.append(unquote(m_item.group("value")))
            # The entry's raw text covers its item lines too, so nothing is lost
            # if the entry is rejected later.
            ln, key, kraw, kstray = list_key
            list_key = (ln, key, kraw + "\n" + raw, kstray or stray)
            continue
        m = KEY_VALUE.fullmatch(clean)
        if m is None:
            return None
        flush_list()
        key, value = m.group("key"), m.group("value")
        if value is None or value == "":
            list_key = (i + 1, key, raw, stray)
        else:
            entries.append(FrontMatterEntry(i + 1, key, unquote(value), raw, stray))
    return None
