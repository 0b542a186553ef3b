"""The benchmark scripts run as the README says (tiny inputs: a smoke test, not a measurement)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NEARDUP = ROOT.parent / "shared" / "corpus" / "dev" / "neardup"


def _run_bench(script: str, *args: str) -> str:
    """Run ``benchmarks/<script>`` with ``args``; its stdout (fails with its output when it fails)."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


def _scale_bench_on_generated(tmp_path: Path, docs: int, *args: str) -> tuple[str, dict[str, dict]]:
    """Generate ``docs`` documents, run scale_bench.py on them with ``args``: its stdout and rows by engine."""
    corpus = tmp_path / "corpus"
    _run_bench("generate_corpus.py", "--out", str(corpus), "--docs", str(docs))
    out = tmp_path / "results.json"
    stdout = _run_bench(
        "scale_bench.py",
        "--corpus",
        str(corpus),
        "--scratch",
        str(tmp_path / "scratch"),
        "--json",
        str(out),
        *args,
    )
    return stdout, {row["engine"]: row for row in json.loads(out.read_text())["rows"]}


@pytest.mark.slow
def test_scale_bench_runs_ingest_on_a_generated_corpus(tmp_path):
    stdout, rows = _scale_bench_on_generated(
        tmp_path, 300, "--only", "read,ingest-w1", "--workers", "1", "--no-perdoc"
    )
    assert "| ingest-w1 | 300 |" in stdout
    quality = rows["ingest-w1"]["quality"]
    assert rows["ingest-w1"]["docs"] == 300 and quality["P"] >= 0.95 and quality["R"] >= 0.9
    assert quality["hard_neg_merged"] == 0


@pytest.mark.slow
def test_scale_bench_runs_the_perdoc_rows_in_interleaved_rounds(tmp_path):
    stdout, rows = _scale_bench_on_generated(
        tmp_path, 200, "--only", "ingest-perdoc", "--workers", "1,2", "--perdoc-rounds", "2"
    )
    order = re.findall(r"running (ingest-perdoc-w\d) \(round (\d) of 2\)", stdout)
    assert order == [
        ("ingest-perdoc-w1", "1"),
        ("ingest-perdoc-w2", "1"),
        ("ingest-perdoc-w1", "2"),
        ("ingest-perdoc-w2", "2"),
    ]
    assert "ingest-perdoc-w2 against ingest-perdoc-w1:" in stdout and "of the medians" in stdout
    for name in ("ingest-perdoc-w1", "ingest-perdoc-w2"):
        assert rows[name]["docs"] == 200
        assert len(rows[name]["rounds_seconds"]) == 2
        assert rows[name]["seconds"] == pytest.approx(
            min(rows[name]["rounds_seconds"]), abs=0.01
        )  # lower median of two


@pytest.mark.slow
def test_scale_bench_gives_cpu_and_per_process_peaks_on_a_folder_of_pages(tmp_path):
    # The dev pages' layout: input/ (the pages) beside gold/, no clusters.jsonl.
    # 180 documents: more than one batch, so the run starts its workers.
    pages = tmp_path / "pages"
    for folder in ("input", "gold"):
        (pages / folder).mkdir(parents=True)
    for i in range(60):
        body = "\n".join(
            f"Paragraph {p} of page {i} says what the council decided about the harbour." for p in range(5)
        )
        (pages / "input" / f"p{i:02d}.txt").write_text(f"Home | News | Contact\n{body}\nCopyright 2026\n")
        (pages / "gold" / f"p{i:02d}.txt").write_text(body + "\n")
    out = tmp_path / "results.json"
    stdout = _run_bench(
        "scale_bench.py",
        "--corpus",
        str(pages),
        "--repeat",
        "3",
        "--only",
        "ingest-w2",
        "--workers",
        "2",
        "--no-perdoc",
        "--scratch",
        str(tmp_path / "scratch"),
        "--json",
        str(out),
    )
    assert "coordinator CPU µs/doc | workers CPU µs/doc" in stdout and "boilerplate µs/doc" in stdout
    row = {r["engine"]: r for r in json.loads(out.read_text())["rows"]}["ingest-w2"]
    assert row["docs"] == 180 and "quality" not in row  # input/ only, 3 times; nothing to score
    assert row["coordinator_cpu_s"] > 0 and row["workers_cpu_s"] > 0 and row["other_cpu_s"] >= 0
    assert len(row["proc_peaks_mb"]) >= 3  # the run's process and its two workers
    assert row["max_proc_mb"] == pytest.approx(max(row["proc_peaks_mb"]), abs=0.1)
    assert row["report_cpu"]["workers_seconds"] > 0


@pytest.mark.slow
@pytest.mark.skipif(
    not (NEARDUP / "clusters.jsonl").exists(), reason="the neardup dev set is not beside the checkout"
)
def test_neardup_bench_runs_the_pipeline_rounds():
    stdout = _run_bench(
        "neardup_bench.py",
        "--neardup-dir",
        str(NEARDUP),
        "--limit",
        "40",
        "--engines",
        "ingest",
        "--rounds",
        "2",
        "--repeat",
        "1",
    )
    assert "round 2/2 done" in stdout
    assert any(line.startswith("ingest ") and " 40 " in line for line in stdout.splitlines())


def test_dedup_task_bench_replays_the_task_of_a_run(tmp_path):
    corpus = tmp_path / "corpus"
    _run_bench("generate_corpus.py", "--out", str(corpus), "--docs", "600")
    scratch = tmp_path / "scratch"
    args = ["--scratch", str(scratch), "--stages", "dedup", "--shard-files", "200"]
    stdout = _run_bench("dedup_task_bench.py", "--corpus", str(corpus), *args)
    assert "| choosing survivors |" in stdout and "replay 1:" in stdout
    assert (scratch / "dedup-task" / "task.pickle").is_file()
    again = _run_bench("dedup_task_bench.py", "--replay-only", "--replays", "2", *args)
    assert "replay 2:" in again and "| finding composite pages |" in again


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_report_merge_bench_prints_the_merge_peaks_for_each_size():
    stdout = _run_bench("report_merge_bench.py", "--docs", "3000", "--docs", "6000", "--per-shard", "100")
    lines = stdout.splitlines()
    assert len(lines) == 2, stdout
    for line, docs in zip(lines, ["3,000", "6,000"]):
        assert re.match(
            rf"\s*{docs} documents: before [\d.]+ MB, peak merging [\d.]+, peak writing [\d.]+", line
        ), line
