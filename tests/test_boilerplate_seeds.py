"""Acceptance tests: the five seed pages, line by line (see shared/corpus/SEEDS.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ingest_plugins.boilerplate import LineVerdict, clean, kept_text

SEEDS = Path(__file__).parent.parent / "samples" / "seeds"


def _seed(prefix: str) -> str:
    matches = sorted(SEEDS.glob(f"{prefix}_*.txt"))
    if not matches:
        pytest.skip(f"seed {prefix} not found under {SEEDS}")
    return matches[0].read_text(encoding="utf-8")


def _verdicts(prefix: str, drop_header: bool = False) -> dict[int, LineVerdict]:
    """Verdicts keyed by 1-based line number of the seed file."""
    text = _seed(prefix)
    offset = 1
    if drop_header:  # the metadata header is removed by an earlier stage
        text = text.split("\n", 1)[1]
        offset = 2
    return {v.index + offset: v for v in clean(text)}


def _kept(v: dict[int, LineVerdict], lines: range | list[int]) -> None:
    for n in lines:
        assert v[n].keep, f"line {n} removed by {v[n].rule}: {v[n].text[:60]!r}"


def _removed(v: dict[int, LineVerdict], lines: range | list[int]) -> None:
    for n in lines:
        if v[n].text.strip():
            assert not v[n].keep, f"line {n} kept: {v[n].text[:60]!r}"
            assert v[n].rule, f"line {n} removed without a rule name"


def test_000_all_article_lines_kept() -> None:
    v = _verdicts("000", drop_header=True)
    _kept(v, range(3, 14))


def test_001_everything_kept() -> None:
    text = _seed("001")
    v = clean(text)
    assert all(x.keep for x in v if x.text.strip())
    assert kept_text(v) == text.strip("\n")


def test_002_article_kept_furniture_and_related_stories_removed() -> None:
    v = _verdicts("002")
    _kept(v, range(3, 11))
    _removed(v, range(11, max(v) + 1))
    # the unrelated "Related Articles" stories are real prose and must go in full
    for n in (24, 31, 38):
        assert not v[n].keep


def test_003_only_the_article_paragraph_survives() -> None:
    v = _verdicts("003")
    assert v[7].keep
    _removed(v, [1, 6])
    _removed(v, range(8, max(v) + 1))
    titles = [n for n in (2, 4) if v[n].keep]
    assert len(titles) <= 1  # the title is metadata: once or not at all


def test_004_links_keywords_and_recent_news_removed_headings_kept() -> None:
    v = _verdicts("004")
    furniture = [29, 37, 39, 41]
    _removed(v, furniture)
    article = [n for n in range(2, 42) if n not in furniture and v[n].text.strip()]
    _kept(v, article)
    _kept(v, [15, 23, 33])  # section headings inside the article


def test_every_removed_line_is_traceable() -> None:
    for prefix in ("000", "001", "002", "003", "004"):
        for x in clean(_seed(prefix)):
            assert x.keep == (x.rule is None)
