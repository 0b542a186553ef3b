"""The README stays true: its commands, config blocks, example and option tables."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python < 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


def test_quick_start_has_the_two_commands():
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "ingest run -c config.toml" in quick_start
    assert "python -m pytest" in quick_start
    assert "pytest" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("block", blocks("toml"), ids=lambda b: b.splitlines()[0][:40])
def test_toml_blocks_parse(block):
    tomllib.loads(block)


def test_sample_config_checks(ingest_cli):
    result = ingest_cli("check", "-c", str(ROOT / "config.toml"))
    assert result.exit_code == 0, result.stderr
    for stage in ("header", "boilerplate", "dedup"):
        assert f"stage   {stage} = {stage}" in result.stdout


def test_python_api_example_runs(tmp_path, monkeypatch):
    section = README.split("## Python API", 1)[1]
    example = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    config = (ROOT / "config.toml").read_text(encoding="utf-8")
    config = config.replace('path = "samples/seeds"', f'path = "{(ROOT / "samples" / "seeds").as_posix()}"')
    (tmp_path / "config.toml").write_text(config, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(example, "README.md", "exec"), {})
    printed = out.getvalue()
    # The string and the Document tell one story once the furniture is gone.
    assert "doc-1 dedup exact_duplicate a" in printed
    assert (tmp_path / "out" / "documents.jsonl").exists()


def test_python_api_one_off_stage_example_runs():
    """The second example of the Python API section: bare stage names and a
    function stage, printing what its comments say."""
    section = README.split("## Python API", 1)[1].split("\n## ", 1)[0]
    example = re.findall(r"```python\n(.*?)```", section, re.S)[1]
    assert 'stages={"pii": pii}' in example and '["header", "pii"]' in example
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(example, "README.md", "exec"), {})
    printed = out.getvalue().splitlines()
    # what the example's comments promise, line by line
    assert printed == re.findall(r"# (\[.*\])$", example, re.M)


def test_option_tables_match_the_code():
    spec = importlib.util.spec_from_file_location("option_tables", ROOT / "docs" / "option_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render(README) == README, "README option tables are stale: run python docs/option_tables.py"
