"""Header-line formats: config patterns (compiled and validated here) and the built-ins.

Order in which a candidate header line is tried (first match wins):

1. config patterns (``HeaderOptions.patterns``, in list order),
2. plugin parsers (``parse_document(..., plugin_parsers=...)``, in order),
3. built-ins: front matter opener ``---`` (first header position only), the
   date line ``date YYYY-MM-DD [values...]``, then ``key: value``.

Built-in ``key: value`` grammar (conservative, to keep prose such as
``Brussels: NATO is unlikely ...`` out of the header):

* a block can only *start* with a key from ``known_keys`` (case-insensitive),
  a non-empty value no longer than ``max_value_length``;
* once a header has started, a further line is taken as a header line (an
  *unknown key*, with a warning) only if its key is a lowercase ASCII
  identifier (``[a-z][a-z0-9_.-]{0,31}``) with a short non-empty value;
* a blank line or any other line ends the header.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from .convert import convert
from .model import VALUE_TYPES, HeaderOptions

#: Control characters (except TAB), DEL, C1 controls, U+FFFD and lone
#: surrogates (``surrogateescape``-decoded bytes): "stray bytes" in a header line.
STRAY = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffd\ud800-\udfff]")

#: Built-in seed form: `` date 2025-07-07 403`` (date shape checked, validity later).
DATE_LINE = re.compile(
    r"\s*date\s+(?P<date>\d{4}-\d{1,2}-\d{1,2})"
    r"(?P<time>T\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
    r"(?P<rest>(?:\s+\S+){0,20})\s*",
    re.IGNORECASE,
)

#: ``key: value`` (colon followed by whitespace or end, so URLs are not keys).
KEY_VALUE = re.compile(r"\s*(?P<key>[A-Za-z][A-Za-z0-9_.-]{0,31})\s*:(?:\s+(?P<value>.*?))?\s*")

#: Keys that may continue (not start) a block: lowercase ASCII identifiers.
CONTINUATION_KEY = re.compile(r"[a-z][a-z0-9_.-]{0,31}")

FRONT_MATTER_FENCE = re.compile(r"\s*---\s*")
FRONT_MATTER_ITEM = re.compile(r"\s*-\s+(?P<value>.*?)\s*")
FRONT_MATTER_COMMENT = re.compile(r"\s*#.*")


@attrs.frozen
class CompiledPattern:
    """One validated config pattern."""

    index: int
    name: str
    regex: re.Pattern[str]
    types: dict[str, str]

    def match(self, line: str) -> dict[str, Any] | None:
        """Return raw group strings if the (stripped) line matches, else None."""
        m = self.regex.fullmatch(line.strip())
        if m is None:
            return None
        return {k: v for k, v in m.groupdict().items() if v is not None}

    def convert(self, groups: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
        """Typed values plus error messages for groups that failed to convert."""
        out: dict[str, Any] = {}
        errors: list[str] = []
        for key, raw in groups.items():
            try:
                out[key] = convert(raw, self.types.get(key, "str"))
            except ValueError as exc:
                errors.append(f"pattern {self.name}: group {key!r}: {exc}")
        return out, errors


def compile_patterns(options: HeaderOptions) -> list[CompiledPattern]:
    """Validate and compile ``options.patterns``.

    Raises ``ValueError("patterns[<i>]: <problem>")`` for: an entry that is
    not a dict, a missing/non-str ``regex``, a regex that does not compile,
    a regex without named groups, ``types`` not a dict, a type naming a group
    the regex lacks, or an unknown type name.
    """
    compiled: list[CompiledPattern] = []
    for i, spec in enumerate(options.patterns):
        where = f"patterns[{i}]"
        if not isinstance(spec, dict):
            raise ValueError(
                f"{where}: expected a table/dict with 'regex' and 'types', got {type(spec).__name__}"
            )
        unknown = set(spec) - {"regex", "types", "name"}
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: regex, types, name")
        regex = spec.get("regex")
        if not isinstance(regex, str) or not regex:
            raise ValueError(f"{where}: 'regex' must be a non-empty string")
        try:
            rx = re.compile(regex)
        except re.error as exc:
            raise ValueError(f"{where}: invalid regex {regex!r}: {exc}") from None
        if not rx.groupindex:
            raise ValueError(f"{where}: regex {regex!r} has no named groups (use (?P<name>...))")
        types = spec.get("types", {})
        if not isinstance(types, dict):
            raise ValueError(f"{where}: 'types' must be a table/dict of group -> type")
        for group, type_name in types.items():
            if group not in rx.groupindex:
                raise ValueError(
                    f"{where}: 'types' names group {group!r} which the regex does not define "
                    f"(groups: {sorted(rx.groupindex)})"
                )
            if type_name not in VALUE_TYPES:
                raise ValueError(
                    f"{where}: group {group!r} has unknown type {type_name!r}; allowed: {', '.join(VALUE_TYPES)}"
                )
        name = spec.get("name", str(i))
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}: 'name' must be a non-empty string")
        compiled.append(CompiledPattern(index=i, name=name, regex=rx, types=dict(types)))
    return compiled


def compile_known_keys(options: HeaderOptions) -> dict[str, str]:
    """``known_keys`` entries (``name`` or ``name:type``) -> {lowercased name: type}.

    Raises ``ValueError("known_keys[<i>]: ...")`` on a bad entry.
    """
    out: dict[str, str] = {}
    for i, entry in enumerate(options.known_keys):
        if not isinstance(entry, str) or not entry.strip():
            raise ValueError(f"known_keys[{i}]: expected 'name' or 'name:type', got {entry!r}")
        name, _, type_name = entry.strip().partition(":")
        name = name.strip().lower()
        type_name = type_name.strip() or "str"
        if not re.fullmatch(r"[a-z][a-z0-9_.-]{0,31}", name):
            raise ValueError(f"known_keys[{i}]: bad key name {name!r} (letters, digits, _ . -; max 32)")
        if type_name not in VALUE_TYPES:
            raise ValueError(
                f"known_keys[{i}]: unknown type {type_name!r}; allowed: {', '.join(VALUE_TYPES)}"
            )
        out[name] = type_name
    return out
