"""The five seed documents (see /work/shared/corpus/SEEDS.md)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from ingest_plugins.header import HeaderOptions, parse_document

SEEDS = Path(__file__).parent.parent / "samples" / "seeds"


def seed(prefix: str) -> str:
    (path,) = SEEDS.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


def lines(text: str) -> list[str]:
    return text.split("\n")


def test_000_header_date_values_title_outlet() -> None:
    text = seed("000")
    r = parse_document(text)
    assert r.metadata["date"] == datetime.date(2025, 7, 7)
    assert type(r.metadata["date"]) is datetime.date
    assert r.metadata["header_values"] == ["403"]
    assert r.header_lines == (1,)
    assert r.warnings == ()
    assert "date 2025-07-07" not in r.text
    assert lines(r.text) == lines(text)[1:]
    assert r.metadata["title"] == "Strained NATO Talks with Kiev Hit Stalemate"
    assert r.metadata["title_line"] == 2
    assert r.metadata["outlet"] == "MENAFN"
    assert "header_raw" not in r.metadata


def test_001_no_header_no_title() -> None:
    text = seed("001")
    r = parse_document(text)
    assert r.text == text
    assert r.header_lines == ()
    assert r.warnings == ()
    assert "title" not in r.metadata
    assert "date" not in r.metadata


def test_002_title_after_blank_line() -> None:
    text = seed("002")
    r = parse_document(text)
    assert r.metadata["title"] == "NATO talks becoming toxic"
    assert r.metadata["title_line"] == 2
    assert r.text == text
    # The "Russia Today" bylines belong to unrelated stories far below the article.
    assert "outlet" not in r.metadata


def test_003_title_once_outlet_relative_date() -> None:
    text = seed("003")
    r = parse_document(text)
    assert r.metadata["title"] == "NATO talk becoming toxic"
    assert r.metadata["title_repeated"] is True
    assert r.metadata["outlet"] == "Russia Today"
    assert r.metadata["relative_date"] == "2 days ago"
    assert "relative_date_resolved" not in r.metadata  # no reference date known
    assert r.text == text  # extraction never removes lines


def test_003_relative_date_resolved_with_reference() -> None:
    r = parse_document(seed("003"), HeaderOptions(reference_date="2025-07-09"))
    assert r.metadata["relative_date"] == "2 days ago"
    assert r.metadata["relative_date_resolved"] == datetime.date(2025, 7, 7)
    assert r.metadata["relative_date_reference"] == "option"


def test_003_relative_date_resolved_with_mtime_only_if_asked() -> None:
    mtime = datetime.datetime(2025, 7, 10, 12, 0)
    assert "relative_date_resolved" not in parse_document(seed("003"), mtime=mtime).metadata
    r = parse_document(seed("003"), HeaderOptions(use_mtime=True), mtime=mtime)
    assert r.metadata["relative_date_resolved"] == datetime.date(2025, 7, 8)
    assert r.metadata["relative_date_reference"] == "mtime"


def test_004_title_and_dateline() -> None:
    text = seed("004")
    r = parse_document(text)
    assert r.metadata["title"] == lines(text)[0].strip()
    assert r.metadata["dateline"] == "Brussels"
    assert r.metadata["dateline_line"] == 5
    assert r.header_lines == ()
    assert r.text == text


@pytest.mark.parametrize("prefix", ["000", "001", "002", "003", "004"])
def test_extractors_can_be_turned_off(prefix: str) -> None:
    opts = HeaderOptions(title=False, outlet=False, dateline=False, relative_dates=False)
    r = parse_document(seed(prefix), opts)
    for key in ("title", "outlet", "dateline", "relative_date", "title_repeated"):
        assert key not in r.metadata


def test_builtin_date_line_can_be_turned_off() -> None:
    text = seed("000")
    r = parse_document(text, HeaderOptions(builtin_date_line=False))
    assert r.header_lines == ()
    assert r.text == text
    assert "date" not in r.metadata
