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


def test_every_option_in_the_readme_says_what_it_does():
    """An option table row with an empty meaning column is an option without help text."""
    rows = [line for line in README.splitlines() if line.startswith("| `") and line.count(" | ") >= 2]
    assert rows
    empty = [row.split(" | ")[0] for row in rows if not row.rstrip(" |").split(" | ")[-1].strip()]
    assert empty == []


def test_the_readme_names_every_output_file_of_a_run(tmp_path, ingest_cli):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("A short story about the harbour and its ferries.\n")
    config = tmp_path / "config.toml"
    config.write_text('[source]\npath = "in"\n[sink]\npath = "out"\n')
    assert ingest_cli("run", "-c", str(config)).exit_code == 0
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert f"writes {len(written)} files" in quick_start.replace("four", "4")
    for name in written:
        assert f"`{name}`" in quick_start


def test_the_performance_section_says_when_where_and_how_it_was_measured():
    section = README.split("## Performance", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"\b20\d\d-\d\d-\d\d\b", section), "a date"
    assert re.search(r"commit `[0-9a-f]{7,}`", section), "a commit"
    assert "python benchmarks/" in section, "the command"
    assert "vCPU" in section or "cores" in section, "the machine"


def test_the_docs_speak_to_users():
    """The README and docs name dates and commits, not how the work was organised."""
    texts = {
        "README.md": README,
        **{p.name: p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md")},
        "benchmarks/README.md": (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8"),
    }
    for name, text in texts.items():
        assert not re.search(r"\bsessions?\b", text, re.IGNORECASE), name
