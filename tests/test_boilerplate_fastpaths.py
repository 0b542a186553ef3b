"""The speed-ups of the boilerplate remover decide exactly as the plain definitions do."""

from __future__ import annotations

import re

from ingest_plugins.boilerplate import BoilerplateOptions, LineVerdict, clean, kept_text
from ingest_plugins.boilerplate import rules as R
from ingest_plugins.boilerplate.lines import WORD_RE, compute_features
from ingest_plugins.boilerplate.stopwords import ENGLISH
from ingest_plugins.boilerplate.structure import END_MARKER_RE, EndMarkerRule

# synthetic lines written for these tests: furniture shapes and plain prose, mixed case
LINES = [
    "Copyright (C) 2019 Example Media. All Rights Reserved.",
    "Read our Privacy Policy and Terms of Use",
    "We use cookies to improve your browsing experience. Accept",
    "Your email address will not be published. Required fields are marked *",
    "Save my name, email, and website in this browser for the next time I comment.",
    "Notify me of new posts by email.",
    "Download the Example app on the App Store or Google Play",
    "Sign up for our newsletter to get daily updates in your inbox",
    "Photo: Getty Images",
    "(Photo: Jane Doe/Example)",
    "Nov 19, 2019, 8:15 pm",
    "Updated 2 hours ago",
    "19th November 2019",
    "May, 2019",
    "The market for decisions was novel in March of that year.",
    "Published 12/03/2021 at 10:45 a.m. ET",
    "jane says:",
    "12 Likes",
    "In reply to Bob",
    "Related Articles",
    "More from Example News",
    "You may also like",
    "The council voted on Tuesday to extend the bus network.",
    "Ŝome nön-ASCII tëxt, 3 Mai 2019 – Kommentare",
    "ſeptember 5 and the Kelvin sign K",
    "",
    "   ",
]


def test_ascii_regex_shortcuts_equal_the_case_insensitive_patterns() -> None:
    for rx in (R.PROMO_RE, R.CAPTION_RE, R.COMMENT_META_RE, R.COOKIE_RE, R.COOKIE_CTX_RE, R.NUMERIC_DATE_RE):
        search = R.ci_search(rx)
        for line in LINES + [x.upper() for x in LINES] + [x.lower() for x in LINES]:
            a, b = search(line), rx.search(line)
            assert (a is None) == (b is None), (rx.pattern[:30], line)
            if a is not None and b is not None:
                assert a.span() == b.span()
    marker = R.ci_match(END_MARKER_RE)
    for line in LINES + [x.upper() for x in LINES]:
        assert (marker(line) is None) == (END_MARKER_RE.match(line) is None), line
        assert EndMarkerRule().is_marker(line) == (END_MARKER_RE.match(line) is not None)


def test_date_shortcuts_take_out_the_same_spans() -> None:
    for line in LINES + [x.upper() for x in LINES]:
        if line.isascii():
            assert R._DATE_LOWER_RE.subn(" ", line.lower()) == (
                R.DATE_RE.subn(" ", line)[0].lower(),
                R.DATE_RE.subn(" ", line)[1],
            )
            assert (R._NUMERIC_DATE_LOWER_RE.search(line.lower()) is None) == (
                R.NUMERIC_DATE_RE.search(line) is None
            )


def test_legal_parts_cover_every_alternative() -> None:
    parts = R._top_level_alternatives(R.LEGAL_RE.pattern)
    assert len(parts) == len(R._LEGAL_PART_WORDS)
    assert re.compile("|".join(parts), re.IGNORECASE).pattern == R.LEGAL_RE.pattern
    for word, part in zip(R._LEGAL_PART_WORDS, parts):
        assert word is None or word in part
        assert word is None or word in R.LEGAL_TRIGGERS
    rule = R.LegalRule()
    feats = compute_features(LINES, ENGLISH)
    for f in feats:
        if not f.n_words:
            continue
        expected = bool(
            f.n_words <= 80
            and (not R.LEGAL_TRIGGERS.isdisjoint(f.words) or "©" in f.text)
            and (
                (f.n_words <= 40 and R.LEGAL_RE.search(f.text))
                or (R.COOKIE_RE.search(f.text) and R.COOKIE_CTX_RE.search(f.text))
            )
        )
        assert rule.match(f, None) == expected, f.text  # type: ignore[arg-type]


def test_rule_candidates_hold_every_line_a_rule_claims() -> None:
    o = BoilerplateOptions()
    feats = [f for f in compute_features(LINES, ENGLISH) if f.n_words]
    rules = [r for r in R.pattern_rules() if hasattr(r, "match")]
    cands = R.rule_candidates(feats, o, [r.name for r in rules])
    page = type("P", (), {"options": o})()
    for r in rules:
        listed = {f.index for f in cands[r.name]}
        for f in feats:
            if r.match(f, page):
                assert f.index in listed, (r.name, f.text)


def test_features_match_the_per_line_definitions() -> None:
    lines = LINES + ["日本語のテキストです。これは文章です。", "snake_case and x_1 words"]
    for f in compute_features(lines, ENGLISH):
        assert f.words == WORD_RE.findall(f.raw.lower())
        assert f.text == f.raw.strip()


def test_verdicts_are_named_tuples_and_kept_text_collapses_blank_runs() -> None:
    text = (
        "\n\nFirst kept paragraph of the article, long enough to be prose for sure.  \n\n\n\n"
        "Second kept paragraph of the article, which is also long enough to count.\n\n"
    )
    verdicts = clean(text)
    assert all(isinstance(v, LineVerdict) and isinstance(v, tuple) for v in verdicts)
    v = verdicts[2]
    assert (v.index, v.text, v.keep, v.rule) == (2, verdicts[2][1], v[2], v[3])
    out = kept_text(verdicts)
    assert not out.startswith("\n") and not out.endswith("\n") and "\n\n\n" not in out
    # the reference definition of kept_text
    ref: list[str] = []
    for x in verdicts:
        if not x.keep:
            continue
        if not x.text.strip():
            if ref and ref[-1] != "":
                ref.append("")
            continue
        ref.append(x.text.rstrip())
    while ref and ref[-1] == "":
        ref.pop()
    assert out == "\n".join(ref)


def test_line_of_cjk_punctuation_does_not_crash() -> None:
    # "・" counts towards the word estimate of unspaced scripts but is no \w word
    for options in (BoilerplateOptions(), BoilerplateOptions(link_phrases=["see"])):
        verdicts = clean("・・・・\n\nこんにちは世界、これは長い文章です。\n゠゠", options)
        assert [v.index for v in verdicts] == [0, 1, 2, 3]


def test_decide_is_clean_without_the_scores():
    """``Cleaner.decide`` (what the stage calls) gives clean()'s lines, keeps and rules, and
    join_kept of its kept lines is kept_text of the verdicts: on every seed and a mixed page."""
    from pathlib import Path

    from ingest_plugins.boilerplate import Cleaner
    from ingest_plugins.boilerplate.classify import join_kept

    root = Path(__file__).resolve().parent.parent / "samples" / "seeds"
    pages = [p.read_text(encoding="utf-8") for p in sorted(root.glob("*.txt"))]
    pages.append("\n".join(LINES + [""] + LINES[::-1]))
    cleaner = Cleaner()
    removed_any = 0
    for page in pages:
        verdicts = cleaner.clean(page)
        lines, keep, rules = cleaner.decide(page)
        assert lines == [v.text for v in verdicts] == page.split("\n")
        assert keep == [v.keep for v in verdicts] and rules == [v.rule for v in verdicts]
        assert join_kept(line for line, k in zip(lines, keep) if k) == kept_text(verdicts)
        removed_any += not all(keep)
    assert removed_any >= 4  # most of these pages have furniture to remove
