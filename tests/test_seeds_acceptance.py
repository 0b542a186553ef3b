"""The five seed documents through the sample pipeline, as SEEDS.md says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SEEDS = {
    "000": "000_0641a12947d22cdf.txt",
    "001": "001_2877f954cb6919f4.txt",
    "002": "002_3cbde2034b18dd31.txt",
    "003": "003_89fd1761f10742c4.txt",
    "004": "004_dcd211c25d3ab868.txt",
}


def read_jsonl(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


@pytest.fixture
def sample_run(tmp_path, ingest_cli, repo_root):
    """`ingest run -c config.toml` exactly as the README's quick start, output in tmp."""
    result = ingest_cli("run", "-c", str(repo_root / "config.toml"), "--output", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    return (
        read_jsonl(tmp_path / "documents.jsonl"),
        read_jsonl(tmp_path / "dropped.jsonl"),
        json.loads((tmp_path / "report.json").read_text()),
    )


def seed_line(seeds_dir: Path, key: str, number: int) -> str:
    return (seeds_dir / SEEDS[key]).read_text(encoding="utf-8").split("\n")[number - 1]


def test_every_seed_is_kept_or_dropped_with_a_reason(sample_run):
    kept, dropped, report = sample_run
    assert report["input"] == 5 and report["kept"] + report["dropped"] == 5
    assert set(kept) | set(dropped) == set(SEEDS.values())
    assert report["warnings"] == 0


def test_002_and_003_are_one_article_and_one_is_dropped(sample_run):
    kept, dropped, _ = sample_run
    assert {SEEDS["000"], SEEDS["001"], SEEDS["004"]} <= set(kept)
    pair = {SEEDS["002"], SEEDS["003"]}
    assert len(pair & set(dropped)) == 1 and len(pair & set(kept)) == 1
    (loser,) = pair & set(dropped)
    (survivor,) = pair & set(kept)
    record = dropped[loser]
    assert record["stage"] == "dedup" and record["reason"] == "near_duplicate"
    assert record["duplicate_of"] == survivor
    assert record["details"]["method"] == "near" and record["details"]["similarity"] >= 0.8


def test_header_metadata(sample_run):
    kept, dropped, _ = sample_run
    docs = {**dropped, **kept}
    d000 = docs[SEEDS["000"]]
    assert d000["metadata"]["date"] == "2025-07-07" and d000["metadata"]["header_values"] == ["403"]
    assert d000["metadata"]["outlet"] == "MENAFN"
    assert d000["metadata"]["title"] == "Strained NATO Talks with Kiev Hit Stalemate"
    assert docs[SEEDS["002"]]["metadata"]["title"] == "NATO talks becoming toxic"
    assert docs[SEEDS["003"]]["metadata"]["title"] == "NATO talk becoming toxic"
    assert docs[SEEDS["003"]]["metadata"]["outlet"] == "Russia Today"
    assert docs[SEEDS["003"]]["metadata"]["relative_date"] == "2 days ago"
    assert (
        docs[SEEDS["004"]]["metadata"]["title"]
        == "Ukraine’s Push for NATO Membership Hits a Diplomatic Roadblock"
    )
    assert "title" not in docs[SEEDS["001"]]["metadata"]


def test_article_lines_kept_and_furniture_removed(sample_run, seeds_dir):
    kept, dropped, _ = sample_run
    docs = {**dropped, **kept}
    text = {key: docs[name]["text"] for key, name in SEEDS.items()}
    for number in range(3, 14):
        assert seed_line(seeds_dir, "000", number) in text["000"]
    assert text["001"].strip() == (seeds_dir / SEEDS["001"]).read_text(encoding="utf-8").strip()
    for number in range(3, 11):
        assert seed_line(seeds_dir, "002", number) in text["002"]
    assert seed_line(seeds_dir, "003", 7) in text["003"]
    for number in (3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 31, 33, 35):
        assert seed_line(seeds_dir, "004", number) in text["004"], number
    # Furniture and the appended unrelated stories are gone, every removed line has a rule.
    for key, first_furniture in (("002", 11), ("003", 8)):
        lines = (seeds_dir / SEEDS[key]).read_text(encoding="utf-8").split("\n")
        for line in lines[first_furniture - 1 :]:
            if line.strip():
                assert line not in text[key].split("\n"), (key, line)
    for number in (29, 37, 39, 41):
        assert seed_line(seeds_dir, "004", number) not in text["004"]
    for doc in docs.values():
        for event in doc.get("history", []):
            for line in event.get("lines", []):
                assert line["rule"], (doc["id"], line)


def test_story_grouping_links_the_rewrites(run_pipeline, seeds_dir):
    items = [
        {"id": key, "text": (seeds_dir / name).read_text(encoding="utf-8")} for key, name in SEEDS.items()
    ]
    result = run_pipeline(
        items, ["header", "boilerplate", {"stage": "dedup", "story_grouping": True, "mode": "annotate"}]
    )
    story = {doc.id: doc.metadata["story_id"] for doc in result.kept}
    assert len(result.kept) == 5
    assert story["000"] == story["001"] == story["002"] == story["003"]
    assert story["004"] != story["000"]
    roles = {doc.id: doc.metadata.get("dedup_role") for doc in result.kept}
    assert sorted(r for r in roles.values() if r) == ["duplicate", "survivor"]
