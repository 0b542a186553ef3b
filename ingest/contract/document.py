"""The document model: what flows through a pipeline.

A :class:`Document` is created by a source, changed by stages, and either
written by the sink or recorded in the ledger as dropped. Stages never
mutate the document they were given in place when they can avoid it; they
return an evolved copy (``attrs.evolve``) so a failing stage cannot leave a
half-changed document behind.
"""

from __future__ import annotations

import copyreg
from typing import Any

import attrs


@attrs.frozen
class Origin:
    """Where a document came from.

    ``path`` is the file it was read from (absolute, as a string), ``source``
    the name of the source plugin, ``line`` the 1-based line for sources that
    hold many documents per file (JSONL), ``mtime`` the file's modification
    time as a POSIX timestamp when the source knows it.
    """

    source: str
    path: str | None = None
    line: int | None = None
    mtime: float | None = None

    def __reduce__(self) -> Any:
        return _reduce(self, Origin, (self.source, self.path, self.line, self.mtime))


@attrs.frozen
class StageEvent:
    """One thing a stage did to a document, kept in :attr:`Document.history`.

    ``stage`` is the stage id from the config, ``action`` a short verb such as
    ``"parsed_header"`` or ``"removed_lines"``, and ``details`` any JSON-able
    data that explains it (for removed lines: each line with the rule that
    removed it).
    """

    stage: str
    action: str
    details: dict[str, Any] = attrs.field(factory=dict)

    def __reduce__(self) -> Any:
        return _reduce(self, StageEvent, (self.stage, self.action, self.details))


@attrs.define
class Document:
    """A document: a stable id, its text, typed metadata, provenance, history.

    Build one directly (``Document(id="a", text="...")``) or with the named
    constructors; the id must be unique within a run (by default sources use
    the file's path relative to the input root).
    """

    id: str = attrs.field(validator=attrs.validators.instance_of(str))
    text: str = attrs.field(validator=attrs.validators.instance_of(str))
    metadata: dict[str, Any] = attrs.field(factory=dict)
    origin: Origin | None = None
    history: list[StageEvent] = attrs.field(factory=list)

    @classmethod
    def from_any(cls, item: Document | str | dict[str, Any], *, default_id: str) -> Document:
        """Coerce what an ETL job hands us (a Document, a string, a dict).

        A dict needs ``text``; ``id`` and ``metadata`` are optional. A string
        becomes the text of a document with ``default_id``.
        """
        if isinstance(item, Document):
            return item
        if isinstance(item, str):
            return cls(id=default_id, text=item, origin=Origin(source="memory"))
        if isinstance(item, dict):
            if "text" not in item or not isinstance(item["text"], str):
                raise TypeError(f"document {item.get('id', default_id)!r}: a dict needs a string 'text'")
            unknown = set(item) - {"id", "text", "metadata"}
            if unknown:
                raise TypeError(
                    f"document {item.get('id', default_id)!r}: unknown keys {sorted(unknown)}; "
                    "allowed: id, text, metadata"
                )
            return cls(
                id=str(item.get("id", default_id)),
                text=item["text"],
                metadata=dict(item.get("metadata") or {}),
                origin=Origin(source="memory"),
            )
        raise TypeError(
            f"cannot make a Document from {type(item).__name__}; give a Document, a str or a dict"
        )

    def with_event(self, stage: str, action: str, **details: Any) -> Document:
        """Return a copy with one more :class:`StageEvent` in its history."""
        history = [*self.history, StageEvent(stage, action, details)]
        if type(self) is Document:  # the common case, without attrs.evolve's per-call field walk
            return Document(self.id, self.text, self.metadata, self.origin, history)
        return attrs.evolve(self, history=history)

    def __reduce__(self) -> Any:
        return _reduce(self, Document, (self.id, self.text, self.metadata, self.origin, self.history))


def _reduce(obj: Any, cls: type, fields: tuple[Any, ...]) -> Any:
    """Pickle as a call of the class with its fields.

    Documents cross process boundaries (worker pools, spools) several times
    per run; attrs' default pickling restores every object through a
    Python-level ``__setstate__``, which made unpickling a document with its
    history about 1.7x slower. Subclasses (which may add fields) keep the
    default.
    """
    if type(obj) is not cls:
        return copyreg.__newobj__, (type(obj),), obj.__getstate__()  # type: ignore[attr-defined]
    return cls, fields


@attrs.frozen
class Drop:
    """Returned by a per-document stage to drop the document it was given.

    ``reason`` is a short machine-friendly label (``"exact_duplicate"``,
    ``"too_short"``), ``duplicate_of`` the id of the kept document this one
    duplicates, ``details`` anything else worth recording (a similarity, a
    rule name).
    """

    reason: str
    duplicate_of: str | None = None
    details: dict[str, Any] = attrs.field(factory=dict)
