"""The example plugin package in examples/ingest-langfilter works as its
README says: its own tests pass, and once installed next to ingest it is
found through its entry point and drops documents from a config.toml run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "ingest-langfilter"


def copy_example(tmp_path: Path) -> Path:
    """A clean copy, so builds and test runs leave nothing in the checkout."""
    target = tmp_path / "ingest-langfilter"
    shutil.copytree(
        EXAMPLE, target, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache")
    )
    return target


def test_example_plugin_tests_pass_from_the_checkout(tmp_path):
    example = copy_example(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(example / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=example,
        env=env,
        capture_output=True,
        check=False,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout


@pytest.mark.slow
def test_installed_example_plugin_runs_from_config_toml(tmp_path, shared_venv):
    example = copy_example(tmp_path)
    shared_venv.pip_install(example)

    listing = json.loads(shared_venv.run("ingest", "plugins", "--json").stdout)
    plugin = next(p for p in listing["plugins"] if p["name"] == "langfilter")
    assert (plugin["origin"], plugin["distribution"], plugin["version"]) == (
        "entry point",
        "ingest-langfilter",
        "0.1.0",
    )
    [stage] = plugin["stages"]
    assert stage["name"] == "language_filter"
    assert {o["name"] for o in stage["options"]} >= {"languages", "min_confidence", "min_words"}

    # The plugin's own tests, against the installed package (entry point included).
    tests = shared_venv.run(
        "python",
        "-m",
        "pytest",
        "-q",
        "-rs",
        "-p",
        "no:cacheprovider",
        cwd=example,
        env={"PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert " passed" in tests.stdout and "skipped" not in tests.stdout, tests.stdout

    # A run from files, as a user configures it.
    sys.path.insert(0, str(EXAMPLE / "tests"))
    try:
        from samples import SAMPLES
    finally:
        sys.path.remove(str(EXAMPLE / "tests"))
    work = tmp_path / "work"
    (work / "articles").mkdir(parents=True)
    for code, text in SAMPLES.items():
        (work / "articles" / f"{code}.txt").write_text(text, encoding="utf-8")
    (work / "articles" / "brief.txt").write_text("Markets closed higher.", encoding="utf-8")
    (work / "config.toml").write_text(
        '[source]\npath = "articles"\n\n[sink]\npath = "out"\n\n'
        '[[pipeline]]\nstage = "language_filter"\nid = "lang"\nlanguages = ["en", "fr"]\n',
        encoding="utf-8",
    )
    run = shared_venv.run("ingest", "run", "-c", "config.toml", cwd=work)
    assert "input 8, kept 2, dropped 6" in run.stdout

    dropped = {
        record["id"]: record
        for record in map(json.loads, (work / "out" / "dropped.jsonl").read_text().splitlines())
    }
    assert sorted(dropped) == ["brief.txt", "de.txt", "es.txt", "it.txt", "nl.txt", "pt.txt"]
    assert {(r["stage"], r["plugin"]) for r in dropped.values()} == {("lang", "langfilter")}
    assert dropped["de.txt"]["reason"] == "language_not_allowed"
    assert dropped["de.txt"]["details"]["language"] == "de" and dropped["de.txt"]["details"]["allowed"] == [
        "en",
        "fr",
    ]
    assert dropped["brief.txt"]["reason"] == "language_undetermined"
    assert dropped["brief.txt"]["details"]["why"] == "too_few_words"
    kept = [json.loads(line) for line in (work / "out" / "documents.jsonl").read_text().splitlines()]
    assert {(d["id"], d["metadata"]["language"]) for d in kept} == {("en.txt", "en"), ("fr.txt", "fr")}
