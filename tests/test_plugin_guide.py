"""docs/plugin-guide.md works as written: a new user who follows it in an
empty folder gets a tested, installed, working plugin and a built wheel.

The guide's files are its code blocks with a title (```python
title="src/ingest_keywords/__init__.py"```); its commands are its ``sh``
blocks, run in order with bash in the new folder, the virtualenv activated.
A block after ``<!-- guide-test: skip ... -->`` is not run: only the set-up
block may be (the test builds the same virtualenv once and shares it).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
import tomllib

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "plugin-guide.md"

FENCE_OPEN = re.compile(r'^```(?P<lang>[\w-]*)(?:\s+title="(?P<title>[^"]+)")?\s*$')
SKIP_MARK = re.compile(r"^<!--\s*guide-test:\s*skip\b.*-->\s*$")


@attrs.frozen
class Block:
    lang: str
    title: str | None
    body: str
    skip: bool
    line: int  # 1-based line of the opening fence, for messages


def guide_blocks(markdown: str) -> list[Block]:
    """The fenced code blocks of a Markdown text, in order."""
    blocks = []
    lines = markdown.splitlines()
    i, skip_next = 0, False
    while i < len(lines):
        line = lines[i]
        if SKIP_MARK.match(line):
            skip_next = True
        elif (opened := FENCE_OPEN.match(line)) is not None:
            start = i
            i += 1
            body = []
            while i < len(lines) and lines[i].rstrip() != "```":
                body.append(lines[i])
                i += 1
            blocks.append(
                Block(opened["lang"], opened["title"], "\n".join(body) + "\n", skip_next, start + 1)
            )
            skip_next = False
        elif line.strip():
            skip_next = False  # a marker applies to the block right after it
        i += 1
    return blocks


def guide_files(blocks: list[Block]) -> dict[str, str]:
    return {b.title: b.body for b in blocks if b.title}


@pytest.fixture(scope="module")
def blocks() -> list[Block]:
    return guide_blocks(GUIDE.read_text(encoding="utf-8"))


def test_guide_has_files_and_commands_and_skips_only_the_setup(blocks):
    files = guide_files(blocks)
    assert {"pyproject.toml", "src/ingest_keywords/__init__.py", "tests/conftest.py", "config.toml"} <= set(
        files
    )
    commands = [b for b in blocks if b.lang == "sh" and not b.skip]
    assert any("pytest" in b.body for b in commands) and any("ingest run" in b.body for b in commands)
    skipped = [b for b in blocks if b.skip]
    assert len(skipped) == 1, [b.line for b in skipped]
    assert "python -m venv" in skipped[0].body and "pip install" in skipped[0].body
    for name, body in files.items():
        if name.endswith(".py"):
            compile(body, name, "exec")
        elif name.endswith(".toml"):
            tomllib.loads(body)


def test_guide_plugin_tests_pass_without_building_anything(tmp_path, blocks):
    """The fast check: the guide's plugin and tests, with the package made
    to look installed by a ``.dist-info`` written from its pyproject.toml."""
    for name, body in guide_files(blocks).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(body, encoding="utf-8")
    project = tomllib.loads((tmp_path / "pyproject.toml").read_text())["project"]
    site = tmp_path / "site"
    dist_info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    entry_points = project["entry-points"]["ingest.plugins"]
    (dist_info / "entry_points.txt").write_text(
        "[ingest.plugins]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    )
    env = {
        **{k: v for k, v in os.environ.items() if k != "INGEST_DISABLE_PLUGIN_AUTOLOAD"},
        "PYTHONPATH": os.pathsep.join([str(tmp_path / "src"), str(site)]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        check=False,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


@pytest.mark.slow
def test_follow_the_guide_in_an_empty_folder(tmp_path, blocks, shared_venv):
    folder = tmp_path / "ingest-keywords"
    folder.mkdir()
    outputs = []
    for block in blocks:
        if block.title:
            path = folder / block.title
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block.body, encoding="utf-8")
        elif block.lang == "sh" and not block.skip:
            result = shared_venv.run(
                "bash", "-e", "-o", "pipefail", "-c", block.body, cwd=folder, check=False
            )
            assert result.returncode == 0, (
                f"docs/plugin-guide.md line {block.line}: the commands\n{block.body}exited "
                f"{result.returncode}\n{result.stdout}\n{result.stderr}"
            )
            outputs.append((block.body, result.stdout + result.stderr))
    transcript = "\n".join(out for _, out in outputs)

    # What the guide says the reader will see.
    assert "keywords 0.1.0 (entry point from ingest-keywords)" in transcript
    assert "4 passed" in transcript
    assert "input 3, kept 2, dropped 1" in transcript
    assert "football.txt: DROPPED by stage 'keyword_filter', reason 'off_topic'" in transcript
    assert "[ingest hooks]" in transcript
    dropped = [json.loads(line) for line in (folder / "out" / "dropped.jsonl").read_text().splitlines()]
    assert [(d["id"], d["reason"]) for d in dropped] == [("football.txt", "off_topic")]
    assert sorted(p.name for p in (folder / "dist").iterdir()) == [
        "ingest_keywords-0.1.0-py3-none-any.whl",
        "ingest_keywords-0.1.0.tar.gz",
    ]
