"""Relative dates ("2 days ago", "an hour ago", "3 hrs ago", "yesterday").

A relative date is only turned into an absolute date against a reference
(see ``resolve``); without one it stays relative text.  Resolution rules:

* seconds/minutes/hours: against a ``datetime`` reference the exact instant's
  date; against a date-only reference the reference date itself (the offset
  is below the reference's resolution);
* days/weeks: calendar subtraction; months/years: calendar month arithmetic
  with the day clamped to the month's length (31 Mar - 1 month = 28/29 Feb);
* ``yesterday`` = reference - 1 day; ``today``/``just now`` = reference.
"""

from __future__ import annotations

import calendar
import datetime
import re

import attrs

_UNIT_ALIASES: dict[str, str] = {}
for _unit, _aliases in {
    "second": ("s", "sec", "secs", "second", "seconds"),
    "minute": ("m", "min", "mins", "minute", "minutes"),
    "hour": ("h", "hr", "hrs", "hour", "hours"),
    "day": ("d", "day", "days"),
    "week": ("w", "wk", "wks", "week", "weeks"),
    "month": ("mo", "mos", "month", "months"),
    "year": ("y", "yr", "yrs", "year", "years"),
}.items():
    for _a in _aliases:
        _UNIT_ALIASES[_a] = _unit

_FULL_UNITS = r"(?:seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|wks?|months?|mos?|years?|yrs?)"
_ANY_UNITS = (
    r"(?:seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|wks?|months?|mos?|years?|yrs?|[smhdwy])"
)

# Deliberately no leading \b: bylines glue words together ("Russia Today2 days
# ago", "timean hour ago"); callers only apply this to short byline-like lines.
RELATIVE_SUFFIX = re.compile(
    rf"(?:(?P<n>\d{{1,4}})\s*(?P<unit>{_ANY_UNITS})|(?P<article>an?|one)\s+(?P<unit2>{_FULL_UNITS}))\s+ago\s*$"
    r"|(?P<word>yesterday)\s*$",
    re.IGNORECASE,
)
# "today" / "just now" only as a whole line: as a suffix "today" would eat the
# outlet name "Russia Today".
RELATIVE_WHOLE = re.compile(r"\s*(?P<word>today|just now|now)\s*", re.IGNORECASE)


@attrs.frozen
class RelativeDate:
    """A parsed relative date: ``amount`` ``unit`` before the reference."""

    text: str  # normalised text as found, e.g. "2 days ago"
    amount: int
    unit: str  # second|minute|hour|day|week|month|year


def _from_match(m: re.Match[str]) -> RelativeDate:
    word = m.group("word")
    if word:
        w = word.lower()
        return RelativeDate(text=w, amount=1 if w == "yesterday" else 0, unit="day")
    if m.group("n") is not None:
        amount = int(m.group("n"))
        unit = _UNIT_ALIASES[m.group("unit").lower()]
    else:
        amount = 1
        unit = _UNIT_ALIASES[m.group("unit2").lower()]
    text = " ".join(m.group(0).split())
    return RelativeDate(text=text, amount=amount, unit=unit)


def find_relative_suffix(line: str) -> tuple[str, RelativeDate] | None:
    """Split ``"Russia Today2 days ago"`` into ``("Russia Today", RelativeDate(...))``.

    Returns ``(prefix, relative)`` or ``None`` if the line does not end in a
    relative date.  A whole-line ``today``/``just now`` gives prefix ``""``.
    """
    low = line.lower()
    if "ago" not in low and "yesterday" not in low and "now" not in low and "today" not in low:
        return None  # what both patterns need; most lines have none of it, and this is cheaper
    m = RELATIVE_WHOLE.fullmatch(line)
    if m:
        return "", _from_match(m)
    m = RELATIVE_SUFFIX.search(line)
    if m is None:
        return None
    return line[: m.start()], _from_match(m)


def parse_relative(text: str) -> RelativeDate | None:
    """Parse a line that is *only* a relative date (``"3 hrs ago"``)."""
    found = find_relative_suffix(text.strip())
    if found is None or found[0].strip():
        return None
    return found[1]


def _minus_months(d: datetime.date, months: int) -> datetime.date:
    total = d.year * 12 + (d.month - 1) - months
    year, month = divmod(total, 12)
    month += 1
    day = min(d.day, calendar.monthrange(year, month)[1])
    return d.replace(year=year, month=month, day=day)


def resolve(rel: RelativeDate, reference: datetime.date) -> datetime.date:
    """Absolute date of ``rel`` against ``reference`` (a date or datetime).

    Raises ``OverflowError``/``ValueError`` only for absurd amounts (year < 1);
    the caller turns that into "not resolved".
    """
    is_dt = isinstance(reference, datetime.datetime)
    if rel.unit in ("second", "minute", "hour"):
        if not is_dt:
            return reference
        delta = datetime.timedelta(**{rel.unit + "s": rel.amount})
        return (reference - delta).date()  # type: ignore[operator]
    base = reference.date() if is_dt else reference  # type: ignore[union-attr]
    if rel.unit == "day":
        return base - datetime.timedelta(days=rel.amount)
    if rel.unit == "week":
        return base - datetime.timedelta(weeks=rel.amount)
    if rel.unit == "month":
        return _minus_months(base, rel.amount)
    return _minus_months(base, 12 * rel.amount)
