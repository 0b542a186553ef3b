"""The document model: pickling (workers and spools move documents between
processes and through files several times a run)."""

from __future__ import annotations

import copy
import datetime
import pickle

import attrs
import pytest

from ingest import Document
from ingest.contract.document import Origin, StageEvent


def _document() -> Document:
    return Document(
        id="news/a.txt",
        text="Body line.\nSecond line.",
        metadata={"date": datetime.date(2025, 7, 7), "header_values": ["403"]},
        origin=Origin(source="text_files", path="/in/news/a.txt", line=None, mtime=1.5),
        history=[
            StageEvent("header", "parsed_header", {"line": 1}),
            StageEvent(
                "boilerplate", "removed_lines", {"lines": [{"line": 3, "rule": "promo", "text": "Buy"}]}
            ),
        ],
    )


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_document_survives_pickling(protocol: int) -> None:
    doc = _document()
    back = pickle.loads(pickle.dumps(doc, protocol))
    assert back == doc
    assert type(back.history[0]) is StageEvent and type(back.origin) is Origin
    assert back.metadata["date"] == datetime.date(2025, 7, 7)


@attrs.define
class TaggedDocument(Document):
    """A plugin's subclass with a field of its own."""

    tag: str = "none"


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_subclass_keeps_its_type_and_fields(protocol: int) -> None:
    doc = TaggedDocument(id="b", text="t", tag="mine", history=[StageEvent("s", "a")])
    back = pickle.loads(pickle.dumps(doc, protocol))
    assert type(back) is TaggedDocument
    assert back == doc and back.tag == "mine"


def test_copies_are_equal_and_independent() -> None:
    doc = _document()
    deep = copy.deepcopy(doc)
    assert deep == doc
    deep.metadata["header_values"].append("x")
    assert doc.metadata["header_values"] == ["403"]
    assert copy.copy(doc) == doc
