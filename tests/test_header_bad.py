"""Bad headers: the document goes on, raw line kept, warning with line number."""

from __future__ import annotations

import datetime

from ingest_plugins.header import parse_document

BODY = (
    "Strained Talks Hit Stalemate\n"
    "(AGENCY) The strained talks hit a stalemate today as tensions rose in the ongoing discussions.\n"
    "Second line.\n"
)


def test_impossible_date() -> None:
    text = "date 2025-13-45 403\n" + BODY
    r = parse_document(text)
    assert [w.line for w in r.warnings] == [1]
    assert "impossible date" in r.warnings[0].message
    assert r.warnings[0].raw == "date 2025-13-45 403"
    assert r.metadata["header_raw"] == ["date 2025-13-45 403"]
    assert r.metadata["header_values"] == ["403"]  # values are still not lost
    assert "date" not in r.metadata
    assert r.text == BODY  # every non-header line present
    assert r.metadata["title"] == "Strained Talks Hit Stalemate"


def test_impossible_date_in_key_value() -> None:
    r = parse_document("date: 2025-02-30\n" + BODY)
    assert [w.line for w in r.warnings] == [1]
    assert r.metadata["header_raw"] == ["date: 2025-02-30"]
    assert r.text == BODY


def test_stray_bytes_in_header_line() -> None:
    for bad in (
        "date 2025-07-07\x00 403",
        "date 2025-07-07 4\ufffd03",
        " date\x1b 2025-07-07 403",
        "date 2025-07-07 403\udc9f",
    ):
        text = bad + "\n" + BODY
        r = parse_document(text)
        assert r.header_lines == (1,), repr(bad)
        assert [w.line for w in r.warnings] == [1]
        assert "stray bytes" in r.warnings[0].message
        assert r.metadata["header_raw"] == [bad]
        assert r.metadata["date"] == datetime.date(2025, 7, 7)
        assert r.text == BODY


def test_stray_bytes_in_body_line_is_not_a_header_problem() -> None:
    text = "Title\ufffd of it\nBody \x00 text.\n"
    r = parse_document(text)
    assert r.warnings == () and r.text == text


def test_unknown_key_in_key_value_block() -> None:
    text = "title: My title\nfoo_bar: something odd\nauthor: Jane\n\n" + BODY
    r = parse_document(text)
    assert r.header_lines == (1, 2, 3)
    assert [(w.line, w.message) for w in r.warnings] == [(2, "unknown header key 'foo_bar'")]
    assert r.metadata["header_raw"] == ["foo_bar: something odd"]
    assert r.metadata["header_unknown"] == {"foo_bar": "something odd"}
    assert r.metadata["title"] == "My title"
    assert r.metadata["author"] == "Jane"
    assert r.text == "\n" + BODY


def test_duplicate_key_first_wins() -> None:
    r = parse_document("date 2025-07-07\ndate: 2025-07-08\nBody\n")
    assert r.metadata["date"] == datetime.date(2025, 7, 7)
    assert [w.line for w in r.warnings] == [2]
    assert "duplicate" in r.warnings[0].message
    assert r.metadata["header_raw"] == ["date: 2025-07-08"]


def test_only_a_header() -> None:
    r = parse_document(" date 2025-07-07 403")
    assert r.text == "" and r.header_lines == (1,)
    r = parse_document(" date 2025-07-07 403\n")
    assert r.text == ""


def test_empty_and_blank() -> None:
    for text in ("", "\n", "   \n\n", "\ufeff"):
        r = parse_document(text)
        assert r.text == text and r.header_lines == () and r.warnings == ()


def test_bom_before_header() -> None:
    r = parse_document("\ufeffdate 2025-07-07 1\nBody\n")
    assert r.header_lines == (1,) and r.warnings == () and r.text == "Body\n"


def test_absurd_relative_date_stays_relative() -> None:
    r = parse_document("date 0001-01-02\nNice Headline Here\nReuters9999 years ago\nBody.\n")
    assert r.metadata["relative_date"] == "9999 years ago"
    assert "relative_date_resolved" not in r.metadata
