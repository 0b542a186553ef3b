"""The compiled fast paths of the boilerplate stage equal their Python twins, value for value."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ingest_plugins.boilerplate import BoilerplateOptions
from ingest_plugins.boilerplate import lines as L
from ingest_plugins.boilerplate import rules as R
from ingest_plugins.boilerplate import structure as S
from ingest_plugins.boilerplate.classify import RULE_NAMES
from ingest_plugins.boilerplate.rules import ALL_TRIGGERS
from ingest_plugins.boilerplate.stopwords import ENGLISH

NOT_BUILT = "the C accelerators are not built (no compiler at install time, or INGEST_BUILD_NATIVE=0)"
native = pytest.importorskip("ingest_plugins.boilerplate._features", reason=NOT_BUILT)

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "seeds"
# where the two could part: Unicode spaces, enders and closers of several scripts, capitals whose lower
# case differs in length ("İ") or is ASCII (the Kelvin sign), final sigma, CJK and ideographic stops
TRICKY = (
    " \t\x0b\x0c\r\x1c\x85\xa0\u2000\u3000.!?…:;。！？\"')]”’»」』）([“‘«_-–—,/&|•·›©"
    "aAzZ09éÉßİıKΣσςЖж٣²漢字かなカナ한글\u3040\u30ff\u3400\u9fff\uac00\ud7af\uf900\ufaff\u303f\ufb00"
    "\U0001f600\U00020000"
)
SLOTS = [s for s in L.LineFeatures.__slots__ if s != "__weakref__"]


def _values(feats: list[L.LineFeatures]) -> list[list[tuple[type, object]]]:
    return [[(type(getattr(f, s)), getattr(f, s)) for s in SLOTS] for f in feats]


def _both(lines: list[str], stopwords: frozenset[str] | None, triggers: frozenset[str] | None) -> None:
    got = native.features(L.LineFeatures, lines, stopwords or None, triggers)
    want = L.features_python(lines, stopwords or frozenset(), None, triggers)
    assert [type(f) for f in got] == [L.LineFeatures] * len(lines)
    assert _values(got) == _values(want)
    assert got == want


def test_features_equal_python_on_the_sample_pages():
    pages = [p.read_text(encoding="utf-8") for p in sorted(SAMPLES.glob("*.txt"))]
    assert pages
    for page in pages:
        for stopwords, triggers in ((ENGLISH, ALL_TRIGGERS), (None, None), (ENGLISH, None)):
            _both(page.split("\n"), stopwords, triggers)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(TRICKY) | st.characters(), max_size=60), max_size=8))
def test_features_equal_python_on_any_text(lines: list[str]):
    stop = frozenset({"the", "and", "é", "漢字", "_", "a", "k"})
    for stopwords, triggers in ((stop, stop | ALL_TRIGGERS), (None, None), (ENGLISH, ALL_TRIGGERS)):
        _both(lines, stopwords, triggers)
    # the lines lower-cased one by one are the page lower-cased
    page = "\n".join(lines)
    assert page.lower().split("\n") == [line.lower() for line in page.split("\n")]


def test_features_check_their_arguments():
    # not a str itself: left to the Python code (which lower-cases a subclass its own way, or fails)
    assert native.features(L.LineFeatures, ["a", Shouting("Bb")], None) is None
    assert native.features(L.LineFeatures, [1], None) is None


class Shouting(str):
    def lower(self) -> str:
        return self.upper()


def test_compute_features_of_str_subclasses_are_pythons():
    lines = ["Some Words", Shouting("Other Words and more")]
    got = L.compute_features(lines, ENGLISH, None, ALL_TRIGGERS)
    assert got == L.features_python(lines, ENGLISH, None, ALL_TRIGGERS)
    assert got[1].first_word == "OTHER"
    with pytest.raises(TypeError):
        native.features(L.LineFeatures, ["a"], ["not", "a", "set"])
    with pytest.raises(TypeError):
        native.features(L.LineFeatures, ["a"], None, {"a mutable set"})
    with pytest.raises(TypeError):
        native.features(object, ["a"], None)  # no slots to fill
    with pytest.raises(TypeError):
        native.features(L.Page, ["a"], None)


def test_compute_features_takes_the_python_path_when_asked(monkeypatch):
    lines = ["Héllo, WORLD and 42.", "", "漢字かな。漢字。", "ΣΊΣΥΦΟΣ said so.”"]
    fast = L.compute_features(lines, ENGLISH, None, ALL_TRIGGERS)
    monkeypatch.setattr(L, "_columns", L.columns_python)
    assert L.compute_features(lines, ENGLISH, None, ALL_TRIGGERS) == fast


def _candidates_both(lines: list[str], pmw: int, kmi: int) -> None:
    feats = [f for f in L.compute_features(lines, ENGLISH, None, ALL_TRIGGERS) if f.n_words]
    options = BoilerplateOptions(pattern_max_words=pmw, keyword_min_items=kmi)
    names = [name for name in RULE_NAMES if name in PER_LINE or name in dict(R._TRIGGER_RULES)]
    got = R.rule_candidates(feats, options, names)
    want = R.rule_candidates_python(feats, options, names)
    assert got.keys() == want.keys()
    for name in want:
        assert [id(f) for f in got[name]] == [id(f) for f in want[name]], name


PER_LINE = {"link_phrase", "legal", "caption", "timestamp", "byline", "keyword_list"}


def test_candidates_equal_python_on_the_sample_pages():
    for page in (p.read_text(encoding="utf-8") for p in sorted(SAMPLES.glob("*.txt"))):
        for pmw, kmi in ((14, 4), (0, 0), (3, 10**9), (10**30, -(10**30))):
            _candidates_both(page.split("\n"), pmw, kmi)


LINE_PARTS = st.sampled_from(
    [
        "By",
        "by",
        "Read",
        "more",
        "share",
        "ago",
        "2",
        "©",
        "]",
        "]|",
        "|",
        "-",
        "–",
        "•",
        "·",
        "²",
        "٣",
        "photo",
        "Nov",
        "19,",
        "cookie",
        "a",
        "the",
        "and",
        ",",
        ";",
        "x",
        "İ",
        "漢字",
        "reply",
        "12:30",
        "[VIDEO]",
        " ",
    ]
)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.lists(LINE_PARTS | st.text(alphabet=st.sampled_from(TRICKY), max_size=4), max_size=12), max_size=10
    ),
    st.integers(-2, 20),
    st.integers(-2, 8),
)
def test_candidates_equal_python_on_any_text(parts: list[list[str]], pmw: int, kmi: int):
    _candidates_both([" ".join(p) for p in parts], pmw, kmi)


def test_candidates_leave_lines_made_elsewhere_to_python():
    def made() -> L.LineFeatures:  # no trigger words or first word cached yet
        return L.LineFeatures(0, "By Jane 2", "By Jane 2", None, 9, 3, 0, 0.0, False, 0)

    assert native.candidates(L.LineFeatures, [made()], 14, 4, R._WORD_BITS, R._FIRST_BITS) is None
    options = BoilerplateOptions()
    got = R.rule_candidates([made()], options, ["byline"])
    assert got["byline"][0].index == 0 and len(got["byline"]) == 2  # dated (a digit) and opened by "by"


def _marker_both(text: str) -> None:
    rule = S.EndMarkerRule()
    for f in L.compute_features([text], ENGLISH, None, ALL_TRIGGERS):
        if f.n_words:
            assert rule.is_marker_line(f) == rule.is_marker(f.text), text


@settings(max_examples=2000, deadline=None)
@given(
    st.from_regex(S.END_MARKER_RE, fullmatch=True)
    | st.from_regex(S.END_MARKER_RE, fullmatch=True, alphabet=st.characters(max_codepoint=127))
)
def test_every_end_marker_passes_the_first_word_gate(text: str):
    _marker_both(text)


MARKER_PARTS = st.sampled_from(
    sorted(S._MARKER_OPENERS) + ["Related", "MORE", "12", "3rd", "_", "...", "--", ":", "Comments2", "you'll"]
)


@settings(max_examples=1000, deadline=None)
@given(st.lists(MARKER_PARTS | st.text(alphabet=st.sampled_from(TRICKY), max_size=3), min_size=1, max_size=6))
def test_end_marker_gate_equals_the_regex(parts: list[str]):
    _marker_both(" ".join(parts))
    _marker_both("".join(parts))
