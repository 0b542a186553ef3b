"""Text extractors (title, outlet/byline, dateline) and relative dates: general rules."""

from __future__ import annotations

import datetime

import pytest
from ingest_plugins.header import HeaderOptions, parse_document
from ingest_plugins.header.dates import parse_relative, resolve

PARA = "The minister said on Tuesday that the talks had stalled again after weeks of debate."
# A title is read from the text only above an article that it is about.
MARKETS = "Markets rallied on Tuesday on hopes of a rate cut, and the euro fell to its lowest in months."


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("Markets Rally on Rate Cut Hopes\n" + MARKETS, "Markets Rally on Rate Cut Hopes"),
        ("menu\nMarkets Rally on Rate Cut Hopes\n" + MARKETS, "Markets Rally on Rate Cut Hopes"),
        ("Is this the end of the euro?\n" + MARKETS, "Is this the end of the euro?"),
        ("\n\n   Euro Falls as Markets Rally  \n" + MARKETS, "Euro Falls as Markets Rally"),
        ("Markets Rally on Rate Cut Hopes\n" + PARA, None),  # not about the text below it
        (PARA + "\n" + PARA, None),  # starts with prose
        ("This is a sentence.\n" + PARA, None),  # sentence-final period
        ("logo\n" + PARA, None),
        ("By Jane Doe\n" + PARA, None),
        ("https://example.com/story\n" + PARA, None),
        ("Reuters 3 hrs ago\n" + PARA, None),
        ("(AP) Short tagged thing\n" + PARA, None),
        ("foo: left in text\n" + PARA, None),  # not a header (unknown key), not a title
        ("Advertisement\n\n" + PARA, None),
    ],
)
def test_title(text: str, title: str | None) -> None:
    r = parse_document(text)
    assert r.metadata.get("title") == title
    assert r.text == text


def test_title_repeated_directly_and_after_junk() -> None:
    r = parse_document("Markets Hope for a Rate Cut\n\nmarkets  hope for a rate cut\n" + MARKETS)
    assert r.metadata["title"] == "Markets Hope for a Rate Cut" and r.metadata["title_repeated"] is True
    r = parse_document("Markets Hope for a Rate Cut\nshare\nMarkets Hope for a Rate Cut\n" + MARKETS)
    assert r.metadata["title_repeated"] is True
    r = parse_document("Markets Hope for a Rate Cut\nOther Thing Entirely\n" + MARKETS)
    assert "title_repeated" not in r.metadata


def test_header_title_not_overwritten() -> None:
    r = parse_document("title: From Header\nA Different First Line\n" + PARA)
    assert r.metadata["title"] == "From Header"
    assert "title_line" not in r.metadata


@pytest.mark.parametrize(
    ("byline", "outlet", "rel"),
    [
        ("Russia Today2 days ago", "Russia Today", "2 days ago"),
        ("The Daily Planet • 3 hrs ago", "The Daily Planet", "3 hrs ago"),
        ("Agence Newswire an hour ago", "Agence Newswire", "an hour ago"),
        ("Some Outlet | yesterday", "Some Outlet", "yesterday"),
        ("time5m ago", None, "5m ago"),
    ],
)
def test_byline_with_relative_date(byline: str, outlet: str | None, rel: str) -> None:
    text = f"Headline Of The Story\n{byline}\n{PARA}\n"
    r = parse_document(text)
    assert r.metadata.get("outlet") == outlet
    assert r.metadata["relative_date"] == rel
    assert r.text == text


def test_byline_name_line_then_relative_date_line() -> None:
    r = parse_document("Headline Of The Story\n\nWire Service\n\n2 hours ago\n\n" + PARA)
    assert r.metadata["outlet"] == "Wire Service"
    assert r.metadata["relative_date"] == "2 hours ago"


def test_bylines_far_below_are_ignored() -> None:
    text = "Headline Of The Story\n" + (PARA + "\n") * 15 + "Wire Service\n2 hours ago\n"
    r = parse_document(text)
    assert "outlet" not in r.metadata and "relative_date" not in r.metadata


def test_relative_date_in_prose_is_ignored() -> None:
    r = parse_document(
        "Headline Of The Story\nTwo days ago the minister resigned after a long and bitter dispute.\n"
    )
    assert "relative_date" not in r.metadata


def test_author_line() -> None:
    r = parse_document("Headline Of The Story\nBy Jane Q. Doe\n" + PARA)
    assert r.metadata["author"] == "Jane Q. Doe"


@pytest.mark.parametrize(
    ("para", "outlet", "dateline"),
    [
        ("(Reuters) - " + PARA, "Reuters", None),
        ("(MENAFN) " + PARA, "MENAFN", None),
        ("WASHINGTON (Reuters) - " + PARA, "Reuters", "WASHINGTON"),
        ("Brussels: " + PARA, None, "Brussels"),
        ("New Delhi, India: " + PARA, None, "New Delhi"),
        ("LONDON — " + PARA, None, "LONDON"),
        ("Note: " + PARA, None, None),
        ("Also Read: " + PARA, None, None),
        ("Brussels: too short.", None, None),
        ("the city: " + PARA, None, None),
        ("(VIDEO) " + PARA, None, None),
        ("NATO — the alliance agreed to a new plan for the coming year.", None, None),
        ("BRUSSELS, July 7 (Reuters) - " + PARA, "Reuters", "BRUSSELS"),
    ],
)
def test_agency_and_dateline(para: str, outlet: str | None, dateline: str | None) -> None:
    text = "Headline Of The Story\n\n" + para + "\n"
    r = parse_document(text)
    assert r.metadata.get("outlet") == outlet
    assert r.metadata.get("dateline") == dateline
    assert r.text == text


def test_dateline_in_second_paragraph() -> None:
    r = parse_document("Headline Of The Story\n\nA standfirst that sums up the story well.\n\nParis: " + PARA)
    assert r.metadata["dateline"] == "Paris"


@pytest.mark.parametrize(
    ("text", "ref", "expected"),
    [
        ("2 days ago", datetime.date(2025, 7, 9), datetime.date(2025, 7, 7)),
        ("an hour ago", datetime.date(2025, 7, 9), datetime.date(2025, 7, 9)),
        ("3 hrs ago", datetime.datetime(2025, 7, 9, 1, 0), datetime.date(2025, 7, 8)),
        ("yesterday", datetime.date(2025, 1, 1), datetime.date(2024, 12, 31)),
        ("1 month ago", datetime.date(2025, 3, 31), datetime.date(2025, 2, 28)),
        ("2 weeks ago", datetime.date(2025, 7, 15), datetime.date(2025, 7, 1)),
        ("a year ago", datetime.date(2024, 2, 29), datetime.date(2023, 2, 28)),
        ("today", datetime.date(2025, 7, 9), datetime.date(2025, 7, 9)),
        ("45 mins ago", datetime.datetime(2025, 7, 9, 0, 30), datetime.date(2025, 7, 8)),
    ],
)
def test_resolve_relative(text: str, ref: datetime.date, expected: datetime.date) -> None:
    rel = parse_relative(text)
    assert rel is not None
    assert resolve(rel, ref) == expected


def test_parse_relative_rejects_prose() -> None:
    assert parse_relative("the day before") is None
    assert parse_relative("Russia Today") is None


def test_relative_date_resolved_against_header_date() -> None:
    r = parse_document(
        "date 2025-07-09\nHeadline Of The Story\nWire Service 2 days ago\n" + PARA,
        HeaderOptions(reference_date="2000-01-01"),
    )
    assert r.metadata["relative_date_resolved"] == datetime.date(2025, 7, 7)
    assert r.metadata["relative_date_reference"] == "header"


def test_relative_dates_off_keeps_outlet() -> None:
    r = parse_document(
        "Headline Of The Story\nWire Service 2 days ago\n" + PARA, HeaderOptions(relative_dates=False)
    )
    assert r.metadata["outlet"] == "Wire Service"
    assert "relative_date" not in r.metadata
