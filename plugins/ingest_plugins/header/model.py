"""Options, warnings and results of the header-and-metadata parser.

Options (``HeaderOptions``; every field has a default, all are plain
config-file types so they map 1:1 onto ``config.toml``)
---------------------------------------------------------------------------

``patterns`` (list[dict], default ``[]``)
    Extra header-line formats from config, tried first.  Each entry is
    ``{"regex": "...", "types": {"group": "type", ...}}``; optional ``"name"``
    (used in ``header_formats``).  The regex is matched with ``re.fullmatch``
    against the line with surrounding whitespace removed; every *named* group
    that participated becomes a metadata key.  Types: ``"date"``,
    ``"datetime"``, ``"int"``, ``"float"``, ``"str"``, ``"list"`` (comma
    separated); groups without a type are ``"str"``.  Validated by
    ``compile_patterns`` (``ValueError`` naming the pattern index).
``key_value`` (bool, True)
    Recognise a contiguous ``key: value`` block at the top of the document:
    two or more header lines, or a lone first line whose value has the shape
    of its key's type (a bad date such as ``2025-02-30`` still counts and
    warns; ``Updated: New York,`` does not count) and is not a sentence of
    prose.  A line that is not a header line stays in the text, silently.
``front_matter`` (bool, True)
    Recognise a ``---`` ... ``---`` block of ``key: value`` lines at the top.
``builtin_date_line`` (bool, True)
    Recognise the seed form ``date YYYY-MM-DD [value ...]`` (leading
    whitespace allowed, ``date`` case-insensitive, optional ``THH:MM[:SS]``).
``title`` (bool, True)
    Extract a title from the first non-blank line(s) of the text, when a
    prose paragraph that shares its words follows within 4 lines (see
    ``extract``); a site name after a last `` | ``/`` - `` is split off.
``outlet`` (bool, True)
    Extract outlet/byline: agency tags ``(MENAFN)``, ``Outlet2 days ago``
    byline lines, ``By Name`` author lines.
``dateline`` (bool, True)
    Extract a dateline (``Brussels: ...``, ``LONDON (Reuters) - ...``) opening
    one of the first three prose paragraphs (12+ words, sentence punctuation
    at the end: a headline with a colon is not one).
``relative_dates`` (bool, True)
    Extract a relative date from a byline (``2 days ago``, ``an hour ago``,
    ``yesterday``) and resolve it when a reference date is known.
``reference_date`` (str, ``""``)
    ISO date (or datetime) used to resolve relative dates when the document
    header carries no date.
``use_mtime`` (bool, False)
    If no header date and no ``reference_date``: resolve relative dates
    against the ``mtime`` the caller passes to ``parse_document``.
``max_header_lines`` (int, 20)
    Only the first N lines are examined for header lines (leading blank
    lines count); a front-matter block must close within them.
``known_keys`` (list[str], see ``DEFAULT_KNOWN_KEYS``)
    Keys accepted to *start* a ``key: value`` block; ``"name"`` or
    ``"name:type"`` (same types as patterns; no type means ``str``).  Known
    keys are matched case-insensitively and stored lowercased.  Types apply
    in front matter too.
``max_value_length`` (int, 300)
    A ``key: value`` line outside front matter whose value is longer is not
    a header line (it is prose).

Fixed limits: a line longer than 2000 characters is never a header line; the
extractors read at most 12 non-blank lines within 48 lines after the header.
Config patterns and plugin parsers see the line with its trailing ``\r``, a
line-1 BOM and stray bytes removed (stray bytes still produce a warning when
the line is recognised).  ``options_from_mapping`` builds options from a
config table with type checks.

Metadata keys produced (``HeaderResult.metadata``)
---------------------------------------------------

From header lines:

``date`` (datetime.date)
    From the built-in date line, a ``date:`` key or a config pattern.
``datetime`` (datetime.datetime)
    Built-in date line with a time part (``date 2025-07-07T10:00 ...``).
``header_values`` (list[str])
    Trailing tokens of the built-in date line, verbatim (seed 000:
    ``["403"]``); their meaning is unknown so they are kept as strings.
``<key>``
    Every known key of a key/value block or front matter, typed per
    ``known_keys`` (e.g. ``title`` str, ``tags`` list[str], ``published``
    date); front-matter keys that are not known are kept as ``str``; config
    pattern groups and plugin-parser results are stored under their own names.
``header_unknown`` (dict[str, str])
    Values of unknown keys found inside a ``key: value`` block (each also
    produces a warning and a ``header_raw`` entry).
``header_raw`` (list[str])
    Raw text of every header line that was consumed but had a problem
    (impossible date, stray bytes, unknown key, duplicate key, bad type), in
    line order; a rejected front-matter list entry is its key line and item
    lines joined with ``\n``.
``header_formats`` (list[str])
    Which formats matched, in order, deduplicated: ``"pattern:<name|index>"``,
    ``"plugin:<name>"``, ``"date_line"``, ``"key_value"``, ``"front_matter"``.

From the text (extraction only *adds* metadata; it never removes lines, and
it never overwrites a key the header already set):

``title`` (str), ``title_line`` (int, 1-based input line)
    The title (site name split off) and the line it was read from; the
    ``boilerplate`` stage may replace or withdraw a title read from the text.
``title_repeated`` (bool)
    True when the title is repeated on the next non-blank line (or after one
    junk line); the title is still reported once.
``outlet`` (str), ``outlet_line`` (int)
    Agency tag ``(MENAFN)`` / ``(Reuters)`` opening a paragraph, or the
    outlet of a byline line (``Russia Today2 days ago``).
``author`` (str)
    From a ``By Firstname Lastname`` line near the top.
``dateline`` (str), ``dateline_line`` (int)
    ``Brussels: ...`` / ``LONDON (Reuters) - ...`` at a paragraph start.
``relative_date`` (str)
    Relative date text as found in a byline (``"2 days ago"``), always kept.
``relative_date_resolved`` (datetime.date)
    Only when a reference is known: the header's ``date`` (or ``datetime``),
    else ``reference_date`` option, else the mtime if ``use_mtime``.
``relative_date_reference`` (str)
    ``"header"``, ``"option"`` or ``"mtime"``: which reference was used.

Where each value of ``SOURCED_KEYS`` came from is in ``HeaderResult.sources``
(``ValueSource``: key, 1-based line, rule, the line's text); the ``header``
stage records them in the document's history (action ``metadata``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

import attrs

#: Type names allowed in ``patterns[*].types`` and ``known_keys`` suffixes.
VALUE_TYPES: tuple[str, ...] = ("date", "datetime", "int", "float", "str", "list")

#: Default for ``HeaderOptions.known_keys``.
DEFAULT_KNOWN_KEYS: tuple[str, ...] = (
    "date:date",
    "published:date",
    "updated:date",
    "modified:date",
    "created:date",
    "crawled:date",
    "datetime:datetime",
    "time:str",
    "title",
    "subtitle",
    "author",
    "authors:list",
    "byline",
    "source",
    "outlet",
    "publisher",
    "site",
    "url",
    "link",
    "canonical",
    "lang",
    "language",
    "id",
    "doc_id",
    "tags:list",
    "keywords:list",
    "categories:list",
    "category",
    "section",
    "description",
    "summary",
    "location",
    "dateline",
    "country",
    "status",
)

#: A plugin header-line parser: ``(line, 1-based line number)`` -> metadata
#: mapping if the line is a header line in its format, else ``None``.  The line
#: has its trailing ``\r`` and stray control bytes removed.  An empty mapping
#: still counts as "recognised" (the line leaves the text).  Exceptions are
#: caught and turned into warnings.
HeaderLineParser = Callable[[str, int], "Mapping[str, Any] | None"]


@attrs.define
class HeaderOptions:
    """User options of the header parser (see the module docstring)."""

    #: Extra header-line formats, tried first: [{regex = "...", types = {group = "date"}, name = "..."}];
    #: every named group that matches becomes a metadata key.
    patterns: list[dict] = attrs.field(factory=list)
    #: Read a `key: value` block at the top: two or more lines, or one line whose value has the
    #: shape of its key's type and is not a sentence ("Updated: New York," stays article text).
    key_value: bool = True
    #: Read a `---` ... `---` front-matter block at the top.
    front_matter: bool = True
    #: Read the line `date YYYY-MM-DD [values...]` (the values go to header_values).
    builtin_date_line: bool = True
    #: Read a title from the first line when a prose paragraph about it follows within 4 lines
    #: (a site name after " | " or " - " is split off); the boilerplate stage reviews it.
    title: bool = True
    #: Read the outlet and author from a byline under the title ("Outlet 2 days ago", "By Name")
    #: or an agency tag opening a paragraph ("(Reuters) ...").
    outlet: bool = True
    #: Read a dateline opening one of the first prose paragraphs ("Brussels: ...", "LONDON (Reuters) - ...").
    dateline: bool = True
    #: Read a relative date from a byline ("2 days ago") and resolve it when a reference date is known.
    relative_dates: bool = True
    #: ISO date (or datetime) that relative dates are resolved against when the header has no date.
    reference_date: str = ""
    #: With no header date and no reference_date: resolve relative dates against the file's mtime.
    use_mtime: bool = False
    #: Only this many lines at the top are tried as header lines (leading blank lines count).
    max_header_lines: int = 20
    #: Keys a `key: value` block may start with, "name" or "name:type" (date, datetime, int, float,
    #: str, list); matched case-insensitively.
    known_keys: list[str] = attrs.field(factory=lambda: list(DEFAULT_KNOWN_KEYS))
    #: A `key: value` line with a longer value is prose, not a header line.
    max_value_length: int = 300


@attrs.frozen
class HeaderWarning:
    """A problem with one header line; the document still goes on.

    ``line`` is the 1-based line number in the input, ``raw`` the raw line.
    """

    line: int
    message: str
    raw: str


@attrs.frozen
class ValueSource:
    """Where one metadata value came from: its 1-based input line and the rule
    that read it (``header:<format>`` for a header line, an extractor rule such
    as ``title:first_line`` for a line of the text)."""

    key: str
    line: int
    rule: str
    text: str = ""  #: the line, stripped


@attrs.frozen
class HeaderResult:
    """Outcome of ``parse_document``.

    ``text``: the input with header lines removed; every other line unchanged
    and in order (``text.split("\\n")`` of the input minus ``header_lines``).
    ``metadata``: typed metadata (keys in the module docstring).
    ``header_lines``: 1-based input line numbers consumed as header.
    ``warnings``: problems found in header lines.
    ``header_text``: the raw consumed lines, aligned with ``header_lines``
    (so a caller can record what was removed without re-splitting the text).
    ``sources``: where the values of ``SOURCED_KEYS`` came from, in line order.
    """

    text: str
    metadata: dict[str, Any]
    header_lines: tuple[int, ...] = ()
    warnings: tuple[HeaderWarning, ...] = ()
    header_text: tuple[str, ...] = ()
    sources: tuple[ValueSource, ...] = ()


#: Keys whose source line and rule ``HeaderResult.sources`` gives (the values a
#: reader filters, groups or displays by).
SOURCED_KEYS: frozenset[str] = frozenset(
    {
        "title",
        "subtitle",
        "outlet",
        "author",
        "authors",
        "byline",
        "dateline",
        "relative_date",
        "source",
        "publisher",
        "site",
    }
)


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "patterns": (list,),
    "known_keys": (list,),
    "reference_date": (str,),
    "max_header_lines": (int,),
    "max_value_length": (int,),
}


def options_from_mapping(data: Mapping[str, Any]) -> HeaderOptions:
    """Build ``HeaderOptions`` from a config table (e.g. ``[header]`` of config.toml).

    Missing keys take their defaults.  Raises ``ValueError`` naming the key for
    an unknown key or a value of the wrong type (``bool`` fields must be real
    booleans; ``int`` fields reject booleans).  Pattern contents are checked
    later by ``compile_patterns``.
    """
    names = {f.name for f in attrs.fields(HeaderOptions)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown header option(s) {unknown}; allowed: {sorted(names)}")
    for key, value in data.items():
        expected = _FIELD_TYPES.get(key, (bool,))
        if isinstance(value, bool) and bool not in expected:
            raise ValueError(f"{key}: expected {expected[0].__name__}, got bool")
        if not isinstance(value, expected):
            raise ValueError(f"{key}: expected {expected[0].__name__}, got {type(value).__name__}")
        if key == "known_keys" and not all(isinstance(x, str) for x in value):
            raise ValueError("known_keys: expected a list of strings")
        if key == "patterns" and not all(isinstance(x, Mapping) for x in value):
            raise ValueError("patterns: expected a list of tables/dicts")
    kwargs = {k: (list(v) if isinstance(v, list) else v) for k, v in data.items()}
    if "patterns" in kwargs:
        kwargs["patterns"] = [dict(p) for p in kwargs["patterns"]]
    return HeaderOptions(**kwargs)
