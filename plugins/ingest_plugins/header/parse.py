"""Entry point: ``parse_document`` (header lines -> typed metadata, text metadata).

Processing of one document:

1. Header zone: leading blank lines are skipped (they stay in the text); then
   up to ``max_header_lines`` lines (counted from line 1) are tried as header
   lines in this order, first match wins: (1) config patterns, (2) plugin
   parsers, (3) built-ins (front matter at the first header position, the
   ``date YYYY-MM-DD ...`` line, ``key: value``).  The first line that no
   format recognises, or a blank line, ends the header.  Consumed lines leave
   the text; *every other line stays, unchanged and in order*.
2. A consumed line with a problem (impossible date, value that fails its
   type, stray bytes, unknown key, duplicate key, plugin error) still leaves
   the text, but its raw text goes to ``metadata["header_raw"]`` and a
   ``HeaderWarning`` (1-based line, message, raw) is returned.  Only options
   errors raise (``ValueError`` from ``compile_options``); text never does.
   A ``key: value`` line is a header line only in a header block: a block
   of two or more header lines, or a lone first line that reads as one (its
   value has the shape of the key's type, so ``Updated: New York,`` is
   article text and raises no warning, and it is not a sentence of prose).
3. Extractors (title, outlet/byline, dateline, relative date) read the first
   non-blank lines of what is left and only *add* metadata.  Where each value
   of ``SOURCED_KEYS`` came from (line, rule) is in ``HeaderResult.sources``.
4. A relative date is resolved against the header's date, else the
   ``reference_date`` option, else ``mtime`` when ``use_mtime`` is set.

See ``model`` for every option and metadata key.
"""

from __future__ import annotations

import copy
import datetime
import operator
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from . import dates
from .convert import convert, to_datetime
from .extract import WINDOW, extract
from .frontmatter import is_fence, parse_front_matter
from .model import SOURCED_KEYS, HeaderLineParser, HeaderOptions, HeaderResult, HeaderWarning, ValueSource
from .patterns import (
    CONTINUATION_KEY,
    DATE_LINE,
    KEY_VALUE,
    STRAY,
    CompiledPattern,
    compile_known_keys,
    compile_patterns,
)

# At most this many lines after the header are scanned for the extractors'
# WINDOW non-blank lines; the rest of the document is never split.
_EXTRA_SPLIT = 4 * WINDOW

#: Lines longer than this are never header lines (also bounds regex work).
MAX_HEADER_LINE_CHARS = 2000

# What a value of a typed key looks like even when it is not a valid one
# ("2025-02-30" is a bad date; "New York," is not a date at all).
_TYPE_SHAPES = {
    "date": re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}\b.*"),
    "datetime": re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}\b.*"),
    "int": re.compile(r"[-+]?[\d_.,]+"),
    "float": re.compile(r"[-+]?[\d_.,eE+-]+"),
}
_SENTENCE_END = re.compile(r"[.!?][\"'”’)]*$")


@attrs.frozen
class CompiledOptions:
    """Validated, precompiled options; build once per options with ``compile_options``."""

    options: HeaderOptions
    patterns: tuple[CompiledPattern, ...]
    key_types: dict[str, str]
    reference: datetime.date | None


def compile_options(options: HeaderOptions | None = None) -> CompiledOptions:
    """Validate ``options`` and precompile its regexes.

    Raises ``ValueError`` with a message naming the option (``patterns[2]:
    ...``, ``known_keys[0]: ...``, ``reference_date: ...``,
    ``max_header_lines: ...``).
    """
    options = options if options is not None else HeaderOptions()
    patterns = tuple(compile_patterns(options))
    key_types = compile_known_keys(options)
    if not isinstance(options.max_header_lines, int) or options.max_header_lines < 0:
        raise ValueError(f"max_header_lines: must be an integer >= 0, got {options.max_header_lines!r}")
    if not isinstance(options.max_value_length, int) or options.max_value_length < 1:
        raise ValueError(f"max_value_length: must be an integer >= 1, got {options.max_value_length!r}")
    reference: datetime.date | None = None
    if options.reference_date:
        try:
            reference = datetime.date.fromisoformat(options.reference_date.strip())
        except ValueError:
            try:
                reference = to_datetime(options.reference_date)
            except ValueError:
                raise ValueError(
                    f"reference_date: not an ISO date or datetime: {options.reference_date!r}"
                ) from None
    return CompiledOptions(options=options, patterns=patterns, key_types=key_types, reference=reference)


_CACHE: dict[int, tuple[HeaderOptions, tuple[Any, ...], CompiledOptions]] = {}


def _compiled_for(options: HeaderOptions | None) -> CompiledOptions:
    """Compile once per options object (re-compiled if the object was mutated)."""
    if options is None:
        options = _DEFAULT_OPTIONS
    # Field values compared by value against a deep copy taken at compile time,
    # so in-place edits (opts.patterns.append(...)) are noticed.
    snapshot = _FIELDS(options)
    hit = _CACHE.get(id(options))
    if hit is not None and hit[0] is options and hit[1] == snapshot:
        return hit[2]
    compiled = compile_options(options)
    if len(_CACHE) > 64:
        _CACHE.clear()
    _CACHE[id(options)] = (options, copy.deepcopy(snapshot), compiled)
    return compiled


_DEFAULT_OPTIONS = HeaderOptions()
_LINE_OF = operator.attrgetter("line")
_FIELDS = operator.attrgetter(*(f.name for f in attrs.fields(HeaderOptions)))


class _Acc:
    """Collects header metadata, consumed lines and warnings for one document."""

    __slots__ = ("fmt", "formats", "lines", "md", "raw_lines", "sources", "warnings")

    def __init__(self) -> None:
        self.md: dict[str, Any] = {}
        self.lines: list[int] = []
        self.warnings: list[HeaderWarning] = []
        self.raw_lines: dict[int, str] = {}
        self.formats: list[str] = []
        self.fmt = ""  # format of the line being read
        self.sources: list[ValueSource] = []

    def consume(self, lineno: int, fmt: str) -> None:
        self.lines.append(lineno)
        self.fmt = fmt
        if fmt not in self.formats:
            self.formats.append(fmt)

    def warn(self, lineno: int, message: str, raw: str, *, keep_raw: bool = True) -> None:
        """Record a warning; ``keep_raw`` puts the raw line into ``header_raw``
        (only for consumed lines: a plugin failing on a body line must not)."""
        self.warnings.append(HeaderWarning(line=lineno, message=message, raw=raw))
        if keep_raw:
            self.raw_lines.setdefault(lineno, raw)

    def set(self, key: Any, value: Any, lineno: int, raw: str) -> None:
        if not isinstance(key, str) or not key:
            self.warn(
                lineno, f"header metadata key must be a non-empty string, got {key!r}; value ignored", raw
            )
            return
        if key in self.md:
            self.warn(lineno, f"duplicate header key {key!r}; first value kept", raw)
            return
        self.md[key] = value
        if key in SOURCED_KEYS:
            source = ValueSource(key=key, line=lineno, rule="header:" + self.fmt, text=raw.strip())
            self.sources.append(source)


def _typed(acc: _Acc, key: str, value: str | list[str], type_name: str, lineno: int, raw: str) -> None:
    if isinstance(value, list):
        if type_name not in ("list", "str"):
            # Keep typed keys typed ("date" is always a date): the raw line is kept instead.
            acc.warn(lineno, f"key {key!r} expects {type_name}, got a list; not stored", raw)
            return
        acc.set(key, value, lineno, raw)
        return
    try:
        acc.set(key, convert(value, type_name), lineno, raw)
    except ValueError as exc:
        acc.warn(lineno, f"key {key!r}: {exc}", raw)


def _date_line(acc: _Acc, m: Any, lineno: int, raw: str) -> None:
    y, mo, d = (int(x) for x in m.group("date").split("-"))
    try:
        day = datetime.date(y, mo, d)
    except ValueError as exc:
        acc.warn(lineno, f"impossible date {m.group('date')!r} in date line: {exc}", raw)
    else:
        acc.set("date", day, lineno, raw)
        if m.group("time"):
            try:
                acc.set("datetime", to_datetime(day.isoformat() + m.group("time")), lineno, raw)
            except ValueError as exc:
                acc.warn(lineno, f"bad time in date line: {exc}", raw)
    rest = m.group("rest").split()
    if rest:
        acc.md.setdefault("header_values", []).extend(rest)


def _is_key_line(line: str | None, key_types: dict[str, str]) -> bool:
    """``line`` is a ``key: value`` line that may continue a header block."""
    m = KEY_VALUE.fullmatch(line.strip()) if line is not None and len(line) <= MAX_HEADER_LINE_CHARS else None
    if m is None or not m.group("value"):
        return False
    key = m.group("key")
    return key.lower() in key_types or CONTINUATION_KEY.fullmatch(key) is not None


def _lone_header_line(value: str, type_name: str) -> bool:
    """A ``key: value`` line that no other header line follows is a header line
    when its value has the shape of its type and is not a sentence of prose."""
    shape = _TYPE_SHAPES.get(type_name)
    if shape is not None:
        try:
            convert(value, type_name)
        except ValueError:
            if not shape.fullmatch(value.strip()):
                return False  # "Updated: New York," is text, not a bad date
    words = value.split()
    if value.rstrip().endswith(","):
        return False  # the sentence goes on
    return len(words) < 8 and not (len(words) >= 4 and _SENTENCE_END.search(value.rstrip()))


def _header(
    lines: _Lines, limit: int, co: CompiledOptions, plugin_parsers: Sequence[HeaderLineParser], acc: _Acc
) -> None:
    opts = co.options
    key_types = co.key_types
    get = lines.get
    i = 0
    while i < limit:
        raw = get(i)
        if raw is None or raw.strip():
            break
        i += 1
    started = False
    while i < limit:
        raw = get(i)
        if raw is None:
            break
        if len(raw) > MAX_HEADER_LINE_CHARS:
            break  # a very long line is prose, never a header line
        line = raw.rstrip("\r")
        if i == 0:
            line = line.lstrip("\ufeff")  # a BOM is encoding residue, not a stray byte
        clean = STRAY.sub("", line)
        stray = clean != line
        if not clean.strip():
            break
        lineno = i + 1
        hit = False

        # (1) config patterns
        for p in co.patterns:
            groups = p.match(clean)
            if groups is None:
                continue
            acc.consume(lineno, f"pattern:{p.name}")
            values, errors = p.convert(groups)
            for k, v in values.items():
                acc.set(k, v, lineno, raw)
            for e in errors:
                acc.warn(lineno, e, raw)
            hit = True
            break

        # (2) plugin parsers
        if not hit:
            for plugin in plugin_parsers:
                name = getattr(plugin, "__name__", type(plugin).__name__)
                try:
                    res = plugin(clean, lineno)
                except Exception as exc:  # noqa: BLE001 - plugin bugs must not stop the document
                    acc.warn(
                        lineno,
                        f"plugin parser {name!r} raised {type(exc).__name__}: {exc}",
                        raw,
                        keep_raw=False,
                    )
                    continue
                if res is None:
                    continue
                if not isinstance(res, Mapping):
                    acc.warn(
                        lineno,
                        f"plugin parser {name!r} returned {type(res).__name__}, not a mapping; ignored",
                        raw,
                        keep_raw=False,
                    )
                    continue
                acc.consume(lineno, f"plugin:{name}")
                for k, v in res.items():
                    acc.set(k, v, lineno, raw)
                hit = True
                break

        # (3) built-ins
        if not hit and not started and opts.front_matter and is_fence(clean):
            fm = parse_front_matter(get, i, limit)
            if fm is None:
                break
            end, entries = fm
            for ln in range(i + 1, end + 2):
                acc.consume(ln, "front_matter")
            if stray:
                acc.warn(lineno, "stray bytes (control characters or U+FFFD) in front-matter fence", raw)
            for e in entries:
                kl = e.key.lower()
                type_name = key_types.get(kl)
                if e.stray:
                    acc.warn(e.line, "stray bytes (control characters or U+FFFD) in front-matter line", e.raw)
                _typed(acc, kl if type_name else e.key, e.value, type_name or "str", e.line, e.raw)
            i = end + 1
            started = True
            continue

        if not hit and opts.builtin_date_line:
            m = DATE_LINE.fullmatch(clean)
            if m:
                acc.consume(lineno, "date_line")
                _date_line(acc, m, lineno, raw)
                hit = True

        if not hit and opts.key_value:
            m = KEY_VALUE.fullmatch(clean)
            value = m.group("value") if m else None
            if m and value and len(value) <= opts.max_value_length:
                key = m.group("key")
                kl = key.lower()
                if (
                    kl in key_types
                    and not started
                    and not _is_key_line(get(i + 1), key_types)
                    and not _lone_header_line(value, key_types[kl])
                ):
                    break  # a lone first line of article text ("Updated: New York, ..."), not a header block
                if kl in key_types:
                    acc.consume(lineno, "key_value")
                    _typed(acc, kl, value, key_types[kl], lineno, raw)
                    hit = True
                elif started and CONTINUATION_KEY.fullmatch(key):
                    # Looks like a header line inside a header block, but the key is
                    # not known: keep it (raw + value) and warn rather than guess.
                    acc.consume(lineno, "key_value")
                    acc.warn(lineno, f"unknown header key {key!r}", raw)
                    acc.md.setdefault("header_unknown", {}).setdefault(key, value)
                    hit = True

        if not hit:
            break
        if stray:
            acc.warn(lineno, "stray bytes (control characters or U+FFFD) in header line", raw)
        started = True
        i += 1


def _reference(md: dict[str, Any], co: CompiledOptions, mtime: Any) -> tuple[datetime.date | None, str]:
    for key in ("datetime", "date"):
        v = md.get(key)
        if isinstance(v, datetime.date):
            return v, "header"
    if co.reference is not None:
        return co.reference, "option"
    if co.options.use_mtime and mtime is not None:
        if isinstance(mtime, datetime.date):
            return mtime, "mtime"
        if isinstance(mtime, (int, float)):  # a POSIX timestamp, e.g. os.stat().st_mtime
            try:
                return datetime.datetime.fromtimestamp(mtime), "mtime"
            except (OverflowError, OSError, ValueError):
                return None, ""
    return None, ""


def parse_document(
    text: str,
    options: HeaderOptions | None = None,
    *,
    plugin_parsers: Sequence[HeaderLineParser] = (),
    mtime: datetime.datetime | None = None,
    compiled: CompiledOptions | None = None,
) -> HeaderResult:
    """Split header lines off ``text`` into typed metadata and extract text metadata.

    ``options``: see ``HeaderOptions`` (default options if None).
    ``plugin_parsers``: callables ``(line, lineno) -> Mapping | None`` tried
    after config patterns and before built-ins, in order.
    ``mtime``: the file's modification time (datetime, or POSIX timestamp);
    used only when ``options.use_mtime`` and no better reference exists.
    ``compiled``: result of ``compile_options(options)`` to skip per-call
    validation; when given it is used instead of ``options`` (otherwise the
    options are compiled once per options object and cached).

    Never raises for any ``str`` input; problems are ``HeaderWarning``s.
    Raises ``ValueError`` only for invalid options.
    """
    co = compiled if compiled is not None else _compiled_for(options)
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    try:
        return _parse(text, co, plugin_parsers, mtime)
    except Exception as exc:  # noqa: BLE001 - last-resort guard; tests assert it never fires
        return HeaderResult(
            text=text,
            metadata={},
            header_lines=(),
            warnings=(
                HeaderWarning(
                    line=0,
                    message=f"internal error, document left unchanged: {type(exc).__name__}: {exc}",
                    raw="",
                ),
            ),
        )


class _Lines:
    """Lines of ``text`` split on demand (as ``text.split("\n")`` gives them).

    Only the top of a document is ever looked at, so splitting stops there;
    ``split("\n", n)`` would also copy the whole remainder of a large text.
    """

    __slots__ = ("lines", "pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines: list[str] = []
        self.pos = 0  # offset of the unsplit rest; -1 once every line is split

    def get(self, i: int) -> str | None:
        """Line ``i`` (0-based) or None past the end."""
        lines = self.lines
        while len(lines) <= i:
            pos = self.pos
            if pos < 0:
                return None
            j = self.text.find("\n", pos)
            if j < 0:
                lines.append(self.text[pos:])
                self.pos = -1
            else:
                lines.append(self.text[pos:j])
                self.pos = j + 1
        return lines[i]


def _parse(
    text: str, co: CompiledOptions, plugin_parsers: Sequence[HeaderLineParser], mtime: Any
) -> HeaderResult:
    opts = co.options
    lines = _Lines(text)
    acc = _Acc()
    _header(lines, opts.max_header_lines, co, plugin_parsers, acc)

    md = acc.md
    consumed = set(acc.lines)
    if consumed and max(consumed) == len(consumed):
        # Common case: the header is lines 1..k; one slice, no re-join of the rest.
        k = len(consumed)
        out = text[sum(len(p) for p in lines.lines[:k]) + k :]
    elif consumed:
        kept = [p for idx, p in enumerate(lines.lines, 1) if idx not in consumed]
        if lines.pos >= 0:
            kept.append(text[lines.pos :])
        out = "\n".join(kept)
    else:
        out = text  # nothing consumed: no copy

    # Extractors read the first non-blank lines left after the header.
    if opts.title or opts.outlet or opts.dateline or opts.relative_dates:
        items: list[tuple[int, str]] = []
        start = max(consumed) if consumed else 0
        stop = start + _EXTRA_SPLIT
        split = lines.lines
        for idx in range(start, min(stop, len(split))):  # lines the header already split
            s = split[idx].strip()
            if s and idx + 1 not in consumed:
                items.append((idx + 1, s))
                if len(items) >= WINDOW:
                    break
        else:
            # Split the rest here, in one loop (no call per line): this runs for every document.
            # Only the header lines of ``lines`` are read after this, so these are not kept in it.
            idx, pos, find = len(split), lines.pos, text.find
            while pos >= 0 and idx < stop:
                j = find("\n", pos)
                s = text[pos:j].strip() if j >= 0 else text[pos:].strip()
                pos = j + 1 if j >= 0 else -1
                idx += 1
                if s:
                    items.append((idx, s))
                    if len(items) >= WINDOW:
                        break
        found, rel, found_src = extract(
            items,
            title=opts.title,
            outlet=opts.outlet,
            dateline=opts.dateline,
            relative_dates=opts.relative_dates,
            existing=frozenset(md),
        )
        for k, v in found.items():
            md.setdefault(k, v)
        if found_src:
            texts = dict(items)
            for k, (ln, rule) in found_src.items():
                acc.sources.append(ValueSource(key=k, line=ln, rule=rule, text=texts.get(ln, "")))
        if rel is not None and "relative_date" not in md:
            md["relative_date"] = rel.text
            ref, source = _reference(md, co, mtime)
            if ref is not None:
                try:
                    md["relative_date_resolved"] = dates.resolve(rel, ref)
                    md["relative_date_reference"] = source
                except (OverflowError, ValueError):
                    pass  # absurd amount ("9999 years ago"): keep it relative

    if acc.raw_lines:
        md["header_raw"] = [acc.raw_lines[k] for k in sorted(acc.raw_lines)]
    if acc.formats:
        md["header_formats"] = acc.formats
    header_lines = tuple(sorted(consumed))
    return HeaderResult(
        text=out,
        metadata=md,
        header_lines=header_lines,
        warnings=tuple(acc.warnings),
        header_text=tuple(lines.lines[n - 1] for n in header_lines),
        sources=tuple(sorted(acc.sources, key=_LINE_OF)) if acc.sources else (),
    )
