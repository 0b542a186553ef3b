"""The compiled per-line feature pass equals its pure-Python reference, value for value."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ingest_plugins.boilerplate import BoilerplateOptions, clean
from ingest_plugins.boilerplate import context as C
from ingest_plugins.boilerplate import lines as L
from ingest_plugins.boilerplate import structure as S
from ingest_plugins.boilerplate.rules import ALL_TRIGGERS
from ingest_plugins.boilerplate.stopwords import ENGLISH

NOT_BUILT = "the C accelerators are not built (no compiler at install time, or INGEST_BUILD_NATIVE=0)"
native = pytest.importorskip("ingest_plugins.boilerplate._features", reason=NOT_BUILT)
native_context = pytest.importorskip("ingest_plugins.boilerplate._context", reason=NOT_BUILT)
native_structure = pytest.importorskip("ingest_plugins.boilerplate._structure", reason=NOT_BUILT)

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "seeds"

# characters where the two paths could part: every kind of Unicode space, sentence enders and
# closing quotes of several scripts, digits and letters outside ASCII, astral characters,
# characters whose lower case is longer ("İ"), the underscore, combining marks
TRICKY = (
    " \t\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2009\u200b\u2028\u2029\u202f\u205f\u3000"
    ".!?…:;。！？\"')]”’»」』）([“‘«"
    "_-–—,/&|•·›©®"
    "aZ09éÉßİıſKΣσςЖж٣²½Ⅻ漢字かなカナ한글\u0301\u0651"
    "\U0001d7d8\U0001f600\U00020000\U000e0041"
)


def _both(
    lines: list[str], stopwords: frozenset[str] | None, triggers: frozenset[str] | None = ALL_TRIGGERS
) -> tuple[L.Columns, L.Columns]:
    lowered = [line.lower() for line in lines]
    return native.columns(lines, lowered, stopwords, triggers), L.columns_python(
        lines, lowered, stopwords, triggers
    )


def test_native_columns_equal_python_on_the_sample_pages():
    pages = [p.read_text(encoding="utf-8") for p in sorted(SAMPLES.glob("*.txt"))]
    assert pages
    found = 0
    for page in pages:
        lines = page.split("\n")
        for stopwords, triggers in ((ENGLISH, ALL_TRIGGERS), (None, None)):
            got, want = _both(lines, stopwords, triggers)
            assert got == want
            found += sum(1 for h in got[-1] if h)
    assert found, "the sample pages hold trigger words"


@settings(max_examples=400, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(TRICKY) | st.characters(), max_size=60), max_size=8))
def test_native_columns_equal_python_on_any_text(lines: list[str]):
    stop = frozenset({"the", "and", "é", "漢字", "_", "a"})
    for stopwords, triggers in ((stop, stop | ALL_TRIGGERS), (None, None)):
        got, want = _both(lines, stopwords, triggers)
        assert got == want
        # the same types too: a bool is not an int for the verdicts' reprs
        assert [type(x) for col in got for x in col] == [type(x) for col in want for x in col]


def test_native_columns_check_their_arguments():
    with pytest.raises(ValueError):
        native.columns(["a"], [], None)
    with pytest.raises(TypeError):
        native.columns([1], ["a"], None)
    with pytest.raises(TypeError):
        native.columns(["a"], ["a"], ["not", "a", "set"])
    with pytest.raises(TypeError):
        native.columns(["a"], ["a"], None, {"a mutable set"})


def test_pages_get_the_same_verdicts_with_and_without_the_accelerator(monkeypatch):
    pages = [p.read_text(encoding="utf-8") for p in sorted(SAMPLES.glob("*.txt"))]
    pages.append("Ŝome nön-ASCII tëxt, 3 Mai 2019 – Kommentare\n\n漢字かな。漢字。\nΣΊΣΥΦΟΣ said so.”\n")
    options = BoilerplateOptions()
    monkeypatch.setattr(L, "_columns", native.columns)
    fast = [clean(p, options) for p in pages]
    monkeypatch.setattr(L, "_columns", L.columns_python)
    assert [clean(p, options) for p in pages] == fast


CLASSES = st.sampled_from([L.GOOD, L.NEARGOOD, L.SHORT, L.BAD, "other"])


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(st.tuples(CLASSES, st.booleans(), st.booleans()), max_size=40),
    st.integers(-2, 8) | st.just(10**9) | st.just(-(10**30)),
    st.integers(-1, 12) | st.just(10**40),
    st.booleans(),
    st.booleans(),
)
def test_native_resolve_equals_python(units, min_run, max_distance, with_transparent, with_sentence):
    initial = [c for c, _, _ in units]
    transparent = [t for _, t, _ in units] if with_transparent else None
    sentence = [s for _, _, s in units] if with_sentence else None
    want = C.resolve_python(list(initial), min_run, transparent, max_distance, sentence)
    saved, C._native = C._native, native_context  # the wrapper's own path (even under INGEST_NATIVE=0)
    try:
        got = C.resolve(list(initial), min_run, transparent, max_distance, sentence)
    finally:
        C._native = saved
    assert got == want


def test_native_resolve_keeps_the_python_path_for_odd_arguments():
    # a transparent list of another length: the Python code decides (and the C code refuses it)
    longer = [False, True, True]
    assert C.resolve([L.SHORT, L.GOOD], 3, longer) == C.resolve_python([L.SHORT, L.GOOD], 3, longer)
    with pytest.raises(ValueError):
        native_context.resolve([L.SHORT], 3, [False, True], 0, None, (L.GOOD, L.NEARGOOD, L.SHORT, L.BAD))


def test_native_word_table_follows_the_word_lists():
    lines = ["The cat and the dog", "cat dog bird"]
    lowered = [line.lower() for line in lines]
    first = native.columns(lines, lowered, frozenset({"the", "cat"}), frozenset({"dog"}))
    second = native.columns(lines, lowered, frozenset({"dog", "bird"}), frozenset({"cat"}))
    _texts, firsts, lasts, _nc, nw, nstop, _ends, _nsent, hits = first
    assert nstop == [3, 1] and hits == [frozenset({"dog"}), frozenset({"dog"})]
    assert firsts == ["the", "cat"] and lasts == ["dog", "bird"] and nw == [5, 3]
    assert second[5] == [1, 2] and second[8] == [frozenset({"cat"}), frozenset({"cat"})]
    # a mutable set may change between calls: its words are looked up every time
    mutable = {"cat"}
    assert native.columns(lines, lowered, mutable)[5] == [1, 1]
    mutable.add("dog")
    assert native.columns(lines, lowered, mutable)[5] == [2, 2]
    assert native.columns(lines, lowered, mutable) == L.columns_python(lines, lowered, frozenset(mutable))


def test_native_columns_with_more_listed_words_than_the_table_holds():
    # a stop list too long for the table: every token is looked up in the sets instead
    stop = frozenset(f"w{i}" for i in range(0, 100_000, 3))
    lines = [" ".join(f"w{i}" for i in range(start, start + 1000)) for start in range(0, 100_000, 1000)]
    lowered = list(lines)
    got = native.columns(lines, lowered, stop, ALL_TRIGGERS)
    assert got == L.columns_python(lines, lowered, stop, ALL_TRIGGERS)
    assert sum(got[5]) == len(stop)
    # and a short one after it fills the table again
    assert native.columns(lines[:2], lowered[:2], ENGLISH, ALL_TRIGGERS) == L.columns_python(
        lines[:2], lowered[:2], ENGLISH, ALL_TRIGGERS
    )


def test_words_are_made_on_first_use_and_equal_the_tokens():
    feats = L.compute_features(["  Héllo, wörld_1 and 42  ", "", "The END."], ENGLISH, None, ALL_TRIGGERS)
    assert [f._words for f in feats] == [None, None, None]  # not made by the feature pass
    assert [f.words for f in feats] == [["héllo", "wörld_1", "and", "42"], [], ["the", "end"]]
    assert [(f.first_word, f.last_word) for f in feats] == [("héllo", "42"), ("", ""), ("the", "end")]
    joined = L.merge_features([feats[0], feats[2]])
    assert joined.words == feats[0].words + feats[2].words
    assert (joined.first_word, joined.last_word) == ("héllo", "end")
    # a line built by hand (a plugin's test) gives its words, and its first and last come from them
    made = L.LineFeatures(0, "a b", "a b", ["a", "b"], 3, 2, 0, 0.0, False, 0)
    assert (made.first_word, made.last_word) == ("a", "b")


RULES = st.sampled_from([None, "timestamp", "byline", "comment_meta", "end_marker", "promo", "density"])


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.tuples(CLASSES, st.integers(0, 60), st.integers(0, 300), RULES), max_size=40),
    st.floats(0, 20, allow_nan=False),
    st.floats(0, 3, allow_nan=False),
    st.floats(0, 10, allow_nan=False),
    st.integers(-3, 6) | st.just(10**30),
    st.integers(0, 200),
)
def test_native_best_span_equals_python(units, line_pen, word_pen, dated, bridge, short):
    options = BoilerplateOptions(
        span_line_penalty=line_pen, span_word_penalty=word_pen, span_dated_factor=dated, length_low=short
    )
    options.span_bridge_lines = bridge  # beyond what a config would give: the wrapper's clamping
    feats = [
        L.LineFeatures(2 * u, "x", "x", [], nc, nw, 0, 0.0, False, 0)
        for u, (_, nw, nc, _) in enumerate(units)
    ]
    page = L.Page(feats, options, frozenset())
    page.unit_features = feats
    page.units = [[2 * u, 2 * u + 1] for u in range(len(units))]
    page.removed = {2 * u: (rule, 1.0) for u, (_, _, _, rule) in enumerate(units) if rule is not None}
    classes = [c for c, _, _, _ in units]
    saved, S._native = S._native, native_structure
    try:
        got = S.best_span(page, classes)
    finally:
        S._native = saved
    assert got == S.best_span_python(page, classes)
