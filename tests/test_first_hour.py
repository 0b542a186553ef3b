"""A new user's first runs: what they do, and what they should see."""

from __future__ import annotations

import json
from pathlib import Path

from ingest import ExitCode


def write_inputs(folder: Path, count: int = 5) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"story{i}.txt").write_text(
            f"Story {i}\nThe harbour council met on day {i} to talk about the ferry timetable "
            f"and the new bridge, which opens in spring {2020 + i}.\n",
            encoding="utf-8",
        )


def write_config(folder: Path, sink: str = "jsonl", source_path: str = "in", out: str = "out") -> Path:
    config = folder / "config.toml"
    config.write_text(
        f'[source]\ntype = "text_files"\npath = "{source_path}"\n'
        f'[sink]\ntype = "{sink}"\npath = "{out}"\n'
        '[[pipeline]]\nstage = "header"\n'
    )
    return config


def test_a_run_with_another_sink_replaces_what_the_earlier_run_wrote(tmp_path, ingest_cli):
    write_inputs(tmp_path / "in")
    out = tmp_path / "out"
    assert ingest_cli("run", "-c", str(write_config(tmp_path, "jsonl"))).exit_code == 0
    assert {p.name for p in out.iterdir()} == {
        "documents.jsonl",
        "dropped.jsonl",
        "report.json",
        "report.html",
    }

    result = ingest_cli("run", "-c", str(write_config(tmp_path, "csv")))
    assert result.exit_code == 0, result.stderr
    # the jsonl run's files (and its report.html saying what it did) are gone
    assert {p.name for p in out.iterdir()} == {"documents.csv", "dropped.csv", "report.json"}
    report = json.loads((out / "report.json").read_text())
    assert report["input"] == 5 and report["outputs"]["documents"].endswith("documents.csv")


def test_a_run_keeps_files_in_its_folder_that_no_run_wrote(tmp_path, ingest_cli):
    write_inputs(tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    (out / "README.txt").write_text("the user's own notes")
    assert ingest_cli("run", "-c", str(write_config(tmp_path, "jsonl"))).exit_code == 0
    assert ingest_cli("run", "-c", str(write_config(tmp_path, "csv"))).exit_code == 0
    assert (out / "README.txt").read_text() == "the user's own notes"


def test_an_output_path_that_is_a_file_is_a_config_error_for_check_and_run(tmp_path, ingest_cli):
    write_inputs(tmp_path / "in")
    (tmp_path / "results").write_text("an existing file")
    config = write_config(tmp_path, "jsonl", out="results")
    for command in ("check", "run"):
        result = ingest_cli(command, "-c", str(config))
        assert result.exit_code == ExitCode.USAGE_ERROR, (command, result.stderr)
        assert "[sink]" in result.stderr and "results is a file" in result.stderr
        assert "FileExistsError" not in result.stderr and "Traceback" not in result.stderr
    assert (tmp_path / "results").read_text() == "an existing file"


def test_a_missing_input_folder_names_the_config_file_once(tmp_path, ingest_cli):
    config = write_config(tmp_path, "jsonl", source_path="no-such-folder")
    for command in ("check", "run"):
        result = ingest_cli(command, "-c", str(config))
        assert result.exit_code == ExitCode.USAGE_ERROR
        assert str(config) in result.stderr and "no-such-folder" in result.stderr
        assert result.stderr.count("[source]") == 1, result.stderr
