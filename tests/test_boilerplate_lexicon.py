"""Corpus lexicon: counting, thresholds, save/load, and its rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ingest_plugins.boilerplate import BoilerplateOptions, Lexicon, clean, kept_text, normalise

FOOTER = ["Newsroom tips welcome", "Our partner sites", "Weekly digest from the editors"]


def _story(n: int) -> list[str]:
    return [
        f"Story number {n} begins with a report about the weather in the valley, where farmers have waited for "
        f"rain for weeks and the rivers are lower than they have been for {n + 10} years.",
        f"The second paragraph of story {n} quotes a farmer who said that the harvest would be late this year and "
        "that prices at the market were likely to rise before the winter.",
    ]


def _docs(k: int = 5) -> list[str]:
    return ["\n".join(_story(i) + FOOTER) for i in range(k)]


def test_counts_each_line_once_per_document() -> None:
    lex = Lexicon(min_documents=3)
    lex.add_document("Menu\nMenu\nHello world", outlet="a")
    lex.add_document("Menu", outlet="a")
    assert lex.count("menu") == 2
    assert lex.count("MENU ") == 2  # normalised
    assert lex.documents == 2
    entry = lex.lookup("Menu")
    assert entry is not None and entry.documents == 2 and entry.outlets == {"a": 2}
    assert normalise("Updated 12:30, Monday!") == "updated 00 00 monday"


def test_thresholds_and_outlets() -> None:
    lex = Lexicon(min_documents=3, min_fraction=0.5)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
    for w in words[:4]:
        lex.add_document(f"Site A footer\nunique {w}", outlet="a")
    for w in words:
        lex.add_document(f"Site B footer\nother {w}", outlet="b")
    # 4 of 10 documents overall (< 0.5), but 4 of 4 of outlet a
    assert not lex.contains("Site A footer")
    assert lex.contains("Site A footer", outlet="a")
    assert lex.contains("Site B footer")  # 6 of 10
    assert not lex.contains("unique beta", outlet="a")
    # digits are normalised, so numbered variants of a line count together
    lex.add_document("Page 1 of 3")
    lex.add_document("Page 2 of 3")
    assert lex.count("Page 7 of 9") == 2


def test_save_load_round_trip(tmp_path: Path) -> None:
    lex = Lexicon(min_documents=2, min_fraction=0.1)
    for i, d in enumerate(_docs()):
        lex.add_document(d, outlet="site" if i % 2 else None)
    lex.finalize()
    path = tmp_path / "sub" / "lexicon.jsonl"
    lex.save(path)
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    assert rows[0]["format"] == "ingest-boilerplate-lexicon" and rows[0]["documents"] == 5
    assert {r["line"] for r in rows[1:]} == {normalise(x) for x in FOOTER}
    assert all(r["documents"] == 5 for r in rows[1:])
    assert not list(tmp_path.glob("sub/*.tmp"))  # written atomically
    back = Lexicon.load(path)
    assert back.documents == lex.documents
    assert back.min_documents == 2 and back.min_fraction == 0.1
    assert [(e.line, e.documents, e.outlets) for e in back.entries()] == [
        (e.line, e.documents, e.outlets) for e in lex.entries()
    ]
    assert back.contains(FOOTER[0])


def test_load_rejects_other_files(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl"
    p.write_text('{"hello": 1}\n', encoding="utf-8")
    with pytest.raises(ValueError):
        Lexicon.load(p)


def test_lexicon_rule_removes_recurring_lines_two_pass() -> None:
    docs = _docs()
    lex = Lexicon(min_documents=3).fit(docs).finalize()
    new = "\n".join(_story(99) + FOOTER)
    verdicts = clean(new, lexicon=lex)
    rules = {v.text: v.rule for v in verdicts}
    for line in FOOTER:
        assert rules[line] == "lexicon"
    assert kept_text(verdicts) == "\n".join(_story(99))


def test_lexicon_from_saved_file_via_options(tmp_path: Path) -> None:
    path = tmp_path / "lex.jsonl"
    Lexicon(min_documents=3).fit(_docs()).save(path)
    opts = BoilerplateOptions(lexicon_path=str(path))
    verdicts = clean("\n".join(_story(7) + FOOTER), opts)
    assert [v.rule for v in verdicts[2:]] == ["lexicon"] * 3


def test_recurring_marker_word_does_not_empty_a_document() -> None:
    # "Comments" recurs on every page, but here it sits inside an article
    docs = ["\n".join(_story(i) + ["Comments", "No comments yet"]) for i in range(5)]
    lex = Lexicon(min_documents=3).fit(docs)
    text = "\n".join([_story(50)[0], "Comments", _story(50)[1], _story(51)[0], _story(51)[1]])
    verdicts = clean(text, lexicon=lex)
    kept = [v for v in verdicts if v.keep]
    assert len(kept) == 4
    assert verdicts[1].rule == "lexicon"


def test_long_lines_are_not_counted_across_the_corpus() -> None:
    # a long line recurring in documents of no known site is syndicated prose until it is
    # very frequent and found beside different text
    lex = Lexicon(min_documents=2, max_words=10)
    long_line = " ".join(["word"] * 20)
    lex.add_document(long_line)
    lex.add_document(long_line)
    assert lex.count(long_line) == 0
    assert not lex.contains(long_line)
    assert len(lex.finalize()) == 0


def test_options_thresholds_apply_to_saved_lexicon(tmp_path: Path) -> None:
    path = tmp_path / "lex.jsonl"
    opts = BoilerplateOptions(min_documents=3)
    Lexicon.from_options(opts).fit(_docs()).save(path)  # footer lines in 5 documents
    text = "\n".join(_story(7) + FOOTER)
    assert [v.rule for v in clean(text, BoilerplateOptions(lexicon_path=str(path)))[2:]] == ["lexicon"] * 3
    strict = BoilerplateOptions(lexicon_path=str(path), min_documents=6)
    assert all(v.rule != "lexicon" for v in clean(text, strict))
