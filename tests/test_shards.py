"""Sharded runs: the input cut into shards by the input alone, each shard read,
processed and written by a task of its own, the coordinator touching no document.

The output of a sharded run is the unsharded run's, cut at shard boundaries:
the same records in the same order, for any worker count; a run killed halfway
redoes only the shards it had not finished."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from ingest_plugins.dedup import components as dedup_components

from ingest import ConfigError, Pipeline
from ingest.engine import shards

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "corpus" / "dev"

#: A per-document stage that notes every document it sees in a log file and, when
#: told to, kills the whole run (SIGKILL) at one document; and a corpus-level stage.
HELPERS = textwrap.dedent(
    """
    import collections, json, os, signal, time, zlib
    from ingest import Drop, StageKind, StageSpec, hookimpl

    def noting(options, ctx):
        log = os.environ.get("SHARD_TEST_LOG")
        pause = float(os.environ.get("SHARD_TEST_PAUSE", "0"))
        kill_at = os.environ.get("SHARD_TEST_KILL_AT")
        def process(doc):
            if pause:
                time.sleep(pause)
            if log:
                with open(log, "a", encoding="utf-8") as fh:
                    fh.write(doc.id + "\\n")
            if doc.id == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            if doc.id.endswith("7.txt"):
                return Drop("ends_in_7", details={"why": "a test"})
            if doc.id.endswith("5.txt"):
                raise ValueError("five is not welcome")
            return doc
        return process

    class Whole:
        def __init__(self, options, ctx):
            pass
        def fit(self, corpus):
            pass
        def __call__(self, docs):
            yield from docs

    class Census:
        # A corpus-level stage that runs over shards too: each document gets the
        # size of the corpus and the ids of its first and last documents.
        def __init__(self, options, ctx):
            self.seen = None
        def fit(self, corpus):
            docs = list(corpus)
            self.seen = (len(docs), docs[0].id, docs[-1].id)
        def shard_pass(self, docs):
            docs = list(docs)
            if any(doc.id == os.environ.get("SHARD_TEST_FAIL_PASS") for doc in docs):
                raise ValueError("cannot count this shard")
            return len(docs)
        def combine(self, parts, corpus):
            counts = list(parts)
            first, last = corpus.read_at([0, len(corpus) - 1])
            assert sum(counts) == len(corpus) == sum(1 for _ in corpus)
            return [(len(corpus), first.id, last.id)] * len(counts)
        def use_shard(self, seen):
            self.seen = seen
        def __call__(self, docs):
            size, first, last = self.seen
            for doc in docs:
                doc.metadata = {**doc.metadata, "corpus": size, "first": first, "last": last}
                yield doc

    class LastWords:
        # A corpus-level stage combined in 3 partitions (by a checksum of the word), or
        # one per 5 inputs the run planned (SHARD_TEST_BY_INPUTS): each document gets
        # how many documents of the corpus end with its last word.
        def __init__(self, options, ctx):
            self.counts = None
            planned = ctx.planned_inputs
            self.parts = planned // 5 if planned and os.environ.get("SHARD_TEST_BY_INPUTS") else 3
        def last(self, doc):
            return doc.text.split()[-1]
        def fit(self, corpus):
            self.counts = collections.Counter(self.last(doc) for doc in corpus)
        def shard_partitions(self):
            return int(os.environ.get("SHARD_TEST_PARTITIONS", self.parts))
        def shard_pass(self, docs):
            pieces = [collections.Counter() for _ in range(self.parts)]
            for doc in docs:
                word = self.last(doc)
                pieces[zlib.crc32(word.encode()) % self.parts][word] += 1
            return pieces
        def combine_partition(self, index, pieces, corpus):
            if os.environ.get("SHARD_TEST_FAIL_PARTITION") == str(index):
                raise ValueError("cannot add these up")
            pieces = list(pieces)
            total = collections.Counter()
            for piece in pieces:
                total.update(piece)
            assert len(corpus) == sum(1 for _ in corpus)
            # a generator: the run writes each shard's model as it comes
            return ({word: total[word] for word in piece} for piece in pieces), sum(total.values())
        def combine_summaries(self, summaries, corpus):
            assert len(summaries) == self.parts and sum(summaries) == len(corpus)
        def use_shard(self, models):
            self.counts = {word: n for model in models for word, n in model.items()}
        def __call__(self, docs):
            for doc in docs:
                doc.metadata = {**doc.metadata, "ending_alike": self.counts[self.last(doc)]}
                yield doc

    class WordRounds:
        # LastWords' counts made in rounds of partitions (SHARD_TEST_ROUNDS, default
        # "3,2"): round 0 counts the words of its partition over every shard and hands
        # each task of the next round its words' counts, split another way; a middle
        # round regroups what it got; the last round's task gives each shard the counts
        # of the shard's words of its partition.
        def __init__(self, options, ctx):
            self.counts = None
            self.ctx = ctx
            self.rounds = [int(n) for n in os.environ.get("SHARD_TEST_ROUNDS", "3,2").split(",")]
        def last(self, doc):
            return doc.text.split()[-1]
        def where(self, word, round):
            return zlib.crc32(f"{round}:{word}".encode()) % self.rounds[round]
        def fit(self, corpus):
            self.counts = collections.Counter(self.last(doc) for doc in corpus)
        def shard_rounds(self):
            return self.rounds
        def shard_pass(self, docs):
            first = [collections.Counter() for _ in range(self.rounds[0])]
            final = [set() for _ in range(self.rounds[-1])]
            for doc in docs:
                word = self.last(doc)
                first[self.where(word, 0)][word] += 1
                final[self.where(word, len(self.rounds) - 1)].add(word)
            if os.environ.get("SHARD_TEST_FLAT"):  # one list of pieces, not one per round
                return first
            # a file of the stage's own in the shard: the last round's words again
            with open(os.path.join(self.ctx.shard_folder, "word_rounds-words.json"), "w") as fh:
                json.dump([sorted(words) for words in final], fh)
            middle = [[None] * n for n in self.rounds[1:-1]]
            return [first, *middle, final] if len(self.rounds) > 1 else [final]
        def exchange_partition(self, round, index, pieces, earlier, corpus):
            if os.environ.get("SHARD_TEST_FAIL_ROUND") == f"{round}:{index}":
                raise ValueError("cannot pass these on")
            counts = collections.Counter()
            for piece in pieces if round == 0 else earlier:
                assert round == 0 or piece is None or isinstance(piece, dict)
                counts.update(piece or {})
            out = [{} for _ in range(self.rounds[round + 1])]
            for word, n in counts.items():
                out[self.where(word, round + 1)][word] = n
            return out[: int(os.environ.get("SHARD_TEST_SHORT", len(out)))]
        def combine_partition(self, index, pieces, corpus, earlier):
            counts = {}
            for part in earlier:
                counts.update(part)
            assert len(earlier) == self.rounds[-2]
            for shard, words in enumerate(pieces):  # what the shard's task wrote of its own
                with open(corpus.stage_folder(shard) / "word_rounds-words.json") as fh:
                    assert json.load(fh)[index] == sorted(words)
            return [{word: counts[word] for word in words} for words in pieces], len(counts)
        def use_shard(self, models):
            assert len(models) == self.rounds[-1]
            self.counts = {word: n for model in models for word, n in model.items()}
        def __call__(self, docs):
            for doc in docs:
                doc.metadata = {**doc.metadata, "ending_alike": self.counts[self.last(doc)]}
                yield doc

    @hookimpl
    def ingest_stages():
        return [
            StageSpec("noting", StageKind.FILTER, noting, None, "notes ids", per_document=True),
            StageSpec("whole", StageKind.TRANSFORM, Whole, None, "corpus-level", needs_corpus=True),
            StageSpec("census", StageKind.TRANSFORM, Census, None, "corpus size", needs_corpus=True),
            StageSpec("last_words", StageKind.TRANSFORM, LastWords, None, "word counts", needs_corpus=True),
            StageSpec("word_rounds", StageKind.TRANSFORM, WordRounds, None, "in rounds", needs_corpus=True),
        ]
    """
)

WORDS = "the council met on tuesday to discuss the harbour plans and the new library budget".split()


def make_corpus(folder: Path, count: int = 47) -> None:
    """``count`` small articles in two folders, plus inputs the source drops: an
    empty file, a binary one, one that is not valid UTF-8 in any fallback."""
    for i in range(count):
        sub = folder / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        words = [WORDS[(i * 7 + k) % len(WORDS)] for k in range(40 + i % 13)]
        text = f" date 2025-07-{1 + i % 28:02d} {100 + i}\nStory {i}\n\n" + " ".join(words) + ".\n"
        (sub / f"{i:03d}.txt").write_text(text, encoding="utf-8")
    (folder / "b" / "empty.txt").write_bytes(b"")
    (folder / "a" / "binary.txt").write_bytes(bytes(range(256)) * 4)


def write_config(
    tmp: Path, *, shard_files: int = 6, extra: str = "", stages: str = "", learn_lexicon: bool = False
) -> Path:
    (tmp / "helpers.py").write_text(HELPERS, encoding="utf-8")
    config = tmp / "config.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [plugins]
            paths = ["helpers.py"]

            [source]
            type = "text_files"
            path = "in"

            [sink]
            type = "jsonl"
            path = "out"

            [run]
            shard_files = {shard_files}
            keep_drop_records = false
            {extra}

            [[pipeline]]
            stage = "header"

            [[pipeline]]
            stage = "noting"

            [[pipeline]]
            stage = "boilerplate"
            learn_lexicon = {str(learn_lexicon).lower()}
            {stages}
            """
        ),
        encoding="utf-8",
    )
    return config


def helpers_config(tmp: Path, pipeline: list[str], source: str, shard_files: int) -> Path:
    """A config with the helper plugins, the ``[source]`` lines given, and drop
    records not kept in memory (so that a run of it through the API can be sharded)."""
    (tmp / "helpers.py").write_text(HELPERS, encoding="utf-8")
    config = tmp / "config.toml"
    config.write_text(
        f'pipeline = {json.dumps(pipeline)}\n[plugins]\npaths = ["helpers.py"]\n[source]\n{source}\n'
        f"[run]\nshard_files = {shard_files}\nkeep_drop_records = false\n",
        encoding="utf-8",
    )
    return config


def run(config: Path, output: Path | str, *, input: Path | None = None, **sets: object) -> dict:
    """The run's report as written (``report.json``, with the files in ``outputs``)."""
    overrides = [f"run.{key}={json.dumps(value)}" for key, value in sets.items()]
    pipeline = Pipeline.from_toml(config, input=input, output=output, overrides=overrides)
    pipeline.run()
    if isinstance(output, str):
        import fsspec

        with fsspec.open(f"{output}/report.json", "rb") as fh:
            return json.load(fh)
    return json.loads((Path(output) / "report.json").read_text(encoding="utf-8"))


def same_files_as_a_fresh_run(config: Path, out: Path, fresh: Path) -> dict:
    """Run ``config`` into ``fresh`` (2 workers) and check ``out`` holds the same files."""
    report = run(config, fresh, workers=2)
    assert_same_files(report, out, fresh)
    return report


def assert_same_files(report: dict, out: Path, fresh: Path) -> None:
    """``out`` holds the files of the run of ``report`` in ``fresh``, byte for byte."""
    for name in [Path(p).name for p in report["outputs"]["documents"] + report["outputs"]["dropped"]]:
        assert (out / name).read_bytes() == (fresh / name).read_bytes(), name


def read_lines(files: list[Path]) -> bytes:
    return b"".join(path.read_bytes() for path in files)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    make_corpus(tmp_path / "in")
    return write_config(tmp_path)


def test_a_sharded_run_writes_the_unsharded_records_cut_at_shard_boundaries(corpus: Path) -> None:
    tmp = corpus.parent
    report = run(corpus, tmp / "sharded", workers=2)
    plain = run(corpus, tmp / "plain", workers=2, shards="off")

    sharded = tmp / "sharded"
    documents = sorted(sharded.glob("documents-*.jsonl"))
    dropped = sorted(sharded.glob("dropped-*.jsonl"))
    # 47 stories and 2 bad files: 49 inputs, 6 a shard -> 10 shards (the last two's 7 cut
    # anew into 4, 2 and 1)
    assert report["shards"] == {"count": 10, "files_per_shard": 6, "phases": 1, "reused": 0}
    # the last shard holds b/empty.txt alone: dropped, so no documents file of its own
    assert len(documents) == 9 and documents[-1].name == "documents-00008.jsonl"
    assert read_lines(documents) == (tmp / "plain" / "documents.jsonl").read_bytes()
    assert read_lines(dropped) == (tmp / "plain" / "dropped.jsonl").read_bytes()
    assert not (sharded / "documents.jsonl").exists()
    assert not (sharded / ".ingest-shards").exists()
    assert report["outputs"]["documents"] == [str(p) for p in documents]
    assert report["outputs"]["dropped"] == [str(p) for p in dropped]

    for key in ("input", "kept", "dropped", "dropped_by_stage_and_reason", "warnings"):
        assert report[key] == plain[key], key
    for stage_id, stats in plain["stages"].items():
        for key in ("documents_in", "documents_out", "dropped", "warnings"):
            assert report["stages"][stage_id][key] == stats[key], (stage_id, key)
    assert report["dropped_by_stage_and_reason"] == {
        "noting:ends_in_7": 4,
        "noting:error": 5,
        "source:binary": 1,
        "source:empty": 1,
    }
    # the stage's error is recorded with the document, in its shard's file
    errors = [json.loads(line) for line in read_lines(dropped).splitlines()]
    assert {r["id"] for r in errors if r["reason"] == "error"} == {
        f"{'a' if i % 2 else 'b'}/{i:03d}.txt" for i in (5, 15, 25, 35, 45)
    }


def test_the_files_are_the_same_for_one_and_two_workers(corpus: Path) -> None:
    tmp = corpus.parent
    run(corpus, tmp / "w1", workers=1)
    run(corpus, tmp / "w2", workers=2)
    names = sorted(p.name for p in (tmp / "w1").iterdir() if p.name.endswith(".jsonl"))
    assert names == sorted(p.name for p in (tmp / "w2").iterdir() if p.name.endswith(".jsonl"))
    assert len(names) > 9
    for name in names:
        assert (tmp / "w1" / name).read_bytes() == (tmp / "w2" / name).read_bytes(), name


def test_pyarrow_reads_the_shards_as_one_dataset(corpus: Path) -> None:
    pads = pytest.importorskip("pyarrow.dataset")
    tmp = corpus.parent
    report = run(corpus, tmp / "out", workers=2)
    kept = pads.dataset(report["outputs"]["documents"], format="json").to_table()
    assert kept.num_rows == report["kept"] == 38
    assert kept.column("id").to_pylist() == [
        json.loads(line)["id"]
        for line in read_lines(sorted((tmp / "out").glob("documents-*.jsonl"))).splitlines()
    ]
    dropped = pads.dataset(report["outputs"]["dropped"], format="json").to_table()
    assert dropped.num_rows == report["dropped"] == 11


def test_a_shard_with_nothing_of_a_kind_writes_no_file_of_it(tmp_path: Path) -> None:
    """An empty JSON Lines file would stop pyarrow and DuckDB reading the dataset."""
    make_corpus(tmp_path / "in", count=12)
    config = write_config(tmp_path, shard_files=2)
    report = run(config, tmp_path / "out", workers=1)
    # shards of 2: [a/001 a/003] [a/005 (error) a/007 (dropped)] [a/009 a/011]
    # [a/binary.txt b/000] [b/002 b/004] [b/006 b/008], the last two's cut anew: [b/010] [b/empty.txt]
    dropped = [Path(p).name for p in report["outputs"]["dropped"]]
    assert dropped == ["dropped-00001.jsonl", "dropped-00003.jsonl", "dropped-00007.jsonl"]
    documents = [Path(p).name[10:15] for p in report["outputs"]["documents"]]
    assert documents == ["00000", "00002", "00003", "00004", "00005", "00006"]
    assert all(os.path.getsize(p) > 0 for p in report["outputs"]["documents"] + report["outputs"]["dropped"])


def test_an_input_of_one_shard_keeps_the_single_files(corpus: Path) -> None:
    tmp = corpus.parent
    report = run(corpus, tmp / "out", shard_files=1000)
    assert "shards" not in report
    assert (tmp / "out" / "documents.jsonl").is_file()
    assert not list((tmp / "out").glob("documents-*"))


def test_shards_on_writes_shard_files_for_one_shard_too(corpus: Path) -> None:
    tmp = corpus.parent
    report = run(corpus, tmp / "out", shard_files=1000, shards="on")
    assert report["shards"]["count"] == 1
    assert [Path(p).name for p in report["outputs"]["documents"]] == ["documents-00000.jsonl"]


def test_shards_on_with_a_corpus_level_stage_is_a_config_error(tmp_path: Path) -> None:
    make_corpus(tmp_path / "in", count=10)
    config = write_config(tmp_path, stages='[[pipeline]]\nstage = "whole"')
    with pytest.raises(
        ConfigError, match=r"\[run\] shards = \"on\": stage 'whole' \(whole\) cannot run over shards"
    ):
        run(config, tmp_path / "out", shards="on")
    # auto: the run goes on unsharded
    report = run(config, tmp_path / "out2")
    assert "shards" not in report and (tmp_path / "out2" / "documents.jsonl").is_file()


def test_kept_drop_records_keep_a_run_unsharded(corpus: Path) -> None:
    """``Pipeline.run`` with drop records in memory (the API's default) is not sharded:
    the records would be in the shards' files, not in ``Pipeline.ledger``."""
    tmp = corpus.parent
    pipeline = Pipeline.from_toml(corpus, output=tmp / "out", overrides=["run.keep_drop_records=true"])
    report = dict(pipeline.run())
    assert "shards" not in report
    assert len(pipeline.ledger.records) == report["dropped"] == 11


def test_a_sharded_run_writes_to_a_url(corpus: Path) -> None:
    pytest.importorskip("fsspec")
    import fsspec

    tmp = corpus.parent
    url = "memory://shard-test/out"
    report = run(corpus, url, workers=2)  # type: ignore[arg-type]
    fs = fsspec.filesystem("memory")
    names = sorted(p.rpartition("/")[2] for p in fs.ls("/shard-test/out", detail=False))
    assert "report.json" in names and "documents-00007.jsonl" in names
    assert not any(name.startswith(".") for name in names)
    plain = run(corpus, tmp / "plain", shards="off")
    joined = b"".join(fs.cat(p) for p in report["outputs"]["documents"])
    assert joined == (tmp / "plain" / "documents.jsonl").read_bytes()
    assert plain["kept"] == report["kept"]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_killed_run_resumes_the_shards_it_had_not_finished(corpus: Path) -> None:
    tmp = corpus.parent
    log = tmp / "seen.log"
    env = {**os.environ, "SHARD_TEST_LOG": str(log), "SHARD_TEST_KILL_AT": "b/020.txt"}
    command = [sys.executable, "-m", "ingest", "run", "-c", str(corpus), "--output", str(tmp / "out")]
    command += ["--set", "run.workers=1"]
    killed = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (tmp / "out" / "report.json").exists()
    assert not list((tmp / "out").glob("documents*"))  # nothing complete-looking
    # inputs in reading order: a/001 ... a/045, a/binary.txt, b/000 ...; b/020.txt is
    # the 35th, in shard 5: shards 0-4 had finished
    first_run = log.read_text().splitlines()
    assert first_run[-1] == "b/020.txt"

    log.unlink()
    env.pop("SHARD_TEST_KILL_AT")
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp)
    assert resumed.returncode == 0, resumed.stderr
    assert "5 of 10 shards done" in resumed.stderr
    second_run = log.read_text().splitlines()
    # only what the finished shards did not hold is processed again
    assert set(first_run) & set(second_run) == set(first_run[29:])  # shard 5's documents
    assert "b/020.txt" in second_run and len(second_run) == 47 - 29
    report = json.loads((tmp / "out" / "report.json").read_text())
    assert report["shards"]["reused"] == 5

    same_files_as_a_fresh_run(corpus, tmp / "out", tmp / "fresh")
    assert not (tmp / "out" / ".ingest-shards").exists()


def test_a_different_config_does_not_resume_the_shards(corpus: Path) -> None:
    tmp = corpus.parent
    env = {**os.environ, "SHARD_TEST_KILL_AT": "b/020.txt"}
    command = [sys.executable, "-m", "ingest", "run", "-c", str(corpus), "--output", str(tmp / "out")]
    killed = subprocess.run([*command, "--set", "run.workers=1"], env=env, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL
    changed = subprocess.run(
        [*command, "--set", "boilerplate.titles=false"], capture_output=True, text=True, cwd=tmp
    )
    assert changed.returncode != 0
    assert "interrupted run of a different configuration" in changed.stderr
    restarted = subprocess.run(
        [*command, "--set", "boilerplate.titles=false", "--restart"], capture_output=True, text=True
    )
    assert restarted.returncode == 0, restarted.stderr
    assert json.loads((tmp / "out" / "report.json").read_text())["shards"]["reused"] == 0


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM")
def test_sigterm_stops_the_shard_tasks_at_once_and_the_run_resumes(corpus: Path) -> None:
    """The run does not wait for the shards under way to finish (each takes
    seconds here); what was complete is kept, and the next run resumes it."""
    import time

    tmp = corpus.parent
    env = {**os.environ, "SHARD_TEST_PAUSE": "0.4"}
    command = [sys.executable, "-m", "ingest", "run", "-c", str(corpus), "--output", str(tmp / "out")]
    process = subprocess.Popen([*command, "--set", "run.workers=2"], env=env, cwd=tmp, stderr=subprocess.PIPE)
    shards_dir = tmp / "out" / ".ingest-shards"
    deadline = time.monotonic() + 60
    while not list(shards_dir.glob("*/p0.json")):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    assert process.wait(timeout=30) == 143
    assert time.monotonic() - stopped < 2.0  # a shard under way has 2 s of pauses left
    process.stderr.close()
    assert not (tmp / "out" / "report.json").exists()
    assert list(shards_dir.glob("*/p0.json"))

    resumed = subprocess.run(command, capture_output=True, text=True, cwd=tmp)
    assert resumed.returncode == 0, resumed.stderr
    assert "shards done" in resumed.stderr
    same_files_as_a_fresh_run(corpus, tmp / "out", tmp / "fresh")


# -- corpus-level stages over shards ------------------------------------------


def records(folder: Path, kind: str) -> list[bytes]:
    """The lines of every file of ``kind`` in a run's folder (sharded or not), in order."""
    return read_lines(sorted(folder.glob(f"{kind}*.jsonl"))).splitlines()


def _jsonl_input(folder: Path) -> None:
    """Two JSON Lines files, one compressed, with what the source drops: duplicate ids
    (in one shard, across shards, and across files), a record without text (its id is
    taken all the same), bad JSON, a blank line; records with no id get file:line."""
    import gzip

    folder.mkdir(parents=True)
    lines = []
    for i in range(40):
        words = [WORDS[(i * 5 + k) % len(WORDS)] for k in range(30 + i % 9)]
        record: dict = {"id": f"doc-{i}", "text": f"Story {i}\n\n" + " ".join(words) + ".", "n": i}
        if i in (3, 17):
            record["id"] = "doc-1"  # taken by line 2: in the same shard, and in a later one
        if i == 8:
            record.pop("text")  # dropped, but its id is taken
        if i in (12, 30):
            record["id"] = "doc-8"
        if i % 10 == 6:
            record.pop("id")  # a.jsonl:<line>
        lines.append(json.dumps(record))
    lines[20] = '{"id": "broken", "text": '
    lines.insert(25, "")
    (folder / "a.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    more = [
        json.dumps({"id": f"doc-{i}", "text": f"Later {i}\n\nthe harbour library {i}"}) for i in (5, 100, 101)
    ]
    with gzip.open(folder / "b.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(more))  # no newline at the end


def test_a_jsonl_input_is_sharded_by_lines_and_its_ids_checked_across_shards(tmp_path: Path, capsys) -> None:
    """The ``jsonl_files`` source cuts its files where lines end (a compressed file
    whole); the ids are checked across shards before phase 0, so the drop records
    are the unsharded run's, duplicate ids included, and the kept records too."""
    _jsonl_input(tmp_path / "in")
    pipeline = ["header", "noting", "boilerplate", "census"]
    config = helpers_config(tmp_path, pipeline, 'type = "jsonl_files"\npath = "in"', 7)
    two = run(config, tmp_path / "w2", workers=2)
    one = run(config, tmp_path / "w1", workers=1)
    plain = run(config, tmp_path / "plain", shards="off")
    # 41 lines of a.jsonl by 7: the sixth part has 6 of them, and b.jsonl.gz whole
    assert two["shards"]["count"] == 6 and one["shards"] == two["shards"]
    kept = records(tmp_path / "plain", "documents")
    assert records(tmp_path / "w2", "documents-") == records(tmp_path / "w1", "documents-") == kept
    dropped = records(tmp_path / "plain", "dropped")
    assert sorted(records(tmp_path / "w2", "dropped-")) == sorted(dropped)
    for key in ("input", "kept", "dropped", "dropped_by_stage_and_reason"):
        assert two[key] == plain[key], key
    reasons = plain["dropped_by_stage_and_reason"]
    assert reasons["source:duplicate_id"] == 5 and reasons["source:invalid_json"] == 1
    duplicate = next(json.loads(line) for line in dropped if b'"a.jsonl:18"' in line)
    assert (
        duplicate["reason"] == "duplicate_id"
        and "already used by the record at a.jsonl:2" in duplicate["details"]["error"]
    )
    later = next(json.loads(line) for line in dropped if b'"b.jsonl.gz:1"' in line)
    assert later["details"]["first"] == "a.jsonl:6"
    ids = [json.loads(line)["id"] for line in kept]
    assert "a.jsonl:7" in ids and "doc-100" in ids and len(ids) == len(set(ids))
    pipeline = Pipeline.from_toml(config, output=tmp_path / "checked")
    assert pipeline.sharding() == "sharded: 6 shards of up to 7 lines, 3 phases"


def test_jsonl_files_at_a_url_are_sharded_whole(tmp_path: Path) -> None:
    """At a URL each file goes whole into a shard, counted as about a line per 4 KiB
    (per KiB compressed): here the two files make two shards of 2 lines, whose
    records are the local run's."""
    import fsspec

    _jsonl_input(tmp_path / "in")
    fs = fsspec.filesystem("memory")
    for path in (tmp_path / "in").iterdir():
        fs.pipe(f"/shard-input/{path.name}", path.read_bytes())
    config = tmp_path / "config.toml"
    config.write_text(
        '[source]\ntype = "jsonl_files"\npath = "memory://shard-input"\n'
        '[run]\nshard_files = 2\nkeep_drop_records = false\n[[pipeline]]\nstage = "header"\n',
        encoding="utf-8",
    )
    try:
        remote = run(config, tmp_path / "remote")
        local = run(config, tmp_path / "local", input=tmp_path / "in", shards="off")
    finally:
        fs.rm("/shard-input", recursive=True)
    assert remote["shards"]["count"] == 2
    ids = [json.loads(line)["id"] for line in records(tmp_path / "remote", "documents-")]
    assert ids == [json.loads(line)["id"] for line in records(tmp_path / "local", "documents")]
    assert remote["dropped_by_stage_and_reason"] == local["dropped_by_stage_and_reason"]
    assert remote["dropped_by_stage_and_reason"]["source:duplicate_id"] == 5


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_killed_jsonl_run_resumes_with_the_ids_it_had_checked(tmp_path: Path) -> None:
    _jsonl_input(tmp_path / "in")
    config = helpers_config(tmp_path, ["header", "noting"], 'type = "jsonl_files"\npath = "in"', 7)
    command = [sys.executable, "-m", "ingest", "run", "-c", str(config), "--output", str(tmp_path / "out")]
    env = {**os.environ, "SHARD_TEST_KILL_AT": "doc-24"}  # line 25: in the fourth shard
    killed = subprocess.run(command + ["--set", "run.workers=1"], env=env, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (tmp_path / "out" / ".ingest-shards" / "keys.json").is_file()
    env.pop("SHARD_TEST_KILL_AT")
    resumed = subprocess.run(command, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "3 of 6 shards done" in resumed.stderr
    fresh = same_files_as_a_fresh_run(config, tmp_path / "out", tmp_path / "fresh")
    assert fresh["dropped_by_stage_and_reason"]["source:duplicate_id"] == 5


@pytest.mark.parametrize("dev_set", ["neardup", "boilerplate"])
def test_the_default_pipeline_over_shards_decides_as_one_run_on_the_dev_sets(
    tmp_path: Path, dev_set: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Site furniture learnt and duplicates found over shards of 50 pages (dedup's
    clusters resolved in a task for every 100 planned inputs): the same kept
    documents, byte for byte and in order, the same drop records (each shard's file
    holds its own, phase after phase) and the same dedup figures."""
    folder = DEV / dev_set / "input"
    if not folder.is_dir():
        pytest.skip(f"{folder} is not here")
    monkeypatch.setattr(dedup_components, "INPUTS_PER_PARTITION", 100)
    config = ROOT / "config.toml"
    sharded = tmp_path / "sharded"
    report = run(config, sharded, input=folder, shard_files=50, keep_drop_records=False, workers=2)
    plain = run(config, tmp_path / "plain", input=folder, shards="off")
    assert report["shards"]["phases"] == 3 and report["shards"]["count"] > 3
    assert dedup_components.partitions_for(report["shards"]["count"] * 50) > 2  # tasks that resolve
    assert records(sharded, "documents-") == records(tmp_path / "plain", "documents")
    assert sorted(records(sharded, "dropped-")) == sorted(records(tmp_path / "plain", "dropped"))
    for key in ("input", "kept", "dropped", "dropped_by_stage_and_reason"):
        assert report[key] == plain[key], key
    for stage_id, stats in plain["stages"].items():
        for key in ("documents_in", "documents_out", "dropped"):
            assert report["stages"][stage_id][key] == stats[key], (stage_id, key)
    figures = (
        "documents",
        "candidate_pairs",
        "verified_candidates",
        "verified_pairs",
        "dropped",
        "composites",
    )
    for key in (*figures, "largest_bucket", "capped_bucket_texts"):
        assert report["stages"]["dedup"]["dedup"][key] == plain["stages"]["dedup"]["dedup"][key], key


def test_a_plugins_corpus_stage_runs_over_shards(tmp_path: Path) -> None:
    """``shard_pass`` in each shard, ``combine`` over the parts and the documents
    (``len``, iteration, ``read_at`` across shards), ``use_shard`` in each shard:
    what ``fit`` makes of the whole corpus."""
    make_corpus(tmp_path / "in", count=30)
    config = write_config(tmp_path, shard_files=7, stages='[[pipeline]]\nstage = "census"')
    report = run(config, tmp_path / "sharded", workers=2)
    plain = run(config, tmp_path / "plain", shards="off")
    assert report["shards"] == {"count": 7, "files_per_shard": 7, "phases": 2, "reused": 0}
    assert records(tmp_path / "sharded", "documents-") == records(tmp_path / "plain", "documents")
    first = json.loads(records(tmp_path / "plain", "documents")[0])["metadata"]
    # 32 inputs, 2 dropped by the source and 6 by `noting`: 24 reach the census
    assert (first["corpus"], first["first"], first["last"]) == (24, "a/001.txt", "b/028.txt")
    assert report["stages"]["census"]["documents_in"] == plain["stages"]["census"]["documents_in"] == 24


def test_a_plugins_corpus_stage_combined_in_partitions_runs_over_shards(tmp_path: Path) -> None:
    """``shard_pass`` returns a piece per partition; a task per partition gets that
    piece of every shard (``combine_partition``) and makes each shard's model;
    ``combine_summaries`` gets what the tasks returned; ``use_shard`` gets a model
    from each partition: what ``fit`` makes of the whole corpus, for 1 and 2 workers."""
    make_corpus(tmp_path / "in", count=30)
    config = write_config(tmp_path, shard_files=7, stages='[[pipeline]]\nstage = "last_words"')
    two = run(config, tmp_path / "w2", workers=2)
    one = run(config, tmp_path / "w1", workers=1)
    assert one["shards"] == two["shards"]
    plain = run(config, tmp_path / "plain", shards="off")
    assert two["shards"] == {"count": 7, "files_per_shard": 7, "phases": 2, "reused": 0}
    kept = records(tmp_path / "plain", "documents")
    assert records(tmp_path / "w2", "documents-") == records(tmp_path / "w1", "documents-") == kept
    counts = [json.loads(line)["metadata"]["ending_alike"] for line in kept]
    assert len(counts) == 24 and max(counts) > 1 and sum(counts) > len(counts)
    assert two["stages"]["last_words"]["documents_in"] == plain["stages"]["last_words"]["documents_in"] == 24


@pytest.mark.parametrize("rounds", ["3,2", "2,1,3"])
def test_a_plugins_corpus_stage_combined_in_rounds_of_partitions_runs_over_shards(
    tmp_path: Path, monkeypatch, rounds: str
) -> None:
    """``shard_rounds()``: ``shard_pass`` returns each round's pieces; a round's task
    gets its piece of every shard and what each task of the round before passed it
    (``exchange_partition``; the last round: ``combine_partition``): the records are
    the unsharded run's, for 1 and 2 workers, and what the rounds passed on is gone."""
    make_corpus(tmp_path / "in", count=30)
    config = write_config(tmp_path, shard_files=7, stages='[[pipeline]]\nstage = "word_rounds"')
    monkeypatch.setenv("SHARD_TEST_ROUNDS", rounds)
    passed: list[str] = []
    run_partition = shards.run_partition

    def noted(task, host):
        result = run_partition(task, host)
        passed.extend(p.name for p in Path(task.folders[0]).parent.glob("round-*"))
        return result

    monkeypatch.setattr(shards, "run_partition", noted)
    one = run(config, tmp_path / "w1", workers=1)
    two = run(config, tmp_path / "w2", workers=2)
    plain = run(config, tmp_path / "plain", shards="off")
    assert two["shards"]["count"] == one["shards"]["count"] == 7 and "shards" not in plain
    kept = records(tmp_path / "plain", "documents")
    assert records(tmp_path / "w2", "documents-") == records(tmp_path / "w1", "documents-") == kept
    counts = [json.loads(line)["metadata"]["ending_alike"] for line in kept]
    assert len(counts) == 24 and max(counts) > 1
    first = next(int(n) for n in rounds.split(","))
    assert {f"round-0-0-{t:04d}.pickle" for t in range(first)} <= set(passed)  # in-process (1 worker)
    assert not list((tmp_path / "w2").glob(".ingest-shards"))


def test_a_round_that_fails_or_passes_on_too_little_fails_the_run_naming_it(
    tmp_path: Path, monkeypatch
) -> None:
    from ingest import RunError

    make_corpus(tmp_path / "in", count=30)
    config = write_config(tmp_path, shard_files=7, stages='[[pipeline]]\nstage = "word_rounds"')
    monkeypatch.setenv("SHARD_TEST_ROUNDS", "2,1,3")
    monkeypatch.setenv("SHARD_TEST_FAIL_ROUND", "1:0")
    with pytest.raises(RunError) as failure:
        run(config, tmp_path / "out", workers=2)
    message = str(failure.value)
    assert "stage 'word_rounds' (word_rounds, plugin" in message
    assert (
        "failed while combining its shards (round 1, partition 0): ValueError: cannot pass these on"
        in message
    )
    monkeypatch.delenv("SHARD_TEST_FAIL_ROUND")
    monkeypatch.setenv("SHARD_TEST_SHORT", "1")
    with pytest.raises(
        RunError, match=r"exchange_partition returned 1 outputs for the next round's 3 partitions"
    ):
        run(config, tmp_path / "short", workers=1)
    assert not (tmp_path / "short" / "report.json").exists()
    # the first run's shards, resumed by a stage that now cuts its pieces for other rounds
    monkeypatch.delenv("SHARD_TEST_SHORT")
    monkeypatch.setenv("SHARD_TEST_ROUNDS", "2,3")
    with pytest.raises(RunError, match=r"pieces are for \[2, 1, 3\] partitions, the stage combines \[2, 3\]"):
        run(config, tmp_path / "out", workers=2)
    # a shard_pass that does not cut a list of pieces for each round is named
    monkeypatch.setenv("SHARD_TEST_ROUNDS", "2,1,3")
    monkeypatch.setenv("SHARD_TEST_FLAT", "1")
    with pytest.raises(RunError, match=r"shard_pass returned 2 lists for 3 rounds"):
        run(config, tmp_path / "one", workers=1)
    # rounds of no task: the stage cannot run over shards, and says why
    monkeypatch.setenv("SHARD_TEST_ROUNDS", "2,0")
    with pytest.raises(ConfigError, match=r"cannot run over shards: shard_rounds\(\) gave \[2, 0\]"):
        run(config, tmp_path / "none", shards="on")


def test_the_plan_waits_in_the_shards_folder(tmp_path: Path, monkeypatch) -> None:
    """The coordinator writes the source's parts to a file as the source lists them
    (a temporary one: the run's output folder is not decided yet), moves it into the
    shards folder and reads a part at a time from it while the run goes; the file goes
    with the folder when the run completes."""
    make_corpus(tmp_path / "in", count=30)
    config = write_config(tmp_path, shard_files=7, stages='[[pipeline]]\nstage = "last_words"')
    kept: list[shards.PlannedParts] = []
    write = shards.PlannedParts.write

    def noted(path, parts, **options):
        kept.append(write(path, parts, **options))
        return kept[-1]

    monkeypatch.setattr(shards.PlannedParts, "write", noted)
    report = run(config, tmp_path / "out", workers=2)
    assert report["shards"]["count"] == 7 and len(kept) == 1 and len(kept[0]) == 7
    assert Path(kept[0].path) == tmp_path / "out" / ".ingest-shards" / "parts.pickle"
    assert not Path(kept[0].path).exists()
    plain = run(config, tmp_path / "plain", shards="off")
    assert "shards" not in plain
    assert records(tmp_path / "out", "documents-") == records(tmp_path / "plain", "documents")


def test_the_plans_temporary_file_goes_whatever_the_run_decides(tmp_path: Path) -> None:
    """The plan is written, as the source lists it, to a hidden file in the output folder
    before the run knows whether it is sharded: it is gone after a sharded run, after a
    run that fits in one shard and after one that failed; ``ingest check`` only counts
    the shards; one left by a run that died goes with the next run."""
    from ingest import RunError

    make_corpus(tmp_path / "in", count=30)
    config = write_config(tmp_path, shard_files=7)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".ingest-plan-dead.pickle").write_bytes(b"left by a run that was killed")

    def plans(folder: Path) -> list[str]:
        return sorted(p.name for p in folder.rglob("*plan*.pickle"))

    assert run(config, out, workers=2)["shards"]["count"] == 7
    assert plans(out) == []
    assert "shards" not in run(config, tmp_path / "one", shard_files=100) and plans(tmp_path / "one") == []
    check = Pipeline.from_toml(config, output=tmp_path / "check").sharding()
    assert check.startswith("sharded: 7 shards") and not (tmp_path / "check").exists()
    with pytest.raises(RunError, match="max_error_rate = 0"):  # a/005.txt raises in `noting`
        Pipeline.from_toml(config, output=tmp_path / "failed", overrides=["run.max_error_rate=0"]).run()
    assert plans(tmp_path / "failed") == []


def test_a_stage_sizes_its_partitions_by_the_inputs_the_run_planned(tmp_path: Path, monkeypatch) -> None:
    """``ctx.planned_inputs`` is the shards times ``shard_files`` in the coordinator and
    in every task (a shard's pass, a partition's combine, a shard applying the models):
    the stage cuts 9 partitions of 7 shards of 7 files, and writes what ``fit`` makes."""
    make_corpus(tmp_path / "in", count=30)
    config = write_config(tmp_path, shard_files=7, stages='[[pipeline]]\nstage = "last_words"')
    monkeypatch.setenv("SHARD_TEST_BY_INPUTS", "1")
    two = run(config, tmp_path / "w2", workers=2)
    plain = run(config, tmp_path / "plain", shards="off")  # no plan: 3 partitions
    assert two["shards"]["count"] == 7 and "shards" not in plain
    assert records(tmp_path / "w2", "documents-") == records(tmp_path / "plain", "documents")
    assert not (tmp_path / "w2" / ".ingest-shards").exists()


def test_a_partition_that_fails_fails_the_run_naming_the_stage_and_the_partition(
    tmp_path: Path, monkeypatch
) -> None:
    from ingest import RunError

    make_corpus(tmp_path / "in", count=30)
    config = write_config(tmp_path, shard_files=7, stages='[[pipeline]]\nstage = "last_words"')
    monkeypatch.setenv("SHARD_TEST_FAIL_PARTITION", "1")
    with pytest.raises(RunError) as failure:
        run(config, tmp_path / "out", workers=2)
    message = str(failure.value)
    assert "stage 'last_words' (last_words, plugin" in message
    assert "failed while combining its shards (partition 1): ValueError: cannot add these up" in message
    assert not (tmp_path / "out" / "report.json").exists()
    assert not list((tmp_path / "out").glob("*.jsonl"))
    # a shard_pass that does not return a piece for each partition is named too
    monkeypatch.delenv("SHARD_TEST_FAIL_PARTITION")
    monkeypatch.setenv("SHARD_TEST_PARTITIONS", "4")
    with pytest.raises(RunError, match=r"shard_pass returned 3 pieces for 4 partitions"):
        run(config, tmp_path / "other", workers=2)
    # the first run's shards, resumed by a stage that now wants 4 pieces of each
    with pytest.raises(
        RunError, match=r"pieces are for 3 partitions, the stage combines 4; run with --restart"
    ):
        run(config, tmp_path / "out", workers=2)


@pytest.fixture
def generated(tmp_path: Path, corpus_generator) -> Path:
    """150 generated news pages (with syndicated copies) and the default pipeline
    with the `noting` stage between the boilerplate and dedup stages, 40 files a shard."""
    corpus_generator.generate(tmp_path / "in", 150, seed=5)
    pipeline = ["header", "boilerplate", "noting", "dedup"]
    return helpers_config(tmp_path, pipeline, 'path = "in"\ninclude = ["**/*.txt"]', 40)


def test_the_default_pipeline_writes_the_same_shards_for_one_and_two_workers(generated: Path) -> None:
    tmp = generated.parent
    one = run(generated, tmp / "w1", workers=1)
    two = run(generated, tmp / "w2", workers=2)
    assert one["shards"] == two["shards"] == {"count": 6, "files_per_shard": 40, "phases": 3, "reused": 0}
    names = sorted(p.name for p in (tmp / "w1").glob("*.jsonl"))
    assert names == sorted(p.name for p in (tmp / "w2").glob("*.jsonl")) and len(names) == 12
    for name in names:
        assert (tmp / "w1" / name).read_bytes() == (tmp / "w2" / name).read_bytes(), name
    assert two["dropped_by_stage_and_reason"].get("dedup:near_duplicate", 0) > 10


def test_with_a_bloom_filter_the_sharded_lexicon_is_the_unsharded_one(generated: Path, monkeypatch) -> None:
    """Past the exact counts' budget the lexicon counts first sightings in a Bloom
    filter (whose false positives depend on what was seen before): the partitions'
    tasks of a sharded run count the lines in the unsharded run's order, partition by
    partition, and the two runs write the same records."""
    from ingest_plugins.boilerplate import lexicon

    monkeypatch.setattr(lexicon, "EXACT_SINGLES", 80)  # the forked workers have it too
    tmp = generated.parent
    sharded = run(generated, tmp / "sharded", workers=2)
    plain = run(generated, tmp / "plain", shards="off", workers=2)
    assert sharded["shards"]["count"] == 6 and "shards" not in plain
    assert records(tmp / "sharded", "documents-") == records(tmp / "plain", "documents")
    assert sorted(records(tmp / "sharded", "dropped-")) == sorted(records(tmp / "plain", "dropped"))
    assert sharded["dropped_by_stage_and_reason"] == plain["dropped_by_stage_and_reason"]
    removed = sum(b'"rule":"lexicon"' in line for line in records(tmp / "plain", "documents"))
    assert removed > 50  # the lexicon learnt furniture


def test_a_larger_run_counts_its_lexicon_in_more_partitions_and_decides_alike(
    generated: Path, monkeypatch
) -> None:
    """8 partitions for every INPUTS_PER_PARTITIONS planned inputs (here 40: 6 shards of
    40 files make 48 partitions, each a task): while the counts are exact the lexicon is
    the one the unsharded run counts in 8, and the records are the same."""
    from ingest_plugins.boilerplate import lexicon

    planned = (None, 0, 1, 200_000, 200_001, 1_000_000)
    assert [lexicon.partitions_for(n) for n in planned] == [8, 8, 8, 8, 16, 40]
    monkeypatch.setattr(lexicon, "INPUTS_PER_PARTITIONS", 40)  # the forked workers have it too
    tmp = generated.parent
    written = tmp / "written.log"
    packed = shards.write_packed

    def noted(path, items):  # which packed files the tasks write (in any process)
        with open(written, "a", encoding="utf-8") as fh:
            fh.write(Path(path).name + "\n")
        return packed(path, items)

    monkeypatch.setattr(shards, "write_packed", noted)
    sharded = run(generated, tmp / "sharded", workers=2)
    names = written.read_text(encoding="utf-8").split()
    assert sorted(n for n in names if n.startswith("models-0-")) == [
        f"models-0-{p:04d}.pickle" for p in range(48)
    ]
    assert names.count("pieces.pickle") == 12  # the lexicon's and dedup's, of each of 6 shards
    plain = run(generated, tmp / "plain", shards="off", workers=2)
    assert sharded["shards"]["count"] == 6
    assert records(tmp / "sharded", "documents-") == records(tmp / "plain", "documents")
    assert sharded["dropped_by_stage_and_reason"] == plain["dropped_by_stage_and_reason"]
    removed = sum(b'"rule":"lexicon"' in line for line in records(tmp / "plain", "documents"))
    assert removed > 50  # the lexicon learnt furniture


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_run_killed_after_a_combine_resumes_the_phases_it_had_not_finished(generated: Path) -> None:
    """Killed in phase 1 (after the lexicon was learnt from every shard, in the
    third shard's cleaning): the next run takes phase 0 and the lexicon as they
    are, redoes phase 1 from the third shard on, and writes the same bytes."""
    tmp = generated.parent
    fresh = run(generated, tmp / "fresh", workers=2)
    ids = [json.loads(line)["id"] for line in records(tmp / "fresh", "documents-")]
    ids += [json.loads(line)["id"] for line in records(tmp / "fresh", "dropped-")]
    victim = sorted(i for i in ids if i.startswith("00000/"))[85]  # in shard 2 (files 80-119)
    log = tmp / "seen.log"
    env = {**os.environ, "SHARD_TEST_LOG": str(log), "SHARD_TEST_KILL_AT": victim}
    command = [sys.executable, "-m", "ingest", "run", "-c", str(generated), "--output", str(tmp / "out")]
    killed = subprocess.run([*command, "--set", "run.workers=1"], env=env, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    shards_dir = tmp / "out" / ".ingest-shards"
    assert (shards_dir / "combined-0.json").is_file() and not (shards_dir / "combined-1.json").exists()
    # what phase 0 passed on is deleted once phase 1 of its shard is complete (shards 0 and 1)
    assert not (shards_dir / "00000" / "p0" / "spool.pickle").exists()
    assert not (shards_dir / "00001" / "p0" / "pieces.pickle").exists()
    assert (shards_dir / "00003" / "p0" / "spool.pickle").is_file()
    # the lexicon's partitions wrote every shard's model in a file each
    assert len(list(shards_dir.glob("models-0-*.pickle"))) == 8

    log.unlink()
    env.pop("SHARD_TEST_KILL_AT")
    resumed = subprocess.run(command, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    # phase 0 of the 6 shards and phase 1 of the first 2 were done
    assert "0 of 6 shards done (8 of 18 shard phases)" in resumed.stderr
    assert victim in log.read_text().splitlines()
    assert len(log.read_text().splitlines()) < 150 / 2  # shards 2 to 5 only (70 files)
    assert_same_files(fresh, tmp / "out", tmp / "fresh")


def test_dedup_with_an_index_keeps_the_run_unsharded(generated: Path) -> None:
    tmp = generated.parent
    index = tmp / "index.npz"
    report = run(generated, tmp / "out", workers=1)
    assert "shards" in report
    pipeline = Pipeline.from_toml(
        generated, output=tmp / "indexed", overrides=[f"dedup.save_index={json.dumps(str(index))}"]
    )
    pipeline.run()
    assert (tmp / "indexed" / "documents.jsonl").is_file() and index.is_file()
    with pytest.raises(ConfigError, match="stage 'dedup' \\(dedup\\) cannot run over shards with index_path"):
        Pipeline.from_toml(
            generated,
            output=tmp / "again",
            overrides=[f"dedup.save_index={json.dumps(str(index))}", "run.shards='on'"],
        ).run()


def test_report_html_of_a_sharded_run_is_the_page_its_files_make(generated: Path) -> None:
    """Each shard's task collects what the page shows of its records; the pages
    merged in shard order are the page read from the files, byte for byte."""
    from ingest.report.report_html import write_html_report

    tmp = generated.parent
    report = run(generated, tmp / "out", workers=2)
    assert report["shards"]["count"] == 6
    from_files = write_html_report(tmp / "out", path=tmp / "from-files.html")
    assert (tmp / "out" / "report.html").read_bytes() == from_files.read_bytes()
    assert "near_duplicate" in from_files.read_text(encoding="utf-8")


def test_the_page_of_a_sharded_run_is_merged_in_a_process_of_its_own(tmp_path: Path) -> None:
    """The shards' collections are merged and report.html written by a child process
    (the run's process keeps none of the page's duplicates); a collection that cannot
    be read is said, and the sink then reads the page from the files."""
    import pickle

    from ingest_plugins.jsonl_sink import _write_shards_page

    from ingest.report.report_html import ReportBuilder

    pages = []
    # kept-0's cluster has a member in each shard; lost-2, the end of copy-2's chain, is kept nowhere
    for index, drops in enumerate([[("copy-0", "kept-0")], [("copy-1", "kept-0"), ("copy-2", "lost-2")]]):
        builder = ReportBuilder()
        builder.add_kept({"id": f"kept-{index}", "text": "a text"})
        for doc_id, target in drops:
            builder.add_dropped(
                {"id": doc_id, "stage": "dedup", "reason": "near_duplicate", "duplicate_of": target}
            )
        pages.append(tmp_path / f"page-{index}.pickle")
        pages[-1].write_bytes(pickle.dumps(builder))
    report = {"input": 5, "kept": 2, "dropped": 3, "stages": {}, "outputs": {}}
    assert _write_shards_page([str(p) for p in pages], str(tmp_path / "report.html"), report)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "copy-1" in page and "kept-0" in page
    # the survivors' fates, asked of the shards' files (the merged page holds no kept ids)
    assert page.count('<span class="fate kept">kept</span>') == 1
    assert page.count("not kept</span>") == 1
    assert not _write_shards_page(
        [str(pages[0]), str(tmp_path / "gone.pickle")], str(tmp_path / "other.html"), report
    )
    assert not (tmp_path / "other.html").exists()


def test_a_shard_pass_that_fails_fails_the_run_naming_the_stage(tmp_path: Path, monkeypatch) -> None:
    """The third shard's task fails while the combine reads the first shards'
    parts: the error is the task's (the stage, reading the corpus), and nothing
    looks complete."""
    from ingest import RunError

    make_corpus(tmp_path / "in", count=30)
    config = write_config(tmp_path, shard_files=7, stages='[[pipeline]]\nstage = "census"')
    monkeypatch.setenv("SHARD_TEST_FAIL_PASS", "b/002.txt")  # the 18th input: shard 2 of 0-4
    with pytest.raises(RunError) as failure:
        run(config, tmp_path / "out", workers=2)
    message = str(failure.value)
    assert "stage 'census' (census, plugin" in message
    assert "failed while reading the corpus: ValueError: cannot count this shard" in message
    assert "combining" not in message
    assert not (tmp_path / "out" / "report.json").exists()
    assert not list((tmp_path / "out").glob("*.jsonl"))


def test_ingest_check_says_whether_and_how_a_run_is_sharded(corpus: Path, capsys) -> None:
    from ingest.cli import main

    assert main(["check", "-c", str(corpus)]) == 0
    assert "  run     sharded: 10 shards of up to 6 files, 1 phase\n" in capsys.readouterr().out
    assert main(["check", "-c", str(corpus), "--set", "run.shard_files=100"]) == 0
    assert "not sharded: the input fits in one shard ([run] shard_files = 100)" in capsys.readouterr().out
    assert main(["check", "-c", str(corpus), "--set", "run.keep_drop_records=true"]) == 0
    assert "not sharded: [run] keep_drop_records = true" in capsys.readouterr().out
    with_whole = corpus.read_text() + '\n[[pipeline]]\nstage = "whole"\n'
    corpus.write_text(with_whole)
    assert main(["check", "-c", str(corpus)]) == 0
    assert "not sharded: stage 'whole' (whole) cannot run over shards" in capsys.readouterr().out


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_what_the_other_engine_left_is_discarded(corpus: Path) -> None:
    """An interrupted sharded run, then an unsharded one in the same folder (and the
    other way round): the leftovers cannot be resumed and do not stay."""
    tmp = corpus.parent
    out = tmp / "out"
    command = [sys.executable, "-m", "ingest", "run", "-c", str(corpus), "--output", str(out)]
    env = {**os.environ, "SHARD_TEST_KILL_AT": "b/020.txt"}
    killed = subprocess.run([*command, "--set", "run.workers=1"], env=env, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL and (out / ".ingest-shards").is_dir()
    unsharded = subprocess.run([*command, "--set", "run.shards='off'"], capture_output=True, text=True)
    assert unsharded.returncode == 0, unsharded.stderr
    assert "discarding the shards of an interrupted sharded run" in unsharded.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "documents.jsonl",
        "dropped.jsonl",
        "report.html",
        "report.json",
    ]

    killed = subprocess.run(
        [*command, "--set", "run.workers=1", "--set", "run.shards='off'", "--set", "run.checkpoint_every=5"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert killed.returncode == -signal.SIGKILL and (out / ".ingest-checkpoint.json").is_file()
    sharded = subprocess.run(command, capture_output=True, text=True)
    assert sharded.returncode == 0, sharded.stderr
    assert "discarding the interrupted unsharded run" in sharded.stderr
    names = sorted(p.name for p in out.iterdir())
    assert not [name for name in names if name.startswith(".")], names
    assert "documents-00000.jsonl" in names and "documents.jsonl" not in names


def test_a_sharded_run_over_its_error_rate_leaves_nothing_complete(corpus: Path) -> None:
    from ingest import IngestError

    tmp = corpus.parent
    with pytest.raises(IngestError, match="max_error_rate"):
        run(corpus, tmp / "out", workers=2, max_error_rate=0.05)  # `noting` raises on 5 of 47
    assert sorted(p.name for p in (tmp / "out").iterdir()) == []


def test_without_fork_the_shards_run_in_this_process(corpus: Path, monkeypatch) -> None:
    """Where processes cannot fork (Windows), a shard's task could not find its
    pipeline in a worker: the shards run one after another here, same files."""
    import ingest.sharded_run

    tmp = corpus.parent
    forked = run(corpus, tmp / "forked", workers=2)
    monkeypatch.setattr(ingest.sharded_run, "fork_available", lambda: False)
    here = run(corpus, tmp / "here", workers=2)
    assert here["cpu"]["workers_seconds"] == 0
    assert forked["cpu"]["workers_seconds"] > 0
    assert_same_files(forked, tmp / "here", tmp / "forked")


def test_the_progress_line_follows_the_phases(generated: Path) -> None:
    """What ``ingest run`` draws on a terminal: each phase's shards as they finish,
    then the counts while the last phase writes."""
    seen: list[tuple[str, str, int | None, int | None]] = []
    counts: list[int] = []
    pipeline = Pipeline.from_toml(generated, output=generated.parent / "out", overrides=["run.workers=2"])
    pipeline.run(
        stage_progress=lambda *args: seen.append(args),
        progress=lambda ledger: counts.append(ledger.kept_count),
    )
    shard_lines = [(phase, done) for what, phase, done, total in seen if what == "shards" and total == 6]
    assert shard_lines[:7] == [("phase 1 of 3 (header, boilerplate)", n) for n in range(7)]
    assert ("phase 2 of 3 (boilerplate, noting, dedup)", 6) in shard_lines
    assert ("phase 3 of 3 (dedup)", 0) in shard_lines
    assert len(counts) == 6 and counts == sorted(counts) and counts[-1] == pipeline.report["kept"]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_worker_killed_mid_run_is_named_as_killed(corpus: Path) -> None:
    """A worker the system kills (as it does when memory runs out) ends the run with a
    message that says so, and leaves nothing that looks complete."""
    tmp = corpus.parent
    env = {**os.environ, "SHARD_TEST_KILL_AT": "b/020.txt"}  # the stage SIGKILLs its own process there
    command = [sys.executable, "-m", "ingest", "run", "-c", str(corpus), "--output", str(tmp / "out")]
    killed = subprocess.run(
        command + ["--set", "run.workers=2"], env=env, capture_output=True, text=True, cwd=tmp
    )
    assert killed.returncode == 1, killed.stderr
    # the task the process was running is named: the shard that holds b/020.txt, in the first phase
    last = killed.stderr.splitlines()[-1]
    assert re.search(
        r"^ingest: a worker process was killed while running shard \d+ \(phase 0: [a-z, ]+\) "
        r"\(SIGKILL: the system may have run out of memory\); the run cannot go on$",
        last,
    ), last
    assert "terminated abruptly" not in last
    assert not (tmp / "out" / "report.json").exists()


def _part_lines(folder: Path, part) -> list[bytes]:
    """The lines of a ``jsonl_files`` part, read from its byte ranges."""
    out: list[bytes] = []
    for relative, start, end, _first in part.ranges:
        data = (folder / relative).read_bytes()
        out += data[start : len(data) if end < 0 else end].splitlines()
    return out


@pytest.mark.parametrize(
    ("files", "per_part", "sizes"),
    [
        ([5], 4, [3, 1, 1]),
        ([3, 3], 4, [3, 2, 1]),
        ([9], 4, [4, 3, 1, 1]),
        ([8], 4, [4, 2, 1, 1]),
        ([2, 1, 4], 3, [3, 2, 1, 1]),
        ([1, 1, 1, 1, 1, 1, 1, 1, 1], 4, [4, 3, 1, 1]),
        ([20], 6, [6, 6, 4, 2, 1, 1]),
    ],
)
def test_the_last_two_jsonl_parts_are_cut_into_smaller_ones(
    tmp_path: Path, files: list[int], per_part: int, sizes: list[int]
) -> None:
    """As the text_files source's: the lines in order, each where its file has it, and the
    number of its first line right (a range of a file cut anew starts at the right line)."""
    from ingest_plugins.jsonl_source import JsonlFilesOptions, JsonlFilesSource

    expected = []
    for f, count in enumerate(files):
        lines = [json.dumps({"id": f"f{f}-{k}", "text": "x"}) for k in range(count)]
        (tmp_path / f"f{f}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        expected += [line.encode() for line in lines]
    source = JsonlFilesSource(JsonlFilesOptions(path=str(tmp_path)), ctx=None)  # type: ignore[arg-type]
    parts = source.plan(per_part)
    assert [len(_part_lines(tmp_path, part)) for part in parts] == sizes
    assert [line for part in parts for line in _part_lines(tmp_path, part)] == expected
    for part in parts:
        for relative, start, _end, first_line in part.ranges:
            before = (tmp_path / relative).read_bytes()[:start]
            assert first_line == before.count(b"\n") + 1


def test_jsonl_parts_with_a_file_read_whole_are_left_as_cut(tmp_path: Path) -> None:
    """A compressed file's lines are only guessed: the last two parts stay as cut."""
    import gzip

    from ingest_plugins.jsonl_source import JsonlFilesOptions, JsonlFilesSource

    (tmp_path / "a.jsonl").write_text("".join(f'{{"id": "a{k}"}}\n' for k in range(5)), encoding="utf-8")
    with gzip.open(tmp_path / "b.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write('{"id": "b0"}\n')
    source = JsonlFilesSource(JsonlFilesOptions(path=str(tmp_path)), ctx=None)  # type: ignore[arg-type]
    parts = source.plan(4)
    assert [len(part.ranges) for part in parts] == [1, 2]
    assert parts[1].ranges[1] == ("b.jsonl.gz", 0, -1, 1)


def test_a_jsonl_input_cut_anew_at_its_end_writes_the_unsharded_records(tmp_path: Path) -> None:
    """9 lines by 4: shards of 4, 3, 1 and 1 lines (the last two cut anew in the file), whose
    records in order are the unsharded run's, and whose drop records name the right lines."""
    folder = tmp_path / "in"
    folder.mkdir()
    lines = [
        json.dumps({"id": f"doc-{k}", "text": f"Story {k}\n\nthe harbour library {k}"}) for k in range(9)
    ]
    lines[7] = "{not json"
    (folder / "a.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = helpers_config(tmp_path, ["header"], 'type = "jsonl_files"\npath = "in"', 4)
    sharded = run(config, tmp_path / "sharded", workers=2)
    plain = run(config, tmp_path / "plain", shards="off")
    assert sharded["shards"]["count"] == 4 and sharded["dropped"] == plain["dropped"] == 1
    assert records(tmp_path / "sharded", "documents-") == records(tmp_path / "plain", "documents")
    assert records(tmp_path / "sharded", "dropped-") == records(tmp_path / "plain", "dropped")
    assert b'"a.jsonl:8"' in b"".join(records(tmp_path / "sharded", "dropped-"))
