"""Survivor policies: which member of a duplicate cluster is kept."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

POLICIES = ("longest", "earliest", "preferred_outlets", "first_seen")
_NO_DATE = 10**9  # sorts after every real date ordinal


def date_ordinal(value: Any) -> int:
    """Ordinal of a ``date``/``datetime``/ISO string metadata value; documents
    without a usable date sort after all dated ones."""
    if isinstance(value, datetime.datetime):
        return value.date().toordinal()
    if isinstance(value, datetime.date):
        return value.toordinal()
    if isinstance(value, str) and value.strip():
        s = value.strip()
        try:
            return datetime.date.fromisoformat(s[:10]).toordinal()
        except ValueError:
            try:
                return datetime.datetime.fromisoformat(s).date().toordinal()
            except ValueError:
                return _NO_DATE
    return _NO_DATE


def policy_rank(
    policy: str,
    *,
    length: int,
    metadata: Mapping[str, Any] | None,
    date_key: str,
    outlet_key: str,
    preferred_outlets: Sequence[str],
) -> int:
    """Per-document rank for ``policy`` (smaller wins), computed at add() time
    so metadata need not be kept. ``first_seen`` ranks by sequence number and
    is handled by the caller (rank 0 here)."""
    md = metadata or {}
    if policy == "longest":
        return -length
    if policy == "earliest":
        return date_ordinal(md.get(date_key))
    if policy == "preferred_outlets":
        outlet = md.get(outlet_key)
        try:
            return list(preferred_outlets).index(outlet)
        except ValueError:
            return len(preferred_outlets)
    if policy == "first_seen":
        return 0
    raise ValueError(f"unknown survivor policy {policy!r}; expected one of {', '.join(POLICIES)}")
