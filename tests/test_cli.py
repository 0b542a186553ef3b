"""The command line as a data engineer uses it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ingest import ExitCode, __version__
from ingest.testing import write_corpus

GOOD_PLUGIN = """
import attrs
from ingest import Drop, StageKind, StageSpec, hookimpl

@attrs.define
class Options:
    min_words: int = 3

def factory(options, ctx):
    def process(doc):
        if len(doc.text.split()) < options.min_words:
            return Drop("too_few_words")
        return doc
    return process

@hookimpl
def ingest_stages():
    return [StageSpec("min_words", StageKind.FILTER, factory, Options, "drop short docs", per_document=True)]
"""


def write_config(tmp_path: Path, body: str, *, plugin: bool = True) -> Path:
    if plugin:
        (tmp_path / "local_plugin.py").write_text(GOOD_PLUGIN)
        body = '[plugins]\npaths = ["local_plugin.py"]\n' + body
    config = tmp_path / "config.toml"
    config.write_text(body)
    return config


def test_version(ingest_cli):
    result = ingest_cli("--version")
    assert result.exit_code == 0 and __version__ in result.stdout


def test_no_command_is_usage_error(ingest_cli):
    assert ingest_cli().exit_code == ExitCode.USAGE_ERROR
    assert ingest_cli("frobnicate").exit_code == ExitCode.USAGE_ERROR


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            '[[pipeline]]\nstage = "min_wordz"\n',
            [
                "[[pipeline]] #1",
                "unknown stage 'min_wordz'",
                "did you mean 'min_words'",
                "available stages: ",
                "min_words\n",
            ],
        ),
        (
            '[[pipeline]]\nstage = "min_words"\nmin_wrods = 2\n',
            [
                "[[pipeline]] #1 (id 'min_words')",
                "unknown option 'min_wrods'",
                "did you mean 'min_words'",
                "allowed: min_words",
            ],
        ),
        (
            '[[pipeline]]\nstage = "min_words"\nmin_words = "three"\n',
            ["[[pipeline]] #1 (id 'min_words')", "min_words: expected integer, got str 'three'"],
        ),
        ('[[pipeline]\nstage = "min_words"\n', ["TOML syntax error", "line 3"]),
        (
            '[source]\ntype = "text_filez"\n',
            ["[source]", "unknown source type 'text_filez'", "available: jsonl_files, stdin, text_files"],
        ),
        ("[sink]\npath = 3\n", ["[sink]", "path: expected string, got int 3"]),
        ("[pipelines]\n", ["unknown table or key 'pipelines'", "did you mean 'pipeline'"]),
        (
            '[[pipeline]]\nstage = "min_words"\n[[pipeline]]\nstage = "min_words"\n',
            ["id 'min_words' is already used by [[pipeline]] #1"],
        ),
    ],
    ids=[
        "unknown-stage",
        "misspelt-option",
        "wrong-type",
        "toml-syntax",
        "unknown-source",
        "sink-type",
        "unknown-table",
        "duplicate-id",
    ],
)
def test_check_gives_pointed_messages(tmp_path, ingest_cli, body, expected):
    config = write_config(tmp_path, body)
    result = ingest_cli("check", "-c", str(config))
    assert result.exit_code == ExitCode.USAGE_ERROR
    assert str(config) in result.stderr
    for fragment in expected:
        assert fragment in result.stderr, (fragment, result.stderr)


def test_check_ok_lists_the_pipeline(tmp_path, ingest_cli):
    write_corpus(tmp_path / "in", {"a.txt": "x"})
    config = write_config(tmp_path, '[source]\npath = "in"\n[[pipeline]]\nstage = "min_words"\n')
    result = ingest_cli("check", "-c", str(config))
    assert result.exit_code == 0, result.stderr
    assert "stage   min_words = min_words" in result.stdout
    assert not (tmp_path / "out").exists()  # check does no work


def test_missing_config_and_bad_plugin_file(tmp_path, ingest_cli):
    result = ingest_cli("check", "-c", str(tmp_path / "nope.toml"))
    assert result.exit_code == ExitCode.USAGE_ERROR and "config file not found" in result.stderr
    (tmp_path / "bad.py").write_text("raise ImportError('no such thing')\n")
    config = tmp_path / "c.toml"
    config.write_text('[plugins]\npaths = ["bad.py"]\n')
    result = ingest_cli("check", "-c", str(config))
    assert result.exit_code == ExitCode.USAGE_ERROR
    assert "bad.py" in result.stderr and "no such thing" in result.stderr


def test_run_writes_outputs_with_ledger(tmp_path, ingest_cli):
    write_corpus(
        tmp_path / "in",
        {
            "a.txt": "one two three four",
            "sub/b.txt": "too short",
            "sub/c.txt": "\ufeffwindows\r\nline ends here\r\n",
            "d.txt": b"caf\xe9 latin-1 bytes",
            "e.bin.txt": b"\x00\x01\x02binary",
            "f.txt": b"",
            "skip.md": "not included",
        },
    )
    config = write_config(tmp_path, '[source]\npath = "in"\n[[pipeline]]\nstage = "min_words"\n')
    result = ingest_cli("run", "-c", str(config))
    assert result.exit_code == 0, result.stderr
    out = tmp_path / "out"
    kept = [json.loads(line) for line in (out / "documents.jsonl").read_text().splitlines()]
    dropped = {r["id"]: r for r in map(json.loads, (out / "dropped.jsonl").read_text().splitlines())}
    report = json.loads((out / "report.json").read_text())
    assert [d["id"] for d in kept] == ["a.txt", "sub/c.txt"]
    assert kept[1]["text"] == "windows\nline ends here\n"  # BOM gone, CRLF normalised
    assert {k: (v["stage"], v["reason"]) for k, v in dropped.items()} == {
        "sub/b.txt": ("min_words", "too_few_words"),
        "d.txt": ("source", "undecodable"),
        "e.bin.txt": ("source", "binary"),
        "f.txt": ("source", "empty"),
    }
    assert "d.txt:1: not valid utf-8 at byte 3" in dropped["d.txt"]["details"]["error"]
    assert report["input"] == 6 and report["kept"] == 2 and report["dropped"] == 4 and report["balanced"]
    assert report["stages"]["min_words"]["dropped"] == {"too_few_words": 1}
    assert not list(out.glob(".*partial"))
    assert "input 6, kept 2, dropped 4" in result.stdout


def test_run_input_output_set_and_skip(tmp_path, ingest_cli, monkeypatch):
    write_corpus(tmp_path / "other", {"a.txt": "one two", "b.txt": "one two three"})
    config = write_config(tmp_path, '[source]\npath = "missing"\n[[pipeline]]\nstage = "min_words"\n')
    monkeypatch.chdir(tmp_path)
    result = ingest_cli(
        "run", "-c", str(config), "--input", "other", "--output", "res", "--set", "min_words.min_words=2"
    )
    assert result.exit_code == 0, result.stderr
    assert len((tmp_path / "res" / "documents.jsonl").read_text().splitlines()) == 2
    result = ingest_cli(
        "run", "-c", str(config), "--input", "other", "--output", "res2", "--skip", "min_words"
    )
    assert json.loads((tmp_path / "res2" / "report.json").read_text())["stages"].keys() == {"source"}
    result = ingest_cli("run", "-c", str(config), "--input", "other", "--set", "nope.x=1")
    assert result.exit_code == ExitCode.USAGE_ERROR and "no stage with id 'nope'" in result.stderr
    result = ingest_cli("run", "-c", str(config))
    assert result.exit_code == ExitCode.USAGE_ERROR and "does not exist" in result.stderr


def test_failed_run_leaves_no_complete_looking_output(tmp_path, ingest_cli):
    plugin = (
        GOOD_PLUGIN
        + """
class Broken:
    def __init__(self, options, ctx):
        pass
    def __iter__(self):
        from ingest import Document
        yield Document("a", "first document text")
        raise OSError("disk went away")

@hookimpl
def ingest_stages():
    return [StageSpec("broken_source", StageKind.SOURCE, Broken, None, "fails mid-way")]
"""
    )
    (tmp_path / "broken.py").write_text(
        plugin.replace(
            'def ingest_stages():\n    return [StageSpec("min_words"',
            'def _unused():\n    return [StageSpec("min_words"',
            1,
        )
    )
    config = tmp_path / "config.toml"
    config.write_text('[plugins]\npaths = ["broken.py"]\n[source]\ntype = "broken_source"\n')
    result = ingest_cli("run", "-c", str(config))
    assert result.exit_code == ExitCode.RUN_FAILED
    assert "disk went away" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []


def test_plugins_lists_builtins_with_options(ingest_cli):
    result = ingest_cli("plugins")
    assert result.exit_code == 0
    assert "ingest_plugins.text_files" in result.stdout and "(builtin from ingest)" in result.stdout
    assert 'include = ["**/*.txt"]' in result.stdout
    result = ingest_cli("plugins", "--json", "--hooks")
    payload = json.loads(result.stdout)
    names = {p["name"] for p in payload["plugins"]}
    assert {"ingest_plugins.text_files", "ingest_plugins.jsonl_sink"} <= names
    assert "ingest_plugins.text_files" in payload["hooks"]["ingest_stages"]


def test_python_dash_m_and_console_script(tmp_path, repo_root):
    result = subprocess.run(
        [sys.executable, "-m", "ingest", "--version"], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0 and "ingest" in result.stdout
    script = shutil.which("ingest", path=os.path.dirname(sys.executable))
    assert script, "the ingest console script is installed next to the interpreter"
    result = subprocess.run(
        [script, "check", "-c", str(repo_root / "config.toml")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
