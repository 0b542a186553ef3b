"""The benchmark scripts run as the README says (tiny inputs: a smoke test, not a measurement)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NEARDUP = ROOT.parent / "shared" / "corpus" / "dev" / "neardup"


def _run_bench(script: str, *args: str) -> str:
    """Run ``benchmarks/<script>`` with ``args``; its stdout (fails with its output when it fails)."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.slow
def test_scale_bench_runs_ingest_on_a_generated_corpus(tmp_path):
    corpus = tmp_path / "corpus"
    _run_bench("generate_corpus.py", "--out", str(corpus), "--docs", "300")
    out = tmp_path / "results.json"
    stdout = _run_bench(
        "scale_bench.py",
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
    )
    assert "| ingest-w1 | 300 |" in stdout
    rows = {row["engine"]: row for row in json.loads(out.read_text())["rows"]}
    quality = rows["ingest-w1"]["quality"]
    assert rows["ingest-w1"]["docs"] == 300 and quality["P"] >= 0.95 and quality["R"] >= 0.9
    assert quality["hard_neg_merged"] == 0


@pytest.mark.slow
@pytest.mark.skipif(not (NEARDUP / "clusters.jsonl").exists(), reason="the neardup dev set is not beside the checkout")
def test_neardup_bench_runs_the_pipeline_rounds():
    stdout = _run_bench(
        "neardup_bench.py", "--neardup-dir", str(NEARDUP), "--limit", "40", "--engines", "ingest", "--rounds", "2",
        "--repeat", "1",
    )
    assert "round 2/2 done" in stdout
    assert any(line.startswith("ingest ") and " 40 " in line for line in stdout.splitlines())
