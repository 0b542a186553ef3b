"""Typed conversion of header values (types: date, datetime, int, float, str, list).

Conversions raise ``ValueError`` with a short message; callers turn that into
a ``HeaderWarning`` (never into an exception leaving ``parse_document``).
"""

from __future__ import annotations

import datetime
import email.utils
import re
from typing import Any, Callable

# Non-ISO date spellings seen in headers; tried after ISO so the common case is fast.
_DATE_FORMATS = (
    "%Y/%m/%d",
    "%d.%m.%Y",
    "%d %B %Y",
    "%d %b %Y",
    "%B %d, %Y",
    "%b %d, %Y",
    "%B %d %Y",
    "%A, %B %d, %Y",
    "%a, %d %b %Y",
)


def _rfc2822(v: str) -> datetime.datetime | None:
    """``Mon, 07 Jul 2025 10:00:00 +0000`` (feeds, mail headers) or None."""
    try:
        return email.utils.parsedate_to_datetime(v)
    except (TypeError, ValueError, IndexError):
        return None


def to_date(value: str) -> datetime.date:
    """ISO date (``2025-07-07``), ISO datetime (time dropped; use type
    ``datetime`` to keep it), ``2025/07/07``, ``07.07.2025``, ``7 July 2025``,
    ``July 7, 2025``, ``Monday, July 7, 2025`` or RFC 2822."""
    v = value.strip()
    try:
        return datetime.date.fromisoformat(v)
    except ValueError:
        pass
    try:
        return datetime.datetime.fromisoformat(v.replace("Z", "+00:00")).date()
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.datetime.strptime(v, fmt).date()
        except ValueError:
            continue
    dt = _rfc2822(v) if "," in v or ":" in v else None
    if dt is not None:
        return dt.date()
    raise ValueError(f"not a valid date: {value!r}")


def to_datetime(value: str) -> datetime.datetime:
    """ISO datetime (a plain ISO date gives midnight; ``Z`` = UTC) or RFC 2822."""
    v = value.strip()
    try:
        return datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        pass
    dt = _rfc2822(v)
    if dt is not None:
        return dt
    raise ValueError(f"not a valid datetime: {value!r}")


def to_int(value: str) -> int:
    try:
        return int(value.strip().replace("_", ""))
    except ValueError:
        raise ValueError(f"not an integer: {value!r}") from None


def to_float(value: str) -> float:
    try:
        return float(value.strip())
    except ValueError:
        raise ValueError(f"not a number: {value!r}") from None


def to_str(value: str) -> str:
    return value.strip()


_INLINE_LIST = re.compile(r"^\[(.*)\]$")


def to_list(value: str) -> list[str]:
    """Comma-separated (``a, b``) or bracketed (``[a, b]``) list of strings."""
    v = value.strip()
    m = _INLINE_LIST.match(v)
    if m:
        v = m.group(1)
    return [unquote(x.strip()) for x in v.split(",") if x.strip()]


def unquote(value: str) -> str:
    """Remove one pair of matching surrounding quotes (front-matter style)."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


CONVERTERS: dict[str, Callable[[str], Any]] = {
    "date": to_date,
    "datetime": to_datetime,
    "int": to_int,
    "float": to_float,
    "str": to_str,
    "list": to_list,
}


def convert(value: str, type_name: str) -> Any:
    """Convert ``value`` to ``type_name``; raises ``ValueError`` on failure."""
    return CONVERTERS[type_name](value)
