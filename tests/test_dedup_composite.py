"""Digest pages through ``ingest run``: a page made of other documents goes, its stories stay.

Every test writes its own documents (stories of generated prose, their syndicated copies and
digest pages holding several of them), runs the command line on them and checks the output
files themselves: each input is either in documents.jsonl or in dropped.jsonl, once, and no
document is dropped as a duplicate of a document it does not resemble.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from ingest.testing import run_cli, write_config, write_corpus

FUNCTION_WORDS = ["the", "of", "and", "to", "in", "a", "that", "for", "on", "with", "as", "by", "at", "said"]
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]
CONTENT_WORDS = sorted({"".join(random.Random(i).choices(SYLLABLES, k=3)) for i in range(4000)})


def prose(seed: int, words: int = 170) -> str:
    """Deterministic prose of about ``words`` words: sentences of content words and
    function words. Stories with different seeds share no run of five words."""
    rng = random.Random(seed)
    sentences, count = [], 0
    while count < words:
        length = rng.randint(9, 17)
        pick = [FUNCTION_WORDS if rng.random() < 0.35 else CONTENT_WORDS for _ in range(length)]
        sentence = [rng.choice(words) for words in pick]
        sentences.append(" ".join(sentence).capitalize() + ".")
        count += length
    # paragraphs of four sentences
    return "\n\n".join(" ".join(sentences[i : i + 4]) for i in range(0, len(sentences), 4))


def with_header(title: str, body: str, date: str | None = None) -> str:
    """A file with a header the ``header`` stage turns into metadata."""
    lines = [f"Title: {title}"] + ([f"Date: {date}"] if date else [])
    return "\n".join(lines) + "\n\n" + body + "\n"


def padded(body: str) -> str:
    """The same words with much more white space (a page dumped with its indentation):
    a file longer than a digest of two such stories, with the same shingles."""
    return body.replace(" ", " " * 12).replace(".", ".\n\n" + " " * 12)


def digest(*bodies: str, title: str = "Morning digest") -> str:
    """An aggregator page: a little furniture around whole stories."""
    parts = ["Your morning briefing, in full.", *bodies, "More stories tomorrow."]
    return with_header(title, "\n\n".join(parts))


A, B, D = prose(1), prose(2), prose(3)
STORY_A = with_header("Harbour council backs the new ferry", A, "2024-05-01")
STORY_B = with_header("Museum reopens its railway wing", B, "2024-05-02")
STORY_D = with_header("Farmers count the cost of the dry spring", D, "2024-05-03")


def run(
    folder: Path,
    files: dict[str, str],
    *,
    dedup: dict[str, Any] | None = None,
    args: tuple[str, ...] = (),
    known: set[str] = frozenset(),  # type: ignore[assignment]
    check: bool = True,
) -> tuple[dict[str, dict], dict[str, dict]]:
    """``ingest run`` (header, dedup) over ``files`` written to ``folder/in``;
    returns the kept and dropped records by id, read from the output files,
    after checking that every input is in exactly one of them and (``check``)
    that every drop is justified (``known``: ids exported by earlier runs)."""
    source = write_corpus(folder / "in", files)
    out = folder / "out"
    config = write_config(
        folder / "config.toml",
        {
            "source": {"path": str(source)},
            "sink": {"path": str(out)},
            "pipeline": [{"stage": "header"}, {"stage": "dedup", **(dedup or {})}],
        },
    )
    result = run_cli("run", "-c", config, *args)
    assert result.exit_code == 0, result.stderr
    kept = [json.loads(line) for line in (out / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    dropped = [json.loads(line) for line in (out / "dropped.jsonl").read_text(encoding="utf-8").splitlines()]
    ids = [r["id"] for r in kept] + [r["id"] for r in dropped]
    # input = kept + dropped, counted in the files themselves
    assert len(ids) == len(files) and sorted(ids) == sorted(files)
    kept_by_id = {r["id"]: r for r in kept}
    if check:
        assert_justified(dropped, set(kept_by_id) | set(known), set(files) | set(known))
    return kept_by_id, {r["id"]: r for r in dropped}


def assert_justified(dropped: list[dict], survivors: set[str], everything: set[str]) -> None:
    """A duplicate names a kept document that it resembles itself (its recorded
    Jaccard or containment to it passes the default thresholds, 0.7 / 0.8 with
    the edit budget's floor of 0.7); a composite names two or more documents and
    no survivor."""
    for record in dropped:
        details = record.get("details", {})
        if record["reason"] in ("near_duplicate", "exact_duplicate"):
            assert record["duplicate_of"] in survivors, record["id"]
            assert details["similarity"] >= 0.7 or details["containment"] >= 0.7, (record["id"], details)
        if record["reason"] == "exact_duplicate":
            assert details["similarity"] == details["containment"] == 1.0
        if record["reason"] == "composite":
            assert "duplicate_of" not in record
            assert len(details["contains"]) >= 2 and set(details["contains"]) <= everything
            assert details["coverage"] >= 0.7


def assert_story_kept(kept: dict[str, dict], doc_id: str, title: str) -> None:
    """Kept as a document of its own: its own metadata, nothing pointing at a digest."""
    record = kept[doc_id]
    assert record["metadata"]["title"] == title
    assert not any(key.startswith("dedup_") for key in record["metadata"])


# ------------------------------------------------------------------ two stories and a digest
@pytest.mark.parametrize("digest_name", ["0-digest.txt", "z-digest.txt"])  # read before or after the stories
@pytest.mark.parametrize("longer", ["digest", "story-a", "stories"])  # which files are longer than the others
@pytest.mark.parametrize("survivor", ["longest", "earliest"])
def test_a_digest_of_two_stories_is_dropped_and_each_story_stays(
    tmp_path: Path, digest_name: str, longer: str, survivor: str
) -> None:
    files = {"story-a.txt": STORY_A, "story-b.txt": STORY_B, digest_name: digest(A, B)}
    if longer != "digest":  # the same words with more white space: the story is the longest text
        files["story-a.txt"] = with_header("Harbour council backs the new ferry", padded(A), "2024-05-01")
    if longer == "stories":  # and the digest the shortest
        files["story-b.txt"] = with_header("Museum reopens its railway wing", padded(B), "2024-05-02")
    by_length = sorted(files, key=lambda name: len(files[name]))
    assert (by_length[-1] == digest_name) == (longer == "digest")
    assert (by_length[0] == digest_name) == (longer == "stories")
    kept, dropped = run(tmp_path, files, dedup={"survivor": survivor})
    assert sorted(kept) == ["story-a.txt", "story-b.txt"]
    assert_story_kept(kept, "story-a.txt", "Harbour council backs the new ferry")
    assert_story_kept(kept, "story-b.txt", "Museum reopens its railway wing")
    record = dropped[digest_name]
    assert (record["stage"], record["reason"]) == ("dedup", "composite")
    assert record["details"]["contains"] == ["story-a.txt", "story-b.txt"]
    assert record["details"]["coverage"] >= 0.95  # all but the furniture and the seams
    assert record["metadata"]["title"] == "Morning digest"


def test_first_seen_judges_a_digest_against_the_stories_seen_before_it(tmp_path: Path) -> None:
    files = {"1-story-a.txt": STORY_A, "2-story-b.txt": STORY_B, "3-digest.txt": digest(A, B)}
    kept, dropped = run(tmp_path / "after", files, dedup={"survivor": "first_seen"})
    assert sorted(kept) == ["1-story-a.txt", "2-story-b.txt"]
    assert dropped["3-digest.txt"]["reason"] == "composite"
    # A digest read first was exported before its stories came: it is not judged again
    # (a later document never changes an earlier decision), and each story goes as
    # contained in it, which it is.
    files = {"1-digest.txt": digest(A, B), "2-story-a.txt": STORY_A, "3-story-b.txt": STORY_B}
    kept, dropped = run(tmp_path / "before", files, dedup={"survivor": "first_seen"})
    assert sorted(kept) == ["1-digest.txt"]
    for name in ("2-story-a.txt", "3-story-b.txt"):
        assert dropped[name]["reason"] == "near_duplicate" and dropped[name]["duplicate_of"] == "1-digest.txt"
        assert dropped[name]["details"]["containment"] == 1.0
    # Read between them, it holds one story seen so far and more: a copy of that
    # story with extras, so it goes with it; the later story is kept, as it resembles
    # neither the first story nor anything kept.
    files = {"1-story-a.txt": STORY_A, "2-digest.txt": digest(A, B), "3-story-b.txt": STORY_B}
    kept, dropped = run(tmp_path / "between", files, dedup={"survivor": "first_seen"})
    assert sorted(kept) == ["1-story-a.txt", "3-story-b.txt"]
    assert dropped["2-digest.txt"]["duplicate_of"] == "1-story-a.txt"


@pytest.mark.parametrize("mode", ["drop", "annotate"])
def test_keep_mode_keeps_the_digest_flagged(tmp_path: Path, mode: str) -> None:
    files = {"story-a.txt": STORY_A, "story-b.txt": STORY_B, "digest.txt": digest(A, B)}
    kept, dropped = run(tmp_path, files, dedup={"composite": "keep", "mode": mode})
    assert sorted(kept) == ["digest.txt", "story-a.txt", "story-b.txt"] and not dropped
    flagged = kept["digest.txt"]["metadata"]
    assert flagged["dedup_composite_of"] == ["story-a.txt", "story-b.txt"]
    assert flagged["dedup_coverage"] >= 0.95
    assert "dedup_role" not in flagged  # in no cluster: nothing is its duplicate
    assert_story_kept(kept, "story-a.txt", "Harbour council backs the new ferry")
    assert_story_kept(kept, "story-b.txt", "Museum reopens its railway wing")


def test_annotate_mode_marks_a_digest_that_would_go(tmp_path: Path) -> None:
    files = {"story-a.txt": STORY_A, "story-b.txt": STORY_B, "digest.txt": digest(A, B)}
    kept, dropped = run(tmp_path, files, dedup={"mode": "annotate"})
    assert sorted(kept) == ["digest.txt", "story-a.txt", "story-b.txt"] and not dropped
    metadata = kept["digest.txt"]["metadata"]
    assert metadata["dedup_role"] == "composite"
    assert metadata["dedup_composite_of"] == ["story-a.txt", "story-b.txt"]


def test_three_stories_in_one_digest(tmp_path: Path) -> None:
    files = {
        "a.txt": STORY_A,
        "b.txt": STORY_B,
        "d.txt": STORY_D,
        "digest.txt": digest(B, D, A),
        # a page holding one story and a little furniture is a copy of that story, not a composite
        "one.txt": with_header("Weekend reading", "Our pick of the week.\n\n" + D + "\n\nShare this story."),
    }
    kept, dropped = run(tmp_path, files)
    assert sorted(kept) == ["a.txt", "b.txt", "one.txt"]
    assert dropped["digest.txt"]["reason"] == "composite"
    # every document it holds: one.txt too (D is nearly all of it)
    assert dropped["digest.txt"]["details"]["contains"] == ["a.txt", "b.txt", "d.txt", "one.txt"]
    # d.txt is in the digest and in one.txt: it goes as a copy of the longer page that holds only it
    assert (dropped["d.txt"]["reason"], dropped["d.txt"]["duplicate_of"]) == ("near_duplicate", "one.txt")
    assert dropped["d.txt"]["details"]["containment"] == 1.0
    assert_story_kept(kept, "a.txt", "Harbour council backs the new ferry")


# ------------------------------------------------------------------ ordinary duplicates
def substituted(body: str, every: int, word: str = "zork") -> str:
    """An editor's copy: one word in ``every`` replaced."""
    words = body.split(" ")
    return " ".join(word if i % every == every // 2 else w for i, w in enumerate(words))


SYNDICATED = {
    "a.txt": STORY_A,
    "a-wire.txt": with_header("Harbour council backs new ferry", substituted(A, 60), "2024-05-01"),
    "a-extended.txt": with_header("Harbour council backs ferry", A + "\n\n" + prose(11, 90), "2024-05-01"),
    "b.txt": STORY_B,
    "b-copy.txt": STORY_B,
    "digest.txt": digest(A, B),
    "d.txt": STORY_D,
}


def test_syndicated_copies_are_still_dropped_next_to_a_digest(tmp_path: Path) -> None:
    kept, dropped = run(tmp_path, SYNDICATED)
    assert sorted(kept) == ["a-extended.txt", "b-copy.txt", "d.txt"]
    reasons = {k: (r["reason"], r.get("duplicate_of")) for k, r in dropped.items()}
    assert reasons == {
        "a.txt": ("near_duplicate", "a-extended.txt"),  # contained in a longer copy
        "a-wire.txt": ("near_duplicate", "a-extended.txt"),  # an edited copy
        "b.txt": ("exact_duplicate", "b-copy.txt"),  # as long as its copy: the smaller id stays
        "digest.txt": ("composite", None),
    }
    assert dropped["a.txt"]["details"]["containment"] == 1.0
    assert 0.7 < dropped["a-wire.txt"]["details"]["containment"] < 1.0
    # the digest names every document it holds, the copies of its stories too
    assert dropped["digest.txt"]["details"]["contains"] == ["a-wire.txt", "a.txt", "b-copy.txt", "b.txt"]


def test_same_output_with_two_workers_and_with_little_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest_plugins.dedup import DedupEngine

    base = without_paths(run(tmp_path / "one", SYNDICATED))
    # hashing in helper processes from the first batch on, batches of two documents
    monkeypatch.setattr(DedupEngine, "inline_batches", 0)
    two = run(tmp_path / "two", SYNDICATED, dedup={"batch_size": 2}, args=("--workers", "2"))
    assert without_paths(two) == base
    # shingle sets dropped at once: every measure (and each digest's coverage) re-reads texts
    assert without_paths(run(tmp_path / "lean", SYNDICATED, dedup={"shingle_memory_mb": 0.0001})) == base


def without_paths(result: tuple[dict[str, dict], dict[str, dict]]) -> tuple[dict, dict]:
    """Records without their input path (each run reads its own copy of the files)."""
    kept, dropped = ({k: {f: v for f, v in r.items() if f != "path"} for k, r in p.items()} for p in result)
    return kept, dropped


# ------------------------------------------------------------------ the invariant
def test_nothing_is_dropped_as_a_copy_of_a_page_it_only_reaches_through_others(tmp_path: Path) -> None:
    # s, a copy of it with a new closing paragraph x, and a piece holding the end of
    # s and x: the piece is in the copy, the copy in s, but half the piece is not in s
    p = [prose(20 + i, 40) for i in range(8)]
    x = prose(30, 40)
    files = {
        "1-s.txt": with_header("S", "\n\n".join(p[:7])),
        "2-copy.txt": with_header("S copy", "\n\n".join(p[:5] + [x])),
        "3-piece.txt": with_header("Piece", "\n\n".join([p[4], x])),
    }
    for survivor in ("longest", "first_seen"):
        kept, dropped = run(tmp_path / survivor, files, dedup={"survivor": survivor})
        assert sorted(dropped) == ["2-copy.txt"] and dropped["2-copy.txt"]["duplicate_of"] == "1-s.txt"
        assert "3-piece.txt" in kept  # x is only in the piece and in the dropped copy
    # connected components do chain: the piece goes with s through the copy
    kept, dropped = run(tmp_path / "transitive", files, dedup={"clusters": "transitive"}, check=False)
    assert dropped["3-piece.txt"]["duplicate_of"] == "1-s.txt"
    assert dropped["3-piece.txt"]["details"]["containment"] < 0.7


def syndicated(rng: random.Random, body: str) -> str:
    """A copy of a story as another outlet runs it: edited, cut, extended, padded or as it is."""
    op = rng.choice(["edit", "cut", "extend", "pad", "exact"])
    paragraphs = body.split("\n\n")
    if op == "edit":
        return substituted(body, rng.randint(25, 80))
    if op == "cut":
        return "\n\n".join(paragraphs[:-1] or paragraphs)
    if op == "extend":
        return body + "\n\n" + prose(rng.randint(10**6, 10**7), rng.randint(20, 80))
    return padded(body) if op == "pad" else body


def corpus(seed: int) -> dict[str, str]:
    """Stories, syndicated copies (edited, cut, extended, padded, exact) and digests of
    two to four of them (whole stories or copies), in files named in no useful order."""
    rng = random.Random(seed)
    files: dict[str, str] = {}
    bodies: list[list[str]] = []
    for s in range(12):
        body = prose(100 * seed + s, rng.randint(150, 260))
        copies = [body] + [syndicated(rng, body) for _ in range(rng.randint(0, 3))]
        bodies.append(copies)
        for c, text in enumerate(copies):
            files[f"{rng.randint(0, 10**6):06d}-s{s}-{c}.txt"] = with_header(f"Story {s}", text)
    for d in range(5):  # (named to be read last: with first_seen a digest read first is kept)
        picks = rng.sample(range(len(bodies)), rng.randint(2, 4))
        files[f"z{rng.randint(0, 10**6):06d}-digest{d}.txt"] = digest(*(rng.choice(bodies[i]) for i in picks))
    return files


@pytest.mark.parametrize("survivor", ["longest", "first_seen", "preferred_outlets"])
def test_every_drop_names_a_kept_document_it_resembles(tmp_path: Path, survivor: str) -> None:
    files = corpus(7)
    kept, dropped = run(tmp_path, files, dedup={"survivor": survivor})  # checks each drop (assert_justified)
    composites = [r for r in dropped.values() if r["reason"] == "composite"]
    assert len(composites) >= 3
    for record in composites:  # a digest holds stories, never another digest
        assert not any("digest" in part for part in record["details"]["contains"])
    # the stories of every dropped digest are still there: some copy of each is kept
    story_of = {name: name.split("-")[1] for name in files if "-s" in name}
    kept_stories = {story_of[name] for name in kept if name in story_of}
    for record in composites:
        assert {story_of[part] for part in record["details"]["contains"]} <= kept_stories


# ------------------------------------------------------------------ daily batches
def test_a_persistent_index_remembers_stories_and_digests(tmp_path: Path) -> None:
    index = str(tmp_path / "dedup.index")
    dedup = {"index_path": index, "save_index": index}
    day1, _ = run(tmp_path / "day1", {"a.txt": STORY_A, "b.txt": STORY_B}, dedup=dedup)
    assert sorted(day1) == ["a.txt", "b.txt"]
    # day 2: a digest of yesterday's stories
    day2 = {"digest.txt": digest(A, B)}
    kept, dropped = run(tmp_path / "day2", day2, dedup=dedup, known={"a.txt", "b.txt"})
    assert not kept and dropped["digest.txt"]["details"]["contains"] == ["a.txt", "b.txt"]
    # day 3: a new story, a wire copy of an old one, and a bigger digest that also holds the
    # old digest's text: it names the stories, never yesterday's digest (the index knows it
    # was a composite)
    files = {
        "d.txt": STORY_D,
        "a-wire.txt": with_header("Harbour council backs new ferry", substituted(A, 60)),
        "weekly.txt": digest(A, B, D, title="Weekly digest"),
    }
    kept, dropped = run(tmp_path / "day3", files, dedup=dedup, known={"a.txt", "b.txt", "digest.txt"})
    assert sorted(kept) == ["d.txt"]
    wire = dropped["a-wire.txt"]
    assert (wire["reason"], wire["duplicate_of"]) == ("near_duplicate", "a.txt")
    assert dropped["weekly.txt"]["reason"] == "composite"
    assert dropped["weekly.txt"]["details"]["contains"] == ["a-wire.txt", "a.txt", "b.txt", "d.txt"]


def test_an_index_larger_than_the_memory_budget(tmp_path: Path) -> None:
    # past shingle_memory_mb the sets of this run's documents are re-read from the spool;
    # the index's stay in memory (their texts are not at hand)
    index = str(tmp_path / "dedup.index")
    run(tmp_path / "day1", {"a.txt": STORY_A, "b.txt": STORY_B}, dedup={"save_index": index})
    files = {
        "a-wire.txt": with_header("Harbour council backs new ferry", substituted(A, 60)),
        "digest.txt": digest(A, B),
        "d.txt": STORY_D,
    }
    results = []
    for name, memory in (("plenty", 256.0), ("little", 0.0001)):
        dedup = {"index_path": index, "shingle_memory_mb": memory}
        results.append(without_paths(run(tmp_path / name, files, dedup=dedup, known={"a.txt", "b.txt"})))
    assert results[0] == results[1]
    kept, dropped = results[1]
    assert sorted(kept) == ["d.txt"] and dropped["a-wire.txt"]["duplicate_of"] == "a.txt"
    assert dropped["digest.txt"]["details"]["contains"] == ["a-wire.txt", "a.txt", "b.txt"]


@pytest.mark.slow
def test_same_output_on_ray(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    base = without_paths(run(tmp_path / "local", SYNDICATED, args=("--workers", "2")))
    on_ray = run(tmp_path / "ray", SYNDICATED, args=("--executor", "ray", "--workers", "2"))
    assert without_paths(on_ray) == base


def test_the_values_too_common_to_search_by_are_those_a_count_of_each_finds() -> None:
    """The composite search leaves out the smallest hashes shared by more than
    ``_BOTTOM_MAX_DF`` documents; its mask (a running sum, no array per distinct
    value) is the one a count of each value gives, on random sorted tables."""
    import numpy as np
    from ingest_plugins.dedup.engine import _rare_values

    rng = np.random.default_rng(7)
    for _ in range(2000):
        n, most = int(rng.integers(0, 80)), int(rng.integers(1, 9))
        values = np.sort(rng.integers(0, int(rng.integers(1, 25)), n)).astype(np.uint32)
        distinct, counts = np.unique(values, return_counts=True)
        rare = np.isin(values, distinct[counts <= most])
        assert np.array_equal(_rare_values(values, most), rare), (values.tolist(), most)
