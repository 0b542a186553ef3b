"""Different stories on one site template, whose repeated paragraph (an author's
bio) survives boilerplate removal, are different documents: dedup keeps them all."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

WORDS = (
    "harbour council budget river festival crowd town hall minister election weather storm market school "
    "teachers hospital doctors police station bridge railway airport museum library garden farmers harvest "
    "ferry tourists opened closed repaired planned expected visited announced discussed late busy full new old "
    "quiet early"
).split()
STOPWORDS = ["the", "of", "and", "to", "in", "for", "with", "that", "was", "on", "at", "by", "from", "after"]
BIO = (
    "Maria Keller has written about gardening, local history and the coast for twenty years. She lives in "
    "a small house by the harbour with two cats and far too many seed catalogues, and she answers every "
    "letter her readers send, usually from the bench in her vegetable garden. Her books on coastal plants "
    "are sold in the shop at the museum and online, and she teaches a course on winter sowing at the "
    "library every January."
)


def sentence(rng: random.Random) -> str:
    """12 to 20 words of prose-like text: content words with stop words between them."""
    words = []
    for _ in range(rng.randint(12, 20)):
        words.append(rng.choice(STOPWORDS) if rng.random() < 0.4 else rng.choice(WORDS))
    return " ".join(words).capitalize() + "."


def run_site(tmp_path: Path, ingest_cli, sentences: int, pages: int = 8) -> tuple[list[str], list[dict]]:
    rng = random.Random(7)
    (tmp_path / "in").mkdir()
    stories = {}
    for i in range(pages):
        story = stories[f"post{i}.txt"] = " ".join(sentence(rng) for _ in range(sentences))
        lines = ["Home", "Recipes", "Garden", "Contact", f"Notes from the garden, part {i}", story, BIO]
        (tmp_path / "in" / f"post{i}.txt").write_text("\n".join([*lines, "© 2025 The Harbour Garden"]) + "\n")
    config = tmp_path / "config.toml"
    config.write_text(
        '[source]\npath = "in"\n[sink]\npath = "out"\n'
        + "".join(f'[[pipeline]]\nstage = "{s}"\n' for s in ("header", "boilerplate", "dedup"))
    )
    assert ingest_cli("run", "-c", str(config)).exit_code == 0
    out = tmp_path / "out"
    records = [json.loads(line) for line in (out / "documents.jsonl").read_text().splitlines()]
    dropped = [json.loads(line) for line in (out / "dropped.jsonl").read_text().splitlines()]
    assert len(records) + len(dropped) == pages
    for record in records:  # each kept page kept its own story, not only the template's paragraph
        assert stories[record["id"]] in record["text"]
    return [record["id"] for record in records], dropped


@pytest.mark.parametrize("sentences", [2, 4])
def test_stories_sharing_a_template_paragraph_are_all_kept(tmp_path, ingest_cli, sentences):
    kept, dropped = run_site(tmp_path, ingest_cli, sentences)
    assert dropped == [] and len(kept) == 8


def test_very_short_stories_sharing_a_template_paragraph_are_all_kept(tmp_path, ingest_cli):
    kept, dropped = run_site(tmp_path, ingest_cli, sentences=1)
    assert dropped == [] and len(kept) == 8
