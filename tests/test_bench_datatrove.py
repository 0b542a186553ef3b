"""scale_bench.py's datatrove rows (tiny inputs: a smoke test, not a measurement).

datatrove may live in a virtualenv of its own: ``DATATROVE_PYTHON=/path/bin/python``
runs the peer there; without one that has it the peer test skips.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATATROVE_PYTHON = os.environ.get("DATATROVE_PYTHON", sys.executable)


def _has_datatrove(python: str) -> bool:
    """What datatrove_peer.py needs, importable by ``python``."""
    try:
        proc = subprocess.run(
            [python, "-c", "import datatrove.pipeline.dedup, orjson, nltk"], capture_output=True
        )
    except OSError:
        return False
    return proc.returncode == 0


def _bench(tmp_path: Path, docs: int, *args: str) -> tuple[str, dict[str, dict]]:
    """A generated corpus of ``docs`` documents through scale_bench.py: stdout and rows by engine."""
    corpus = tmp_path / "corpus"
    gen = [sys.executable, str(ROOT / "benchmarks" / "generate_corpus.py"), "--out", str(corpus)]
    subprocess.run([*gen, "--docs", str(docs)], check=True, capture_output=True)
    out = tmp_path / "results.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "scale_bench.py"), "--corpus", str(corpus)]
    cmd += ["--scratch", str(tmp_path / "scratch"), "--json", str(out), "--no-perdoc", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout, {row["engine"]: row for row in json.loads(out.read_text())["rows"]}


@pytest.mark.slow
def test_without_datatrove_the_bench_says_so_and_prints_ingests_rows(tmp_path):
    stdout, rows = _bench(
        tmp_path,
        200,
        "--only",
        "ingest-dedup,datatrove",
        "--workers",
        "1",
        "--peers",
        "datatrove",
        "--datatrove-python",
        str(tmp_path / "no-such-python"),
    )
    assert "datatrove: skipped" in stdout
    assert set(rows) == {"read", "ingest-dedup-w1"}
    assert rows["ingest-dedup-w1"]["duplicates_removed"] > 0
    assert "| ingest-dedup-w1 | 200 |" in stdout


@pytest.mark.slow
@pytest.mark.skipif(
    not _has_datatrove(DATATROVE_PYTHON),
    reason=f"datatrove is not installed for {DATATROVE_PYTHON} (set DATATROVE_PYTHON)",
)
def test_datatrove_rows_beside_ingests_with_the_same_workers(tmp_path):
    stdout, rows = _bench(
        tmp_path,
        300,
        "--only",
        "ingest-dedup,datatrove",
        "--workers",
        "1,2",
        "--peers",
        "datatrove",
        "--datatrove-python",
        DATATROVE_PYTHON,
    )
    assert {"datatrove-w1", "datatrove-w2", "ingest-dedup-w1", "ingest-dedup-w2"} <= set(rows)
    for n in (1, 2):
        dt = rows[f"datatrove-w{n}"]
        assert dt["docs"] == 300 and dt["duplicates_removed"] > 0
        assert dt["quality"]["P"] >= 0.9
        assert set(dt["dt_stage_seconds"]) == {"signatures", "buckets", "clusters", "filter"}
        assert dt["coordinator_cpu_s"] > 0
    # with 2 workers the pool's processes do the work and their CPU is counted (the fork server is reaped)
    assert rows["datatrove-w2"]["workers_cpu_s"] > rows["datatrove-w2"]["coordinator_cpu_s"]
    assert "x datatrove (same workers)" in stdout
    assert "datatrove-w1 dedup settings: MinhashConfig(n_grams=5" in stdout
