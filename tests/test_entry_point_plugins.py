"""A plugin published as a package is discovered through its entry point."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PLUGIN_MODULE = '''
"""A tiny third-party stage: drop documents that shout."""
import attrs
from ingest import Drop, StageKind, StageSpec, hookimpl


@attrs.define
class NoShoutingOptions:
    max_upper_ratio: float = 0.5


def no_shouting(options, ctx):
    def process(doc):
        letters = [c for c in doc.text if c.isalpha()]
        if letters and sum(c.isupper() for c in letters) / len(letters) > options.max_upper_ratio:
            return Drop("shouting")
        return doc
    return process


@hookimpl
def ingest_stages():
    return [StageSpec("no_shouting", StageKind.FILTER, no_shouting, NoShoutingOptions,
                      "Drop documents written mostly in capitals.", per_document=True)]
'''


def make_package(root: Path, name: str, module: str, source: str) -> Path:
    pkg = root / name
    (pkg / module).mkdir(parents=True)
    (pkg / module / "__init__.py").write_text(source)
    (pkg / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["setuptools>=61"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{name}"
            version = "1.2.3"
            dependencies = ["ingest"]

            [project.entry-points."ingest.plugins"]
            {module} = "{module}"

            [tool.setuptools]
            packages = ["{module}"]
            """
        )
    )
    return pkg


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kwargs)


def test_installed_plugin_package_is_discovered_and_runs(tmp_path, repo_root):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = str(bindir / "python")
    good = make_package(tmp_path, "ingest-no-shouting", "ingest_no_shouting", PLUGIN_MODULE)
    broken = make_package(
        tmp_path, "ingest-broken", "ingest_broken", "raise ImportError('missing dependency xyz')\n"
    )
    result = run([python, "-m", "pip", "install", "--quiet", str(repo_root), str(good), str(broken)])
    assert result.returncode == 0, result.stderr

    listing = run([str(bindir / "ingest"), "plugins", "--json"])
    assert listing.returncode == 0, listing.stderr
    plugins = {p["name"]: p for p in json.loads(listing.stdout)["plugins"]}
    assert plugins["ingest_no_shouting"]["distribution"] == "ingest-no-shouting"
    assert plugins["ingest_no_shouting"]["version"] == "1.2.3"
    assert [s["name"] for s in plugins["ingest_no_shouting"]["stages"]] == ["no_shouting"]
    assert "missing dependency xyz" in plugins["ingest_broken"]["error"]

    data = tmp_path / "data"
    data.mkdir()
    (data / "calm.txt").write_text("A calm sentence.")
    (data / "loud.txt").write_text("THIS IS VERY LOUD")
    config = tmp_path / "config.toml"
    config.write_text('[source]\npath = "data"\n[[pipeline]]\nstage = "no_shouting"\nmax_upper_ratio = 0.6\n')
    result = run([str(bindir / "ingest"), "run", "-c", str(config)])
    assert result.returncode == 0, result.stderr
    dropped = [json.loads(line) for line in (tmp_path / "out" / "dropped.jsonl").read_text().splitlines()]
    assert [(d["id"], d["stage"], d["reason"]) for d in dropped] == [("loud.txt", "no_shouting", "shouting")]

    # With autoload off, the installed plugin is not loaded and the config says why.
    env = {**os.environ, "INGEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    result = run([str(bindir / "ingest"), "check", "-c", str(config)], env=env)
    assert result.returncode == 2 and "unknown stage 'no_shouting'" in result.stderr
