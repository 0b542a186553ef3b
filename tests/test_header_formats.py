"""Header formats: key/value, front matter, config patterns, plugin parsers, order."""

from __future__ import annotations

import datetime
import re

import pytest
from ingest_plugins.header import HeaderOptions, compile_options, compile_patterns, parse_document

# A title is read from the text only above an article that it is about.
ARTICLE = "The harbour bridge reopens to traffic this morning after two years of repairs, the city said.\n"


def test_key_value_block_typed() -> None:
    text = "Title: A headline\ndate: 2025-07-07\ntags: nato, ukraine\n\nBody text here.\n"
    r = parse_document(text)
    assert r.header_lines == (1, 2, 3)
    assert r.metadata["date"] == datetime.date(2025, 7, 7)
    assert r.metadata["title"] == "A headline"
    assert r.metadata["tags"] == ["nato", "ukraine"]
    assert r.text == "\nBody text here.\n"
    assert r.warnings == ()
    assert r.metadata["header_formats"] == ["key_value"]


def test_key_value_disabled() -> None:
    text = "date: 2025-07-07\nBody.\n"
    r = parse_document(text, HeaderOptions(key_value=False))
    assert r.text == text and r.header_lines == ()


def test_article_sentence_with_colon_is_not_a_header() -> None:
    text = "Brussels: NATO is unlikely to extend a membership invitation to Ukraine.\nMore.\n"
    r = parse_document(text)
    assert r.header_lines == ()
    assert r.text == text
    assert r.warnings == ()


def test_unknown_key_cannot_start_a_block() -> None:
    for first in ("foo: bar", "Update: the minister resigned", "Note: see below", "http://example.com/x"):
        text = f"{first}\nBody.\n"
        r = parse_document(text)
        assert r.header_lines == (), first
        assert r.text == text


def test_capitalised_continuation_ends_block() -> None:
    text = "date: 2025-07-07\nBrussels: NATO is unlikely to extend an invitation.\n"
    r = parse_document(text)
    assert r.header_lines == (1,)
    assert r.text == "Brussels: NATO is unlikely to extend an invitation.\n"


def test_long_value_is_prose_not_header() -> None:
    text = "title: " + "word " * 100 + "\nBody\n"
    r = parse_document(text, HeaderOptions(max_value_length=100))
    assert r.header_lines == ()


def test_date_line_then_key_values() -> None:
    text = " date 2025-07-07 403 abc\nauthor: Jane Doe\nHarbour Bridge Reopens\n" + ARTICLE
    r = parse_document(text)
    assert r.header_lines == (1, 2)
    assert r.metadata["header_values"] == ["403", "abc"]
    assert r.metadata["author"] == "Jane Doe"
    assert r.metadata["title"] == "Harbour Bridge Reopens"


def test_date_line_with_time() -> None:
    r = parse_document("date 2025-07-07T10:30:00Z 1\nText.\n")
    assert r.metadata["date"] == datetime.date(2025, 7, 7)
    assert r.metadata["datetime"] == datetime.datetime(2025, 7, 7, 10, 30, tzinfo=datetime.timezone.utc)


def test_header_after_leading_blank_lines_and_crlf() -> None:
    text = "\r\n\r\ndate 2025-07-07 9\r\nHarbour Bridge Reopens\r\n" + ARTICLE.replace("\n", "\r\n")
    r = parse_document(text)
    assert r.header_lines == (3,)
    assert r.text == "\r\n\r\nHarbour Bridge Reopens\r\n" + ARTICLE.replace("\n", "\r\n")
    assert r.metadata["header_values"] == ["9"]
    assert r.metadata["title"] == "Harbour Bridge Reopens"


def test_front_matter_typed() -> None:
    text = (
        "---\n"
        'title: "Quoted title"\n'
        "date: 2025-07-07\n"
        "tags: [a, b]\n"
        "# a comment\n"
        "authors:\n"
        "  - Jane\n"
        "  - John\n"
        "custom_field: kept as str\n"
        "---\n"
        "\n"
        "Body.\n"
    )
    r = parse_document(text)
    assert r.header_lines == tuple(range(1, 11))
    md = r.metadata
    assert md["title"] == "Quoted title"
    assert md["date"] == datetime.date(2025, 7, 7)
    assert md["tags"] == ["a", "b"]
    assert md["authors"] == ["Jane", "John"]
    assert md["custom_field"] == "kept as str"
    assert r.text == "\nBody.\n"
    assert r.warnings == ()


def test_front_matter_requires_key_values_and_closing() -> None:
    hr = "---\nA paragraph between two rules.\n---\nBody.\n"
    assert parse_document(hr).header_lines == ()
    unclosed = "---\ntitle: x\n" + "word\n" * 30
    assert parse_document(unclosed).header_lines == ()
    assert parse_document("---\ntitle: x\n---\nB\n", HeaderOptions(front_matter=False)).header_lines == ()


def test_front_matter_bad_date_warns() -> None:
    r = parse_document("---\ndate: 2025-02-30\n---\nBody\n")
    assert r.header_lines == (1, 2, 3)
    assert [w.line for w in r.warnings] == [2]
    assert r.metadata["header_raw"] == ["date: 2025-02-30"]
    assert r.text == "Body\n"


# --- config patterns ---------------------------------------------------------------

AT_PATTERN = {"regex": r"@@ source=(?P<source>\w+) id=(?P<id>\d+)", "types": {"id": "int"}}


def plugin_at(line: str, lineno: int):
    m = re.fullmatch(r"@@ source=(\w+) id=(\d+)", line.strip())
    if m is None:
        return None
    return {"source": "plugin:" + m.group(1), "plugin_id": m.group(2)}


def test_config_pattern_typed() -> None:
    opts = HeaderOptions(
        patterns=[
            AT_PATTERN,
            {
                "regex": r"#(?P<published>\S+) (?P<score>[\d.]+) (?P<labels>.*)",
                "types": {"published": "date", "score": "float", "labels": "list"},
                "name": "hash",
            },
        ]
    )
    r = parse_document("@@ source=foo id=12\n#2025-01-02 0.5 a, b\nTitle\n", opts)
    assert r.header_lines == (1, 2)
    assert r.metadata["source"] == "foo"
    assert r.metadata["id"] == 12
    assert r.metadata["published"] == datetime.date(2025, 1, 2)
    assert r.metadata["score"] == 0.5
    assert r.metadata["labels"] == ["a", "b"]
    assert r.metadata["header_formats"] == ["pattern:0", "pattern:hash"]


def test_config_pattern_bad_value_warns_and_keeps_raw() -> None:
    opts = HeaderOptions(patterns=[{"regex": r"d=(?P<d>\S+)", "types": {"d": "date"}}])
    r = parse_document("d=2025-99-99\nBody\n", opts)
    assert r.header_lines == (1,)
    assert r.warnings[0].line == 1 and "d" in r.warnings[0].message
    assert r.metadata["header_raw"] == ["d=2025-99-99"]


def test_plugin_parser_recognises_custom_format() -> None:
    r = parse_document("@@ source=foo id=12\nHeadline of it\nBody text.\n", plugin_parsers=[plugin_at])
    assert r.header_lines == (1,)
    assert r.metadata["source"] == "plugin:foo"
    assert r.metadata["plugin_id"] == "12"
    assert r.metadata["header_formats"] == ["plugin:plugin_at"]
    assert r.text == "Headline of it\nBody text.\n"


def test_order_config_over_plugin_over_builtin() -> None:
    text = "@@ source=foo id=12\nBody\n"
    both = parse_document(text, HeaderOptions(patterns=[AT_PATTERN]), plugin_parsers=[plugin_at])
    assert both.metadata["source"] == "foo" and both.metadata["id"] == 12
    assert "plugin_id" not in both.metadata

    # A plugin claiming the built-in date line wins over the built-in.
    def date_plugin(line: str, lineno: int):
        return {"plugin_saw": line} if line.strip().startswith("date ") else None

    r = parse_document(" date 2025-07-07 403\nBody\n", plugin_parsers=[date_plugin])
    assert r.metadata == {"plugin_saw": " date 2025-07-07 403", "header_formats": ["plugin:date_plugin"]} | {
        k: v for k, v in r.metadata.items() if k not in ("plugin_saw", "header_formats")
    }
    assert "date" not in r.metadata and "header_values" not in r.metadata

    # And a config pattern wins over both.
    opts = HeaderOptions(
        patterns=[{"regex": r"date (?P<when>\S+) (?P<code>\d+)", "types": {"when": "date", "code": "int"}}]
    )
    r = parse_document(" date 2025-07-07 403\nBody\n", opts, plugin_parsers=[date_plugin])
    assert r.metadata["when"] == datetime.date(2025, 7, 7) and r.metadata["code"] == 403
    assert "plugin_saw" not in r.metadata


def test_plugin_errors_become_warnings() -> None:
    def broken(line: str, lineno: int):
        raise RuntimeError("boom")

    def wrong_type(line: str, lineno: int):
        return ["not", "a", "mapping"]

    text = " date 2025-07-07 403\nBody\n"
    r = parse_document(text, plugin_parsers=[broken, wrong_type])
    assert r.metadata["date"] == datetime.date(2025, 7, 7)  # built-in still applies
    # Plugins are tried on every candidate line, so line 2 is reported too.
    assert {w.line for w in r.warnings} == {1, 2}
    assert any("boom" in w.message for w in r.warnings)
    assert any("not a mapping" in w.message for w in r.warnings)
    assert "header_raw" not in r.metadata  # the lines parsed fine / were not header
    assert r.text == "Body\n"


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("nope", "patterns[0]: expected"),
        ({"types": {}}, "patterns[0]: 'regex'"),
        ({"regex": "(?P<a>"}, "patterns[0]: invalid regex"),
        ({"regex": "abc"}, "patterns[0]: regex 'abc' has no named groups"),
        ({"regex": "(?P<a>x)", "types": {"b": "int"}}, "patterns[0]: 'types' names group 'b'"),
        ({"regex": "(?P<a>x)", "types": {"a": "bool"}}, "patterns[0]: group 'a' has unknown type 'bool'"),
        ({"regex": "(?P<a>x)", "typo": 1}, "patterns[0]: unknown field"),
    ],
)
def test_compile_patterns_errors(pattern: object, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        compile_patterns(HeaderOptions(patterns=[pattern]))  # type: ignore[list-item]
    assert fragment in str(info.value)


def test_compile_patterns_names_the_index() -> None:
    with pytest.raises(ValueError, match=r"patterns\[1\]"):
        compile_patterns(HeaderOptions(patterns=[AT_PATTERN, {"regex": "(?P<x>"}]))


def test_compile_options_errors() -> None:
    with pytest.raises(ValueError, match="reference_date"):
        compile_options(HeaderOptions(reference_date="yesterday"))
    with pytest.raises(ValueError, match=r"known_keys\[0\]"):
        compile_options(HeaderOptions(known_keys=["date:when"]))
    with pytest.raises(ValueError, match="max_header_lines"):
        compile_options(HeaderOptions(max_header_lines=-1))


def test_precompiled_options_and_known_keys_types() -> None:
    opts = HeaderOptions(known_keys=["rank:int", "seen:datetime", "title"])
    co = compile_options(opts)
    r = parse_document("rank: 3\nseen: 2025-07-07T01:02:03\ndate: 2025-07-07\nBody\n", compiled=co)
    assert r.metadata["rank"] == 3
    assert r.metadata["seen"] == datetime.datetime(2025, 7, 7, 1, 2, 3)
    # "date" is not a known key any more: as a continuation line it is an unknown key.
    assert r.metadata["header_unknown"] == {"date": "2025-07-07"}
    assert [w.line for w in r.warnings] == [3]


def test_mutated_options_are_recompiled() -> None:
    opts = HeaderOptions()
    assert parse_document("@@ source=a id=1\nB\n", opts).header_lines == ()
    opts.patterns.append(AT_PATTERN)
    assert parse_document("@@ source=a id=1\nB\n", opts).header_lines == (1,)


def test_max_header_lines() -> None:
    text = "\n" * 5 + "date 2025-07-07\nBody\n"
    assert parse_document(text, HeaderOptions(max_header_lines=5)).header_lines == ()
    assert parse_document(text, HeaderOptions(max_header_lines=6)).header_lines == (6,)


def test_front_matter_list_for_typed_key_is_not_stored() -> None:
    r = parse_document("---\ndate:\n  - 2025-07-07\ntitle: T\n---\nBody\n")
    assert "date" not in r.metadata
    assert r.metadata["title"] == "T"
    assert [w.line for w in r.warnings] == [2]
    assert r.metadata["header_raw"] == ["date:\n  - 2025-07-07"]


def test_options_from_mapping() -> None:
    from ingest_plugins.header import options_from_mapping

    opts = options_from_mapping({"title": False, "max_header_lines": 5, "patterns": [AT_PATTERN]})
    assert opts.title is False and opts.max_header_lines == 5 and opts.patterns == [AT_PATTERN]
    assert opts.known_keys  # default kept
    with pytest.raises(ValueError, match="unknown header option"):
        options_from_mapping({"titel": True})
    with pytest.raises(ValueError, match="title: expected bool"):
        options_from_mapping({"title": "yes"})
    with pytest.raises(ValueError, match="max_header_lines: expected int, got bool"):
        options_from_mapping({"max_header_lines": True})
