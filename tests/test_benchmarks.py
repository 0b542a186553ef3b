"""The benchmark scripts run as the README says (tiny inputs: a smoke test, not a measurement)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NEARDUP = ROOT.parent / "shared" / "corpus" / "dev" / "neardup"


@pytest.mark.slow
def test_scale_bench_runs_ingest_on_a_generated_corpus(tmp_path):
    corpus = tmp_path / "corpus"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "generate_corpus.py"), "--out", str(corpus), "--docs", "300"],
        check=True,
        capture_output=True,
    )
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "scale_bench.py"),
            "--corpus",
            str(corpus),
            "--only",
            "read,ingest-w1",
            "--workers",
            "1",
            "--no-perdoc",
            "--scratch",
            str(tmp_path / "scratch"),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "| ingest-w1 | 300 |" in proc.stdout
    rows = {row["engine"]: row for row in json.loads(out.read_text())["rows"]}
    quality = rows["ingest-w1"]["quality"]
    assert rows["ingest-w1"]["docs"] == 300 and quality["P"] >= 0.95 and quality["R"] >= 0.9
    assert quality["hard_neg_merged"] == 0


@pytest.mark.slow
@pytest.mark.skipif(not (NEARDUP / "clusters.jsonl").exists(), reason="the neardup dev set is not beside the checkout")
def test_neardup_bench_runs_the_pipeline_rounds():
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "neardup_bench.py"),
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
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "round 2/2 done" in proc.stdout
    assert any(line.startswith("ingest ") and " 40 " in line for line in proc.stdout.splitlines())
