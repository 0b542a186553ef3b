"""Site furniture: blocks that recur across the pages of one site, short or long,
are removed from every copy; the same prose across sites (syndication), once per
site, or a story a site publishes again, is kept. All pages are written here."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from ingest_plugins.boilerplate import BoilerplateOptions, Lexicon
from ingest_plugins.boilerplate import lexicon as lexicon_module
from ingest_plugins.boilerplate.sites import site_of

from ingest import Document, Origin

WORDS = (
    "council budget river festival crowd hall minister election weather storm market school teachers "
    "hospital doctors police bridge railway airport museum library garden farmers harvest ferry tourists "
    "opened closed repaired planned expected visited announced discussed late busy full new old quiet early "
    "bakery orchard lighthouse tram cinema choir stadium canal vineyard glacier"
).split()
STOPWORDS = ["the", "of", "and", "to", "in", "for", "with", "that", "was", "on", "at", "by", "from", "after"]

BIO = (
    "Maria Keller has written about gardening, local history and the coast for twenty years. She lives in "
    "a small house by the harbour with two cats and far too many seed catalogues, and she answers every "
    "letter her readers send, usually from the bench in her vegetable garden."
)
DISCLAIMER = (
    "The views expressed in this column are those of the author and do not necessarily reflect the views of "
    "the newspaper, its owners or its advertisers, and nothing here is financial or legal advice."
)


def sentence(rng: random.Random, words: int = 16) -> str:
    """Prose-like text: content words with stop words between them."""
    out = [rng.choice(STOPWORDS) if rng.random() < 0.4 else rng.choice(WORDS) for _ in range(words)]
    return " ".join(out).capitalize() + "."


def paragraph(rng: random.Random) -> str:
    """A paragraph of 40-odd words: longer than ``lexicon_max_words``."""
    return " ".join(sentence(rng, rng.randint(13, 18)) for _ in range(3))


def page(site: str, title: str, body: list[str], extra: list[str] = ()) -> str:
    """A page of a site's template: its menu, the article, then what the template adds."""
    return (
        "\n".join(["Home", "News", "Sport", f"{site} weekly", title, *body, *extra, f"© 2025 {site}"]) + "\n"
    )


def run(
    tmp_path: Path, ingest_cli, files: dict[str, str], *, workers: int = 1, stages=("boilerplate",), extra=""
):
    (tmp_path / "in").mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = tmp_path / "in" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[source]\npath = "in"\n[sink]\npath = "out"\n[run]\nworkers = {workers}\n'
        + "".join(f'[[pipeline]]\nstage = "{s}"\n' + (extra if s == "boilerplate" else "") for s in stages)
    )
    result = ingest_cli("run", "-c", str(config))
    assert result.exit_code == 0, result.stderr
    out = tmp_path / "out"
    kept = {r["id"]: r for r in map(json.loads, (out / "documents.jsonl").read_text().splitlines())}
    dropped = {r["id"]: r for r in map(json.loads, (out / "dropped.jsonl").read_text().splitlines())}
    assert len(kept) + len(dropped) == len(files)
    return kept, dropped


def lexicon_lines(record: dict) -> set[str]:
    return {
        line["text"]
        for event in record["history"]
        if event["action"] == "removed_lines"
        for line in event["lines"]
        if line["rule"] == "lexicon"
    }


def blog(
    rng: random.Random, site: str, posts: int, furniture: list[str]
) -> tuple[dict[str, str], dict[str, list[str]]]:
    files, stories = {}, {}
    for i in range(posts):
        body = [paragraph(rng) for _ in range(rng.randint(1, 3))]
        name = f"{site}/post{i}.txt"
        files[name] = page(site, f"Notes from the {rng.choice(WORDS)}, part {i}", body, furniture)
        stories[name] = body
    return files, stories


def test_a_bio_on_every_page_of_a_site_is_removed_and_every_post_kept(tmp_path, ingest_cli):
    rng = random.Random(1)
    files, stories = blog(rng, "harbour-garden", 8, [BIO, DISCLAIMER])
    other, other_stories = blog(rng, "city-desk", 6, [])
    kept, dropped = run(tmp_path, ingest_cli, {**files, **other}, stages=("header", "boilerplate", "dedup"))
    assert dropped == {}
    for name, body in {**stories, **other_stories}.items():
        for para in body:
            assert para in kept[name]["text"]
    for name in stories:
        assert BIO not in kept[name]["text"] and DISCLAIMER not in kept[name]["text"]
        assert {BIO, DISCLAIMER} <= lexicon_lines(kept[name])  # traced to the rule that removed them


def test_the_same_story_on_many_sites_is_kept_on_every_one(tmp_path, ingest_cli):
    rng = random.Random(2)
    story = [paragraph(rng) for _ in range(4)]
    files = {}
    for s in range(7):
        site = f"outlet{s}"
        files.update(blog(rng, site, 3, [])[0])
        files[f"{site}/wire.txt"] = page(site, "Storm closes the harbour", story)
    kept, dropped = run(tmp_path, ingest_cli, files)
    assert dropped == {}
    for s in range(7):
        text = kept[f"outlet{s}/wire.txt"]["text"]
        assert all(para in text for para in story)


def test_a_story_a_site_publishes_again_keeps_its_paragraphs(tmp_path, ingest_cli):
    # five copies of one story on one site (an update each time, at the top): its
    # paragraphs recur within the site, but beside the same neighbours
    rng = random.Random(3)
    story = [paragraph(rng) for _ in range(4)]
    files, _ = blog(rng, "daily", 6, [])
    for i in range(5):
        files[f"daily/live{i}.txt"] = page("daily", f"Live: the flood, update {i}", story)
    kept, dropped = run(tmp_path, ingest_cli, files)
    assert dropped == {}
    for i in range(5):
        assert all(para in kept[f"daily/live{i}.txt"]["text"] for para in story)


def test_a_paragraph_found_once_per_site_is_kept(tmp_path, ingest_cli):
    rng = random.Random(4)
    quote = paragraph(rng)
    files = {}
    for s in range(6):
        site_files, _ = blog(rng, f"site{s}", 4, [])
        first = next(iter(site_files))
        site_files[first] = site_files[first].replace("© 2025", f"{quote}\n© 2025")
        files.update(site_files)
    kept, _ = run(tmp_path, ingest_cli, files)
    assert sum(quote in record["text"] for record in kept.values()) == 6


def test_where_the_site_is_unknown_only_very_frequent_blocks_count(tmp_path, ingest_cli):
    rng = random.Random(5)
    files, rare = {}, paragraph(rng)
    for i in range(30):  # one folder: no site known
        extra = [BIO] + ([rare] if i < 4 else [])
        files[f"page{i}.txt"] = page("Anywhere", f"Item {i}", [paragraph(rng), paragraph(rng)], extra)
    kept, _ = run(tmp_path, ingest_cli, files)
    assert not any(BIO in record["text"] for record in kept.values())  # in every page
    assert sum(rare in record["text"] for record in kept.values()) == 4  # in 4 of 30: kept


def test_one_and_two_workers_write_the_same_bytes(tmp_path, ingest_cli):
    rng = random.Random(6)
    files = {}
    for s in range(3):
        files.update(blog(rng, f"site{s}", 40, [BIO] if s == 0 else [DISCLAIMER])[0])
    outputs = []
    for workers in (1, 2):
        run(tmp_path, ingest_cli, files, workers=workers, stages=("header", "boilerplate", "dedup"))
        out = (tmp_path / "out").rename(tmp_path / f"out{workers}")
        outputs.append([(out / name).read_bytes() for name in ("documents.jsonl", "dropped.jsonl")])
    assert outputs[0] == outputs[1]
    texts = [json.loads(line)["text"] for line in outputs[0][0].decode().splitlines()]
    assert len(texts) == 120 and not any(BIO in text or DISCLAIMER in text for text in texts)


def test_the_saved_lexicon_lists_site_furniture_for_review_and_reuse(tmp_path, ingest_cli):
    rng = random.Random(7)
    files, _ = blog(rng, "harbour-garden", 8, [BIO])
    lexicon = tmp_path / "lexicon.jsonl"
    run(tmp_path, ingest_cli, files, extra=f'save_lexicon = "{lexicon}"\n')
    entries = [json.loads(line) for line in lexicon.read_text().splitlines()[1:]]
    bio = [e for e in entries if e.get("long")]
    assert len(bio) == 1 and bio[0]["outlets"] == {"folder:harbour-garden": 8}
    # a later run applies it, one document at a time, to a new page of the site
    later = tmp_path / "later"
    new_page = page("harbour-garden", "A new post", [paragraph(rng)], [BIO])
    kept, _ = run(
        later, ingest_cli, {"harbour-garden/new.txt": new_page}, extra=f'lexicon_path = "{lexicon}"\n'
    )
    assert BIO not in kept["harbour-garden/new.txt"]["text"]


def test_the_site_of_a_document() -> None:
    def doc(doc_id="a.txt", path=None, **metadata):
        return Document(id=doc_id, text="", metadata=metadata, origin=Origin("text_files", path))

    assert site_of(doc(outlet="The  Gazette")) == "outlet:the gazette"
    assert site_of(doc(url="https://www.example.com/news/1")) == "host:example.com"
    assert site_of(doc(source_url="example.org/a")) == "host:example.org"
    assert site_of(doc("blog/2025/post.txt", "/data/in/blog/2025/post.txt")) == "folder:blog"
    # an id that is not the file's path (a JSON Lines record's own id) says nothing of the site
    assert site_of(doc("blog/7", "/data/in/records.jsonl")) is None
    assert site_of(doc()) is None


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("exact_singles", [0, 300])
def test_counting_with_bounded_memory_finds_the_same_furniture(seed, exact_singles, monkeypatch) -> None:
    # 0: a Bloom filter from the first page on; 300: exact counts, moved into the filter midway
    rng = random.Random(seed)
    corpus = []
    for s in range(5):
        files, _ = blog(rng, f"site{s}", 30, [BIO] if s % 2 else [DISCLAIMER, "Subscribe to our letters"])
        corpus += [(text, f"folder:site{s}") for text in files.values()]
    exact = Lexicon.from_options(BoilerplateOptions()).fit(corpus).finalize()
    monkeypatch.setattr(lexicon_module, "EXACT_SINGLES", exact_singles)
    bounded = Lexicon.from_options(BoilerplateOptions(), expected_documents=len(corpus))
    bounded.fit(corpus)
    assert bounded._seen is not None  # the filter is in use
    bounded.finalize()
    assert [(e.line, e.long) for e in bounded.entries()] == [(e.line, e.long) for e in exact.entries()]
    assert any(e.long for e in exact.entries())


def _furniture_corpus(seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    corpus = []
    for s in range(5):
        files, _ = blog(rng, f"site{s}", 30, [BIO] if s % 2 else [DISCLAIMER, "Subscribe to our letters"])
        corpus += [(text, f"folder:site{s}") for text in files.values()]
    return corpus


def _partitioned(corpus: list[tuple[str, str]], batch: int, expected: int | None = None) -> Lexicon:
    options = BoilerplateOptions()
    prints = [(site, lexicon_module.fingerprint(text, options.lexicon_max_words)) for text, site in corpus]
    batches = (
        lexicon_module.split_prints(prints[i : i + batch], lexicon_module.PARTITIONS)
        for i in range(0, len(prints), batch)
    )
    return Lexicon.counted_in_partitions(options, batches, expected)


@pytest.mark.parametrize("exact_singles", [None, 0, 300])
def test_a_lexicon_counted_in_partitions_is_the_lexicon_counted_whole(exact_singles, monkeypatch) -> None:
    """Each partition holds its own lines and every document's count: merged, the
    partitions are the lexicon counted in one piece, however the documents are
    batched (a sharded run's shards, an unsharded run's batches), with exact counts
    (None) or with a Bloom filter for first sightings."""
    corpus = _furniture_corpus(3)
    whole = Lexicon.from_options(BoilerplateOptions()).fit(corpus).finalize()
    expected = None
    if exact_singles is not None:
        monkeypatch.setattr(lexicon_module, "EXACT_SINGLES", exact_singles)
        expected = len(corpus)
    by_seven, by_forty = _partitioned(corpus, 7, expected), _partitioned(corpus, 40, expected)
    entries = [(e.line, e.documents, e.outlets, e.long) for e in whole.entries()]
    assert [(e.line, e.documents, e.outlets, e.long) for e in by_seven.entries()] == entries
    assert [(e.line, e.documents, e.outlets, e.long) for e in by_forty.entries()] == entries
    assert (by_seven.documents, by_seven.outlet_documents) == (whole.documents, whole.outlet_documents)
    assert any(e.long for e in whole.entries()) and len(entries) > 5


def test_the_bloom_filter_is_the_same_in_every_process(tmp_path: Path) -> None:
    """First sightings go into the filter by a checksum, not by Python's ``hash``
    (salted per process): two processes count a lexicon alike (a resumed run, a
    partition's task)."""
    import subprocess
    import sys

    # 120,000 lines seen once each: the filter of a million bits takes some of them
    # for lines seen before (counted twice: entries of a lexicon that keeps any line
    # of two documents), and which ones follow from its hash
    script = (
        "import sys, random\n"
        "from ingest_plugins.boilerplate import BoilerplateOptions, Lexicon\n"
        "from ingest_plugins.boilerplate import lexicon\n"
        "lexicon.EXACT_SINGLES = 0\n"
        "rng = random.Random(4)\n"
        "def line():\n"
        "    return ' '.join(''.join(rng.choice('abcdefghijklmnop') for _ in range(6)) for _ in range(3))\n"
        "corpus = [(chr(10).join(line() for _ in range(600)), 'folder:s' + str(i % 2)) for i in range(200)]\n"
        "options = BoilerplateOptions(min_documents=2, min_contexts=1, min_fraction=0.0, corpus_min_fraction=0.0)\n"
        "Lexicon.from_options(options, expected_documents=1).fit(corpus).finalize().save(sys.argv[1])\n"
    )
    for seed in ("1", "2"):
        subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / f"{seed}.jsonl")],
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=True,
        )
    first = (tmp_path / "1.jsonl").read_text(encoding="utf-8")
    assert first == (tmp_path / "2.jsonl").read_text(encoding="utf-8")
    assert len(first.splitlines()) > 1000  # false positives, counted alike


def test_over_shards_a_block_on_a_few_pages_of_a_big_site_is_marked_as_in_one_run(tmp_path) -> None:
    """The lines a shard's lexicon model holds include those marked as recurring text
    (kept, but left out when dedup compares): the shards mark what one run marks."""
    from ingest import Pipeline

    rng = random.Random(8)
    files, _ = blog(rng, "harbour-garden", 55, [])
    for i in range(5):
        files[f"harbour-garden/short{i}.txt"] = page("harbour-garden", f"Note {i}", [sentence(rng)], [BIO])
    for name, text in files.items():
        (tmp_path / "in" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / name).write_text(text, encoding="utf-8")
    marked = {}
    for mode, output in (("on", "sharded"), ("off", "plain")):
        config = {
            "source": {"path": str(tmp_path / "in")},
            "sink": {"path": str(tmp_path / output)},
            "run": {"shards": mode, "shard_files": 20, "keep_drop_records": False},
            "pipeline": ["header", "boilerplate", "dedup"],
        }
        Pipeline.from_dict(config).run()
        lines = b"".join(p.read_bytes() for p in sorted((tmp_path / output).glob("documents*.jsonl")))
        records = [json.loads(line) for line in lines.splitlines()]
        marked[mode] = {
            r["id"]: [
                line["text"] for e in r["history"] if e["action"] == "recurring_text" for line in e["lines"]
            ]
            for r in records
        }
    # 60 pages: two shards of 20, the last two's 40 cut anew into 20, 10, 5 and 5
    assert len(list((tmp_path / "sharded").glob("documents-*.jsonl"))) == 5
    assert marked["on"] == marked["off"]
    assert marked["on"]["harbour-garden/short3.txt"] == [BIO]


def test_a_sharded_run_over_two_workers_saves_the_lexicon_one_run_saves(tmp_path) -> None:
    """``save_lexicon`` over shards: each partition's lexicon comes back from a worker
    process (it must pickle) and the saved file is the one an unsharded run writes."""
    from ingest import Pipeline

    rng = random.Random(9)
    files, _ = blog(rng, "harbour-garden", 30, [BIO])
    files.update(blog(rng, "river-news", 30, [DISCLAIMER])[0])
    for name, text in files.items():
        (tmp_path / "in" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / name).write_text(text, encoding="utf-8")
    saved = {}
    for mode in ("on", "off"):
        lexicon = tmp_path / f"lexicon-{mode}.jsonl"
        config = {
            "source": {"path": str(tmp_path / "in")},
            "sink": {"path": str(tmp_path / f"out-{mode}")},
            "run": {"shards": mode, "shard_files": 20, "workers": 2, "keep_drop_records": False},
            "pipeline": [{"stage": "boilerplate", "save_lexicon": str(lexicon)}],
        }
        Pipeline.from_dict(config).run()
        saved[mode] = lexicon.read_text(encoding="utf-8")
    assert saved["on"] == saved["off"]
    entries = [json.loads(line) for line in saved["on"].splitlines()[1:]]
    norm = lexicon_module.normalise
    assert {e["line"] for e in entries if e.get("long")} >= {norm(BIO), norm(DISCLAIMER)}


def test_a_block_on_a_few_pages_of_a_big_site_is_kept_but_never_merges_them(tmp_path, ingest_cli):
    # the bio is on 5 of the site's 60 pages: too few to be its furniture, so it stays in
    # the text; beside one-sentence posts it would make those pages near-duplicates of
    # each other, so the boilerplate stage marks it and the dedup stage compares without it
    rng = random.Random(8)
    files, _ = blog(rng, "harbour-garden", 55, [])
    for i in range(5):
        files[f"harbour-garden/short{i}.txt"] = page("harbour-garden", f"Note {i}", [sentence(rng)], [BIO])
    kept, dropped = run(tmp_path, ingest_cli, files, stages=("header", "boilerplate", "dedup"))
    assert dropped == {}
    for i in range(5):
        record = kept[f"harbour-garden/short{i}.txt"]
        assert BIO in record["text"]
        marked = [e for e in record["history"] if e["action"] == "recurring_text"]
        assert [line["text"] for line in marked[0]["lines"]] == [BIO]
