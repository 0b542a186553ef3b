"""Property tests: never raises; every non-header line survives, in order."""

from __future__ import annotations

import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_plugins.header import HeaderOptions, parse_document

dates = st.builds(
    lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}",
    st.integers(0, 9999),
    st.integers(0, 19),
    st.integers(0, 39),
)
words = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=12)
any_line = st.text(
    st.characters(blacklist_characters="\n"), max_size=60
)  # includes controls, U+FFFD, surrogates
date_line = st.builds(
    lambda ws, d, rest: f"{ws}date {d} {' '.join(rest)}",
    st.sampled_from(["", " ", "\t"]),
    dates,
    st.lists(words, max_size=3),
)
keys = st.sampled_from(["date", "title", "tags", "Title", "foo", "Brussels", "x1", "published", "id", "url"])
kv_line = st.builds(
    lambda k, sep, v: f"{k}{sep}{v}",
    keys,
    st.sampled_from([": ", ":", " : ", ":\t"]),
    st.one_of(dates, words),
)
fence = st.sampled_from(["---", " --- ", "---\r"])
item_line = st.builds(lambda v: f"  - {v}", words)
prose = st.sampled_from(
    [
        "Brussels: NATO is unlikely to extend a membership invitation to Ukraine this week.",
        "(MENAFN) Tensions are rising in ongoing discussions between the parties today.",
        "Russia Today2 days ago",
        "logo",
        "Strained Talks Hit Stalemate",
        "",
        "   ",
        "\r",
        "\ufeff",
    ]
)
line = st.one_of(date_line, kv_line, fence, item_line, any_line, prose)
documents = st.lists(line, max_size=30).map("\n".join)

options = st.builds(
    HeaderOptions,
    key_value=st.booleans(),
    front_matter=st.booleans(),
    builtin_date_line=st.booleans(),
    title=st.booleans(),
    reference_date=st.sampled_from(["", "2025-07-09", "2025-07-09T10:00:00"]),
    use_mtime=st.booleans(),
    max_header_lines=st.integers(0, 25),
)


def check(text: str, r) -> None:
    in_lines = text.split("\n")
    consumed = set(r.header_lines)
    assert all(1 <= n <= len(in_lines) for n in consumed)
    expected = [ln for n, ln in enumerate(in_lines, 1) if n not in consumed]
    assert r.text.split("\n") == expected or (not expected and r.text == "")
    assert r.header_text == tuple(in_lines[n - 1] for n in r.header_lines)
    for w in r.warnings:
        assert not w.message.startswith("internal error"), w
        assert 1 <= w.line <= len(in_lines)
    # Header lines form the top of the document (only blank lines may precede them).
    if consumed:
        first = min(consumed)
        assert all(not in_lines[i].strip() for i in range(first - 1))
    for key in ("date", "relative_date_resolved"):
        if key in r.metadata:
            assert isinstance(r.metadata[key], datetime.date)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents, options)
def test_never_raises_and_keeps_every_non_header_line(text: str, opts: HeaderOptions) -> None:
    r = parse_document(text, opts, mtime=datetime.datetime(2025, 7, 10))
    check(text, r)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_unicode(text: str) -> None:
    check(text, parse_document(text))


@settings(max_examples=300, deadline=None)
@given(documents)
def test_with_plugin_and_pattern(text: str) -> None:
    def plugin(line: str, lineno: int):
        if line.startswith("t"):
            return {"plugin_line": lineno}
        if line.startswith("x"):
            raise ValueError("plugin bug")
        return None

    opts = HeaderOptions(
        patterns=[
            {"regex": r"(?P<k>[a-z]+)=(?P<v>\d+)", "types": {"v": "int"}},
            {"regex": r"date (?P<d>\S+)", "types": {"d": "date"}},
        ]
    )
    check(text, parse_document(text, opts, plugin_parsers=[plugin]))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(kv_line, date_line, item_line), min_size=1, max_size=8), st.lists(prose, max_size=5)
)
def test_front_matter_blocks(inner: list[str], body: list[str]) -> None:
    text = "\n".join(["---", *inner, "---", *body])
    r = parse_document(text)
    check(text, r)
