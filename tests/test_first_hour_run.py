"""A new user's first runs, continued: what they typed, and what they should have seen.

An input folder with nothing to read, a misspelt ``--set``, switching the
source or sink type from the command line, watching a long dedup, piping
``ingest`` into ``head``, and ``ingest explain``'s line numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest import ExitCode, Pipeline
from ingest.report.explain import input_line_numbers

STORY = (
    "date 2025-07-07\n"
    "Harbour Council Delays the Ferry Timetable\n"
    "(Gazette) The harbour council met on Tuesday evening and decided to delay the new ferry timetable "
    "until the bridge opens in spring, officials said.\n"
    "Advertisement\n"
    "Residents filled the hall to hear the plans, and several asked why the timetable could not start "
    "sooner.\n"
    "The mayor said the council would publish a revised plan next month after talks with the ferry "
    "company.\n"
    "Share this article\n"
)


def write_stories(folder: Path, count: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"story{i}.txt").write_text(
            f"Story {i}\nThe harbour council met on day {i} to talk about the ferry timetable and the new "
            f"bridge, which opens in spring {2020 + i}, and about the fares for the {i} islands.\n",
            encoding="utf-8",
        )
    return folder


def write_config(folder: Path, body: str = "") -> Path:
    config = folder / "config.toml"
    config.write_text(
        '[source]\ntype = "text_files"\npath = "in"\n[sink]\ntype = "jsonl"\npath = "out"\n'
        '[[pipeline]]\nstage = "header"\n[[pipeline]]\nstage = "dedup"\n' + body,
        encoding="utf-8",
    )
    return config


def ingest_process(*args: str, **kwargs) -> subprocess.Popen:
    """``python -m ingest ARGS`` as a user starts it (this checkout's code: PYTHONPATH is inherited)."""
    return subprocess.Popen([sys.executable, "-m", "ingest", *args], env=dict(os.environ), **kwargs)


# -- 1: an input folder with nothing to read says what it looked for and what is there --------------


def test_a_folder_of_html_files_says_nothing_matches_include(tmp_path, ingest_cli):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.html", "b.html", "c.html", "notes.md"):
        (folder / name).write_text("<p>a page</p>\n")
    config = write_config(tmp_path)

    result = ingest_cli("run", "-c", config)
    assert result.exit_code == ExitCode.OK  # nothing failed: there is nothing to do, and it says so
    warning = [line for line in result.stderr.splitlines() if "no file in" in line]
    assert len(warning) == 1, result.stderr
    assert warning[0].startswith("ingest: warning:")
    assert str(folder) in warning[0] and "include ['**/*.txt']" in warning[0]
    assert "found 4 files: 3 .html, 1 .md" in warning[0] and "nothing to do" in warning[0]
    # the report says it too (report.json and the summary)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["input"] == 0 and report["warnings"] == 1
    assert any("found 4 files: 3 .html" in sample for sample in report["warning_samples"])
    assert "found 4 files" in result.stdout

    checked = ingest_cli("check", "-c", config)
    assert checked.exit_code == ExitCode.OK
    assert "OK" in checked.stdout and "warning: no file in" in checked.stdout
    assert "found 4 files: 3 .html, 1 .md" in checked.stdout


def test_an_empty_folder_and_a_folder_whose_files_are_all_excluded_say_so(tmp_path, ingest_cli):
    (tmp_path / "in").mkdir()
    config = write_config(tmp_path)
    empty = ingest_cli("run", "-c", config)
    assert empty.exit_code == ExitCode.OK
    assert "no file in" in empty.stderr and "holds no files" in empty.stderr

    write_stories(tmp_path / "in")
    excluded = ingest_cli("run", "-c", config, "--set", 'source.exclude=["story*"]')
    assert excluded.exit_code == ExitCode.OK
    assert "found 3 files: 3 .txt" in excluded.stderr
    assert "3 of them match include but also exclude ['story*']" in excluded.stderr


def test_jsonl_files_with_no_jsonl_file_says_so(tmp_path, ingest_cli):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "records.json").write_text('[{"id": "a", "text": "one"}]\n')
    config = tmp_path / "config.toml"
    config.write_text('[source]\ntype = "jsonl_files"\npath = "in"\n[sink]\npath = "out"\n')
    result = ingest_cli("run", "-c", config)
    assert result.exit_code == ExitCode.OK
    assert "include ['**/*.jsonl']" in result.stderr and "found 1 file: 1 .json" in result.stderr
    checked = ingest_cli("check", "-c", config)
    assert "found 1 file: 1 .json" in checked.stdout


def test_a_folder_with_files_to_read_gives_no_such_warning(tmp_path, ingest_cli):
    write_stories(tmp_path / "in")
    (tmp_path / "in" / "index.html").write_text("<p>a page</p>\n")
    config = write_config(tmp_path)
    result = ingest_cli("run", "-c", config)
    assert result.exit_code == ExitCode.OK and "input 3" in result.stdout
    assert "no file in" not in result.stderr + result.stdout
    assert "warning" not in ingest_cli("check", "-c", config).stdout


def test_empty_standard_input_says_there_was_nothing(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[source]\ntype = "stdin"\n[sink]\npath = "out"\n')
    proc = ingest_process("run", "-c", str(config), stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, stderr = proc.communicate("")
    assert proc.returncode == ExitCode.OK
    assert "warning" in stderr and "stdin" in stderr and "no documents" in stderr


# -- 3: a bad --set names --set, not the config file ------------------------------------------------


def test_a_misspelt_set_names_set_as_the_origin(tmp_path, ingest_cli):
    write_stories(tmp_path / "in")
    config = write_config(tmp_path)
    for command in ("run", "check"):
        result = ingest_cli(command, "-c", config, "--set", "dedup.treshold=0.5")
        assert result.exit_code == ExitCode.USAGE_ERROR
        assert result.stderr.startswith("ingest: config error: --set dedup.treshold=0.5: ")
        assert "unknown option 'treshold' of stage 'dedup'" in result.stderr
        assert "did you mean 'threshold'?" in result.stderr
        assert "[[pipeline]]" not in result.stderr and str(config) not in result.stderr
    assert not (tmp_path / "out").exists()  # nothing was done


def test_a_bad_value_from_set_names_set(tmp_path, ingest_cli):
    write_stories(tmp_path / "in")
    config = write_config(tmp_path)
    out_of_range = ingest_cli("check", "-c", config, "--set", "dedup.threshold=1.5")
    assert out_of_range.exit_code == ExitCode.USAGE_ERROR
    assert "--set dedup.threshold=1.5: " in out_of_range.stderr and "threshold" in out_of_range.stderr
    assert "[[pipeline]]" not in out_of_range.stderr

    wrong_type = ingest_cli("check", "-c", config, "--set", "dedup.threshold=abc")
    assert "--set dedup.threshold=abc: " in wrong_type.stderr and "expected number" in wrong_type.stderr

    run_option = ingest_cli("check", "-c", config, "--set", "run.workerz=2")
    assert "--set run.workerz=2: unknown option 'workerz' of [run]" in run_option.stderr
    assert "did you mean 'workers'?" in run_option.stderr

    workers = ingest_cli("run", "-c", config, "--workers", "-1")
    assert workers.exit_code == ExitCode.USAGE_ERROR and "--workers -1: " in workers.stderr

    missing = ingest_cli("run", "-c", config, "--input", "elsewhere")
    assert missing.exit_code == ExitCode.USAGE_ERROR
    assert "with --input elsewhere" in missing.stderr and "does not exist" in missing.stderr


def test_an_error_in_the_file_still_names_the_file_beside_a_good_set(tmp_path, ingest_cli):
    write_stories(tmp_path / "in")
    config = write_config(tmp_path, "threshold = 2.0\n")  # in the dedup table: the file's mistake
    result = ingest_cli("check", "-c", config, "--set", "dedup.num_perm=64")
    assert result.exit_code == ExitCode.USAGE_ERROR
    assert f"{config}: [[pipeline]] #2 (id 'dedup')" in result.stderr and "threshold" in result.stderr
    assert "--set" not in result.stderr


# -- 4: --set source.type / sink.type switch the type ------------------------------------------------


def test_set_source_type_stdin_reads_standard_input_and_says_what_it_left_out(tmp_path):
    write_stories(tmp_path / "in")
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace('path = "in"\n', 'path = "in"\ninclude = ["**/*.txt"]\n', 1))
    record = {"id": "piped", "text": "Piped in\nA story that came on standard input, about the harbour."}
    proc = ingest_process(
        "run",
        "-c",
        str(config),
        "--set",
        "source.type=stdin",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = proc.communicate(json.dumps(record) + "\n")
    assert proc.returncode == ExitCode.OK, stderr
    assert "input 1, kept 1" in stdout
    kept = [json.loads(line) for line in (tmp_path / "out" / "documents.jsonl").read_text().splitlines()]
    assert [doc["id"] for doc in kept] == ["piped"]
    assert "--set source.type=stdin" in stderr and "left out" in stderr
    assert "include" in stderr and "path" in stderr


def test_set_source_type_with_an_option_the_new_type_lacks_is_an_error_naming_it(tmp_path, ingest_cli):
    write_stories(tmp_path / "in")
    config = write_config(tmp_path)
    result = ingest_cli(
        "check", "-c", config, "--set", "source.type=stdin", "--set", 'source.include=["*.txt"]'
    )
    assert result.exit_code == ExitCode.USAGE_ERROR
    assert "--set 'source.include=[\"*.txt\"]'" in result.stderr
    assert "unknown option 'include' of source type 'stdin'" in result.stderr

    typo = ingest_cli("check", "-c", config, "--set", "source.type=stdn")
    assert typo.exit_code == ExitCode.USAGE_ERROR
    assert "--set source.type=stdn: unknown source type 'stdn' (did you mean 'stdin'?)" in typo.stderr


def test_set_sink_type_switches_the_sink(tmp_path, ingest_cli):
    write_stories(tmp_path / "in")
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace('path = "out"\n', 'path = "out"\ncompression = "gzip"\n'))
    checked = ingest_cli("check", "-c", config, "--set", "sink.type=csv")
    assert checked.exit_code == ExitCode.OK, checked.stderr
    assert (
        "sink    csv:" in checked.stdout and "left out" in checked.stdout and "compression" in checked.stdout
    )

    result = ingest_cli("run", "-c", config, "--set", "sink.type=csv", "--set", 'sink.delimiter=";"')
    assert result.exit_code == ExitCode.OK, result.stderr
    assert "note: --set sink.type=csv: left out" in result.stderr and "compression" in result.stderr
    written = (tmp_path / "out" / "documents.csv").read_text(encoding="utf-8")
    assert written.startswith("id;") and "story1.txt" in written

    # the same type as the file's is no switch: the file's options stay and are checked
    same = ingest_cli("check", "-c", config, "--set", "sink.type=jsonl")
    assert same.exit_code == ExitCode.OK and "left out" not in same.stdout


# -- 7: dedup shows its phases while it runs ---------------------------------------------------------


def test_dedup_phases_are_drawn_on_a_terminal(tmp_path):
    pty = pytest.importorskip("pty")  # a real terminal for stderr (POSIX)
    write_stories(tmp_path / "in", 4)
    config = write_config(tmp_path)
    main, terminal = pty.openpty()
    proc = ingest_process("run", "-c", str(config), stdout=subprocess.PIPE, stderr=terminal)
    os.close(terminal)
    drawn = b""
    while True:  # until the process closes the terminal (EIO on Linux, EOF elsewhere)
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    os.close(main)
    stdout = proc.stdout.read().decode() if proc.stdout else ""
    assert proc.wait() == ExitCode.OK, drawn
    shown = drawn.decode()
    for phase in ("hashing documents", "finding candidate pairs", "verifying candidate pairs", "clustering"):
        assert f"dedup: {phase}" in shown, shown
    assert "input 4, kept 4" in stdout


def test_no_phases_when_stderr_is_not_a_terminal(tmp_path, ingest_cli):
    write_stories(tmp_path / "in")
    result = ingest_cli("run", "-c", write_config(tmp_path))
    assert result.exit_code == ExitCode.OK
    assert "hashing" not in result.stderr and "\r" not in result.stderr


def test_dedup_reports_per_phase_and_every_n_documents(tmp_path, monkeypatch):
    from ingest_plugins.dedup import plugin as dedup_plugin

    monkeypatch.setattr(dedup_plugin, "PROGRESS_EVERY", 4)
    write_stories(tmp_path / "in", 10)
    pipeline = Pipeline.from_dict(
        {
            "source": {"path": "in"},
            "sink": {"path": "out"},
            "run": {"workers": 1},
            "pipeline": [{"stage": "dedup", "id": "dd", "story_grouping": True}],
        },
        base_dir=tmp_path,
    )
    seen: list[tuple[str, str, int | None, int | None]] = []
    pipeline.run(stage_progress=lambda *event: seen.append(event))
    assert {stage for stage, *_ in seen} == {"dd"}
    hashing = [done for _, phase, done, _ in seen if phase == "hashing documents"]
    assert hashing == [1, 4, 8]  # the first, then every 4th: not one report per document
    phases = [phase for _, phase, _, _ in seen if phase != "hashing documents"]
    assert phases == [
        "hashing the last documents",
        "finding candidate pairs",
        "verifying candidate pairs",
        "finding composite pages",
        "clustering",
        "choosing survivors",
        "grouping stories",
    ]


# -- 8: `ingest ... | head -1` ends quietly ----------------------------------------------------------


@pytest.mark.parametrize("command", [["run"], ["plugins"]])
def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path, command):
    write_stories(tmp_path / "in")
    config = write_config(tmp_path)
    args = [*command, "-c", str(config)]
    proc = ingest_process(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before anything is printed (head -1 after its line)
    stderr = proc.stderr.read().decode()
    code = proc.wait()
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr and "Exception ignored" not in stderr
    assert stderr == ""
    assert code == ExitCode.BROKEN_PIPE == 141
    if command == ["run"]:  # the run itself finished: its output is complete
        assert json.loads((tmp_path / "out" / "report.json").read_text())["input"] == 3


# -- 9: explain numbers lines as in the input file ---------------------------------------------------


def test_explain_numbers_removed_lines_as_in_the_input_file(tmp_path, ingest_cli):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "story.txt").write_text(STORY, encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text(
        '[source]\npath = "in"\n[sink]\npath = "out"\n[[pipeline]]\nstage = "header"\n'
        '[[pipeline]]\nstage = "boilerplate"\n'
    )
    assert ingest_cli("run", "-c", config).exit_code == ExitCode.OK
    result = ingest_cli("explain", "story.txt", "-c", config)
    assert result.exit_code == ExitCode.OK, result.stderr
    removed = {}
    for line in result.stdout.splitlines():
        if line.startswith("    - "):
            number, _rule, text = line[6:].strip().split(maxsplit=2)
            removed[text] = number
    file_lines = STORY.split("\n")
    # each removed line is shown with its number in story.txt
    assert removed["date 2025-07-07"] == "1"
    assert removed["Harbour Council Delays the Ferry Timetable"] == "2"  # the header stage's output line 1
    assert removed["Advertisement"] == "4"
    assert removed["Share this article"] == "7"
    for text, number in removed.items():
        assert file_lines[int(number) - 1] == text
    assert "metadata:" in result.stdout and "title_line: 2" in result.stdout  # the header says 2 as well


def test_input_line_numbers_count_back_what_earlier_stages_removed():
    history = [
        {"stage": "header", "action": "removed_lines", "lines": [{"line": 1}, {"line": 2}, {"line": 3}]},
        {"stage": "meta", "action": "metadata", "lines": [{"line": 1}]},  # lists lines, removes none
        {
            "stage": "boilerplate",
            "action": "removed_lines",
            "removed": 2,
            "lines": [{"line": 2}, {"line": 4}],
        },
        {
            "stage": "tail",
            "action": "removed_lines",
            "removed": 1,
            "removed_blank": 1,
            "lines": [{"line": 3}],
        },
        {"stage": "late", "action": "removed_lines", "lines": [{"line": 1}]},
    ]
    # header: lines 1-3; metadata's line 1 is the file's 4; boilerplate's 2 and 4 are the file's 5 and 7
    # (after 1-3 and 5 are gone); tail's 3: file lines 4, 6, 8 are left, so 8. tail removed a blank line
    # it did not list: after it, the input file's numbers are not known
    assert input_line_numbers(history) == [[1, 2, 3], [4], [5, 7], [8], [None]]


def test_explain_marks_numbers_it_cannot_trace_back(tmp_path, ingest_cli):
    out = tmp_path / "out"
    out.mkdir()
    record = {
        "id": "d1",
        "text": "kept text",
        "metadata": {},
        "history": [
            {
                "stage": "boilerplate",
                "action": "removed_lines",
                "removed": 1,
                "removed_blank": 2,
                "lines": [{"line": 3, "text": "Advertisement", "rule": "ui_chrome"}],
            },
            {
                "stage": "more",
                "action": "removed_lines",
                "lines": [{"line": 5, "text": "Read more", "rule": "x"}],
            },
        ],
    }
    (out / "documents.jsonl").write_text(json.dumps(record) + "\n")
    result = ingest_cli("explain", "d1", "--output", out)
    assert result.exit_code == ExitCode.OK, result.stderr
    assert "   3 ui_chrome" in result.stdout
    assert "  ~5 x" in result.stdout and "~N: line N of the text that stage received" in result.stdout
