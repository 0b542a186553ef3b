"""``ingest explain DOC_ID``: what happened to one document, line by line.

Reads a finished run's output folder (``documents.jsonl`` and
``dropped.jsonl`` of the ``jsonl`` sink) and shows the document's fate,
metadata, every stage's record (removed lines with the rule that removed
them) and the final text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO


def _records(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def find_document(output_dir: str | Path, doc_id: str) -> tuple[str, dict[str, Any]] | None:
    """Return ``("kept" | "dropped", record)`` for ``doc_id``, or None."""
    folder = Path(output_dir)
    for status, name in (("kept", "documents.jsonl"), ("dropped", "dropped.jsonl")):
        for record in _records(folder / name):
            if record.get("id") == doc_id:
                return status, record
    return None


def similar_ids(output_dir: str | Path, doc_id: str, limit: int = 5) -> list[str]:
    import difflib

    folder = Path(output_dir)
    ids = [r["id"] for name in ("documents.jsonl", "dropped.jsonl") for r in _records(folder / name)]
    return difflib.get_close_matches(doc_id, ids, n=limit, cutoff=0.3)


def render(status: str, record: dict[str, Any], out: TextIO) -> None:
    """Write a human-readable account of one document."""
    out.write(f"{record['id']}: {status.upper()}")
    if status == "dropped":
        out.write(f" by stage {record.get('stage')!r}, reason {record.get('reason')!r}")
        if record.get("duplicate_of"):
            out.write(f", duplicate of {record['duplicate_of']!r}")
    out.write("\n")
    if record.get("path"):
        out.write(f"  path: {record['path']}\n")
    if record.get("details"):
        for key, value in record["details"].items():
            out.write(f"  {key}: {value}\n")
    metadata = record.get("metadata") or {}
    if metadata:
        out.write("metadata:\n")
        for key, value in metadata.items():
            out.write(f"  {key}: {json.dumps(value, ensure_ascii=False)}\n")
    history = record.get("history") or []
    if history:
        out.write("history:\n")
    for event in history:
        details = {k: v for k, v in event.items() if k not in ("stage", "action")}
        lines = details.pop("lines", None)
        summary = ", ".join(f"{k}={v}" for k, v in details.items() if not isinstance(v, (list, dict)))
        out.write(f"  [{event['stage']}] {event['action']}{': ' + summary if summary else ''}\n")
        for line in lines or []:
            if isinstance(line, dict):
                number = line.get("line", "?")
                rule = line.get("rule", "")
                out.write(f"    - {number:>4} {rule:<22} {line.get('text', '')}\n")
            else:
                out.write(f"    - {line}\n")
        for key, value in details.items():
            if isinstance(value, list) and value:
                for item in value:
                    out.write(f"    {key}: {item}\n")
    text = record.get("text")
    if text is not None:
        out.write("text (kept):\n" if status == "kept" else "text (when dropped):\n")
        for line in text.split("\n"):
            out.write(f"    + {line}\n")
