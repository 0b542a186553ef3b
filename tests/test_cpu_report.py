"""report.json's ``cpu``: what the run's own process and its worker processes spent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.cli import main


def write_corpus(folder: Path, n: int) -> None:
    folder.mkdir()
    for i in range(n):
        lines = [
            f" date 2026-12-0{1 + i % 5} {i}",
            f"Story number {i} about the harbour and the town council",
            "Home | News | Sport | Contact",
        ]
        lines += [
            f"The council met on day {i} and the members said that the harbour needs work before winter "
            f"comes, and paragraph {p} says what they plan to do about it."
            for p in range(6)
        ]
        lines.append("Copyright 2026 The Town Paper. All rights reserved.")
        (folder / f"doc{i:04d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def run(tmp_path: Path, workers: int) -> dict:
    corpus = tmp_path / "corpus"
    if not corpus.exists():
        write_corpus(corpus, 240)
    out = tmp_path / f"out-w{workers}"
    config = tmp_path / f"w{workers}.toml"
    config.write_text(
        f"""
[source]
type = "text_files"
path = {json.dumps(str(corpus))}

[sink]
type = "jsonl"
path = {json.dumps(str(out))}

[run]
workers = {workers}

[[pipeline]]
stage = "header"

[[pipeline]]
stage = "boilerplate"

[[pipeline]]
stage = "dedup"
""",
        encoding="utf-8",
    )
    assert main(["run", "-c", str(config)]) == 0
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("workers", [1, 2])
def test_report_gives_coordinator_and_worker_cpu(tmp_path, workers):
    report = run(tmp_path, workers)
    assert report["input"] == 240
    cpu = report["cpu"]
    assert set(cpu) == {"coordinator_seconds", "workers_seconds"}
    assert isinstance(cpu["coordinator_seconds"], float) and cpu["coordinator_seconds"] > 0
    assert isinstance(cpu["workers_seconds"], float) and cpu["workers_seconds"] >= 0
    if workers == 2:
        # the per-document stages ran in two forked processes, waited for before the report
        assert cpu["workers_seconds"] > 0


def test_worker_cpu_counts_only_this_run(tmp_path):
    # The children's usage is cumulative over the process's life: a one-worker
    # run after a two-worker one in the same process must not inherit it.
    run(tmp_path, 2)
    assert run(tmp_path, 1)["cpu"]["workers_seconds"] == 0
