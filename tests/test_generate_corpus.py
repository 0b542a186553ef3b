"""The scale benchmark's corpus generator: deterministic, labelled, ingestible."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
N = 300


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


gen = _load("generate_corpus")


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    gen.generate(out, N, seed=3)
    return out


def _labels(corpus: Path) -> list[dict]:
    return [json.loads(line) for line in (corpus / "clusters.jsonl").read_text(encoding="utf-8").splitlines()]


def test_same_arguments_give_identical_bytes(corpus, tmp_path):
    again = tmp_path / "again"
    gen.main(["--out", str(again), "--docs", str(N), "--seed", "3"])
    assert _files(again) == _files(corpus)
    other = tmp_path / "other"
    gen.generate(other, N, seed=4)
    assert _files(other) != _files(corpus)


def test_labels_match_files_and_clusters(corpus):
    labels = _labels(corpus)
    files = {k for k in _files(corpus) if k.endswith(".txt")}
    assert len(labels) == N == len(files)
    assert {rec["id"] for rec in labels} == files
    assert all(rec["id"].count("/") == 1 for rec in labels)  # nested folders
    roles = Counter(rec["role"] for rec in labels)
    assert set(roles) <= {
        "original",
        "variant",
        "exact_copy",
        "whitespace_copy",
        "singleton",
        "hard_negative",
    }
    assert roles["singleton"] and roles["original"] and roles["variant"] and roles["hard_negative"]
    by_cluster = defaultdict(list)
    for rec in labels:
        by_cluster[rec["cluster"]].append(rec)
    for cid, members in by_cluster.items():
        heads = [m for m in members if m["role"] in ("original", "singleton", "hard_negative")]
        assert len(heads) == 1, cid
        if heads[0]["role"] == "singleton" or heads[0]["role"] == "hard_negative":
            assert len(members) == 1, cid
        else:
            assert len(members) > 1, cid
    text = {rec["id"]: (corpus / rec["id"]).read_bytes() for rec in labels}
    original = {rec["cluster"]: rec for rec in labels if rec["role"] == "original"}
    for rec in labels:
        if rec["role"] == "hard_negative":
            assert rec["negative_of"] in original
            assert rec["outlet"] == original[rec["negative_of"]]["outlet"]
        elif rec["role"] == "exact_copy":
            assert text[rec["id"]] == text[original[rec["cluster"]]["id"]]
        elif rec["role"] == "whitespace_copy":

            def squash(b: bytes) -> bytes:
                return re.sub(rb"\s+", b" ", b).strip()

            assert squash(text[rec["id"]]) == squash(text[original[rec["cluster"]]["id"]])
            assert text[rec["id"]] != text[original[rec["cluster"]]["id"]]
        elif rec["role"] == "variant":
            assert rec["outlet"] != original[rec["cluster"]]["outlet"]
            assert text[rec["id"]] != text[original[rec["cluster"]]["id"]]


def test_article_lengths_are_realistic(corpus):
    words = sorted(len((corpus / rec["id"]).read_text(encoding="utf-8").split()) for rec in _labels(corpus))
    assert 350 <= words[len(words) // 2] <= 750  # body ~430 words + page furniture


def test_corpus_runs_through_ingest(corpus, tmp_path, ingest_cli, write_config):
    config = write_config(
        tmp_path / "config.toml",
        {
            "source": {"type": "text_files", "path": str(corpus)},
            "sink": {"type": "jsonl", "path": str(tmp_path / "out")},
            "run": {"workers": 1},
            "pipeline": [{"stage": "header"}, {"stage": "boilerplate"}, {"stage": "dedup"}],
        },
    )
    result = ingest_cli("run", "-c", str(config))
    assert result.exit_code == 0, result.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["input"] == N == report["kept"] + report["dropped"]
    dropped = {
        rec["id"]: rec
        for rec in map(
            json.loads, (tmp_path / "out" / "dropped.jsonl").read_text(encoding="utf-8").splitlines()
        )
    }
    # a byte-identical copy always loses to its (earlier, equally long) original
    for rec in _labels(corpus):
        if rec["role"] == "exact_copy":
            assert dropped[rec["id"]]["duplicate_of"] is not None
