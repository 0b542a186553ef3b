"""The compiled ``_lexicon`` module gives what its Python twins give, value for value."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ingest_plugins.boilerplate import lexicon
from ingest_plugins.boilerplate.lexicon import Fingerprint, fingerprint_python
from ingest_plugins.boilerplate.lines import normalise

native = lexicon._native
pytestmark = pytest.mark.skipif(native is None, reason="the _lexicon extension is not built")

DEV_PAGES = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "dev" / "boilerplate" / "input"

# lines of words, digits, punctuation, spaces of every kind, non-ASCII letters and digits,
# a lone surrogate, and empty or blank lines between them
WORDS = "Home News the Story 12:30 $139.00 — é İ ٣ 日本 _ a_b ... ǅ ß K".split()
pieces = st.sampled_from([*WORDS, " ", "  ", "\t", "\ud800", "\u2028", "\x0b", "\U0001f600"])
line = st.lists(pieces, max_size=40).map(" ".join)
text = st.lists(st.one_of(line, st.just(""), st.just("   ")), max_size=30).map("\n".join)


def python(text: str, max_words: int) -> Fingerprint:
    return fingerprint_python(text, max_words)


def compiled(text: str, max_words: int) -> Fingerprint:
    assert native is not None
    return Fingerprint(*native.fingerprint(text, max_words, lexicon._CONTEXT_MIN_WORDS, normalise))


@settings(max_examples=400, deadline=None)
@given(text, st.integers(min_value=1, max_value=12))
def test_fingerprints_are_the_same(text, max_words):
    assert compiled(text, max_words) == python(text, max_words)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from([None, "folder:a", "folder:b"]), text), max_size=8),
    st.integers(min_value=1, max_value=12),
    st.sampled_from([1, 2, 3, 5, 8, 9, 40, 80]),
)
def test_fingerprints_split_by_partition_are_the_same(docs, max_words, partitions):
    # one C call a document fingerprints and files its lines into the partitions' lists,
    # as split_prints splits the Python twin's
    expected = lexicon.split_prints(((site, python(t, max_words)) for site, t in docs), partitions)
    assert lexicon.fingerprints_by_partition(docs, max_words, partitions) == expected


def test_filing_into_no_partitions_or_into_what_is_not_columns_is_refused():
    assert native is not None
    columns = [[] for _ in range(7)]
    with pytest.raises(ValueError, match="a list of columns for each partition"):
        native.fingerprint_file("Home\nNews", 30, lexicon._CONTEXT_MIN_WORDS, None, [])
    for pieces in ([columns, ()], [columns, []], [columns, [[]] * 6 + [()]]):
        with pytest.raises(TypeError, match="a list of columns for each partition"):
            native.fingerprint_file("Home\nNews", 30, lexicon._CONTEXT_MIN_WORDS, None, pieces)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from([None, "folder:a", "folder:b"]), text), max_size=12),
    st.sampled_from([1, 3, 8]),
    st.sampled_from([0, 3, 10**9]),
)
def test_a_piece_counted_by_the_compiled_module_is_counted_as_document_by_document(docs, partitions, budget):
    """add_piece hands the whole piece to count_exact_docs / count_filtered_docs; the
    Python twin counts a document at a time. Small budgets move to the filter mid-piece."""
    pieces = lexicon.split_prints(((site, python(t, 6)) for site, t in docs), partitions)

    def counted(use_native: bool) -> list[tuple]:
        out = []
        for piece in pieces:
            lex = lexicon.Lexicon(min_documents=2, max_words=6, expected_documents=len(docs))
            lex._singles_budget = budget
            if use_native:
                lex.add_piece(piece)
            else:
                for n in piece.site_documents.values():
                    lex.documents += n
                for site, short, short_contexts, long, long_contexts in piece.documents():
                    lex._count(site, short, short_contexts, long, long_contexts)
            seen = None if lex._seen is None else bytes(lex._seen.array)
            out.append(
                (lex.documents, lex._counts, lex._outlets, lex._long, lex._contexts, lex._singles, seen)
            )
        return out

    assert counted(True) == counted(False)


def test_a_piece_whose_columns_disagree_is_refused():
    assert native is not None
    tables = ({}, {}, {}, {})
    places = (lexicon.UNKNOWN_SITE, lexicon.CORPUS, lexicon._CONTEXTS_KEPT)
    good = [[None], ["home"], [1], [1], [], [], [0]]
    assert native.count_exact_docs(*tables, *good, *places, 0, 100) == (1, 1)
    for bad in (
        [[None], ["home"], [1], [2], [], [], [0]],  # ends past the lines
        [[None], ["home"], [], [1], [], [], [0]],  # a line without its context
        [[None, None], ["home"], [1], [1], [], [], [0]],  # a site without its ends
    ):
        with pytest.raises(ValueError, match="the piece's"):
            native.count_exact_docs(*tables, *bad, *places, 0, 100)
        with pytest.raises(ValueError, match="the piece's"):
            native.count_filtered_docs(*tables, *bad, *places, 0, bytearray(8), 64)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=60), max_size=20))
def test_normalised_keys_are_the_same_for_any_text(lines):
    assert native is not None
    assert native.normalise_many(lines, normalise) == [normalise(x) for x in lines]


def test_every_ascii_character_normalises_the_same():
    assert native is not None
    lines = [chr(c) * 3 + "a" + chr(c) + "1" for c in range(128)]
    assert native.normalise_many(lines, normalise) == [normalise(x) for x in lines]


@pytest.mark.skipif(not DEV_PAGES.is_dir(), reason="the development pages are not beside the checkout")
def test_the_development_pages_give_the_same_fingerprints():
    for path in sorted(DEV_PAGES.glob("*.txt")):
        page = path.read_text(encoding="utf-8")
        assert compiled(page, 30) == python(page, 30), path.name
        docs = [("folder:a", page)]
        split = lexicon.split_prints(((site, python(t, 30)) for site, t in docs), lexicon.PARTITIONS)
        assert lexicon.fingerprints_by_partition(docs, 30, lexicon.PARTITIONS) == split, path.name


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(text, st.sampled_from([None, "folder:a", "folder:b"])), max_size=12))
def test_counting_is_the_same(pages):
    def counted(use_native: bool) -> tuple:
        lex = lexicon.Lexicon(min_documents=2)
        for page, site in pages:
            print_ = fingerprint_python(page, 6)
            if use_native:
                lex.add_fingerprint(print_, site)
            else:
                lex._add_exact(print_, site)  # the Python twin
                lex.documents += 1
        return lex._counts, lex._outlets, lex._long, lex._contexts, lex._singles

    python_counts = counted(False)
    assert counted(True)[:4] == python_counts[:4]
    assert counted(True)[4] == python_counts[4]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(text, st.sampled_from([None, "folder:a", "folder:b", "folder:\ud800"])), max_size=12),
    st.integers(min_value=64, max_value=4096),
)
def test_counting_past_the_filter_is_the_same(pages, bits):
    """Once first sightings go to the Bloom filter, the compiled count_filtered counts,
    sets bits and keeps contexts as the Python twin does."""

    def counted(use_native: bool) -> tuple:
        lex = lexicon.Lexicon(min_documents=2)
        lex._seen = lexicon._SeenOnce(0)
        lex._seen.bits = bits  # a small filter: bits collide, as they do late in a large corpus
        lex._seen.array = bytearray((bits + 7) // 8)
        for page, site in pages:
            print_ = fingerprint_python(page, 6)
            if use_native:
                lex._count(site, print_.short, print_.short_contexts, print_.long, print_.long_contexts)
            else:
                lex._add_filtered(print_, site)
        return lex._counts, lex._outlets, lex._long, lex._contexts, bytes(lex._seen.array)

    assert counted(True) == counted(False)


def test_every_code_point_normalises_the_same():
    # one character at a time in C: U+0130 and the capital sigma (whose lower case depends on
    # its neighbours) send the line to str.lower(); every other character must agree with it
    assert native is not None
    for context in ("a{c}1{c}{c} b", "Ab{c}Σ {c}x"):
        for start in range(0, 0x110000, 0x10000):  # in blocks: the test process stays small
            lines = [context.format(c=chr(c)) for c in range(start, start + 0x10000)]
            assert native.normalise_many(lines, normalise) == [normalise(x) for x in lines]
