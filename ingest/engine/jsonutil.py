"""JSON encoding of documents and records for sinks and reports.

Record files (one JSON object per line) are written with :func:`record_line`:
compact separators and UTF-8 text as is. With orjson installed (the ``fast``
extra) each line is encoded about ten times faster; the bytes are the same
as the standard library's except for floats that need an exponent (``1e-7``
rather than ``1e-07``) and NaN/infinity (``null`` rather than the invalid
``NaN``). Values orjson refuses (integers beyond 64 bits, non-string keys,
lone surrogates, float subclasses such as numpy's) fall back to the standard
library, so nothing that encoded before fails now.
"""

from __future__ import annotations

import datetime
import enum
import json
import re
from pathlib import PurePath
from typing import Any

import attrs

try:  # optional: the ``fast`` extra
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised by monkeypatching in tests
    _orjson = None  # type: ignore[assignment]

from ingest.contract.document import Document
from ingest.contract.ledger import DropRecord


def to_jsonable(value: Any) -> Any:
    """Dates as ISO strings, attrs objects as dicts, sets as sorted lists."""
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, PurePath):
        return str(value)
    if attrs.has(type(value)):
        return attrs.asdict(value, recurse=True, value_serializer=lambda _i, _a, v: to_jsonable(v))
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(obj: Any, **kwargs: Any) -> str:
    return json.dumps(obj, default=to_jsonable, ensure_ascii=False, **kwargs)


def record_line(obj: Any) -> bytes:
    """``obj`` as one compact JSON line, UTF-8 encoded, newline included."""
    if _orjson is not None:
        try:
            return _orjson.dumps(obj, default=to_jsonable, option=_orjson.OPT_APPEND_NEWLINE)
        except (TypeError, _orjson.JSONEncodeError):
            pass  # something only the standard library encodes (see the module docstring)
    return (json.dumps(obj, default=to_jsonable, ensure_ascii=False, separators=(",", ":")) + "\n").encode(
        "utf-8"
    )


#: What encoding one record can raise because of its content (a lone
#: surrogate, an integer past Python's 4,300-digit conversion limit, a value
#: JSON cannot hold, nesting deeper than the interpreter's recursion limit).
ENCODING_ERRORS = (UnicodeEncodeError, ValueError, TypeError, RecursionError, OverflowError)

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
#: Depth past which :func:`json_safe` stops descending.
SAFE_DEPTH = 100


def json_safe(value: Any, depth: int = 0) -> Any:
    """``value`` with whatever :func:`record_line` cannot encode replaced:
    lone surrogates by U+FFFD, integers too long for text by a note of their
    size, other objects by their type's name, nesting past :data:`SAFE_DEPTH`
    by a marker. For the records that must be written whatever they hold."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        return value if value.bit_length() < 10_000 else f"<integer of {value.bit_length()} bits>"
    if depth >= SAFE_DEPTH:
        return f"<nested deeper than {SAFE_DEPTH} levels>"
    if isinstance(value, dict):
        return {str(json_safe(k, depth + 1)): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, depth + 1) for v in value]
    try:
        return json_safe(to_jsonable(value), depth + 1)
    except Exception:  # noqa: BLE001 - anything left is named, not encoded
        return f"<{type(value).__name__}>"


def document_record(doc: Document, *, history: bool = True) -> dict[str, Any]:
    """The JSON object a sink writes for a kept document."""
    record: dict[str, Any] = {"id": doc.id, "text": doc.text, "metadata": doc.metadata}
    if doc.origin is not None and doc.origin.path:
        record["path"] = doc.origin.path
    if history:
        record["history"] = history_records(doc.history)
    return record


def history_records(doc_history: list[Any]) -> list[dict[str, Any]]:
    """A document's history as JSON objects: ``{"stage", "action", ...details}``."""
    return [{"stage": e.stage, "action": e.action, **e.details} for e in doc_history]


def drop_record(record: DropRecord, *, text: bool = True, history: bool = True) -> dict[str, Any]:
    """The JSON object a sink writes for a dropped document."""
    out: dict[str, Any] = {"id": record.id, "stage": record.stage, "reason": record.reason}
    if record.duplicate_of is not None:
        out["duplicate_of"] = record.duplicate_of
    if record.plugin:
        out["plugin"] = record.plugin
    if record.details:
        out["details"] = record.details
    if record.path:
        out["path"] = record.path
    if record.metadata:
        out["metadata"] = record.metadata
    if history and record.history:
        out["history"] = history_records(record.history)
    if text and record.text is not None:
        out["text"] = record.text
    return out
