from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import types
import venv
from collections.abc import Mapping
from pathlib import Path

import pytest

pytest_plugins = ["ingest.testing"]

REPO_ROOT = Path(__file__).resolve().parent.parent
SEEDS_DIR = REPO_ROOT / "samples" / "seeds"


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def seeds_dir() -> Path:
    return SEEDS_DIR


@pytest.fixture(scope="session")
def corpus_generator() -> types.ModuleType:
    """``benchmarks/generate_corpus.py`` as a module: ``generate(folder, docs, seed=...)``
    writes a generated news corpus with labelled duplicates."""
    spec = importlib.util.spec_from_file_location(
        "generate_corpus", REPO_ROOT / "benchmarks" / "generate_corpus.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["generate_corpus"] = module  # its attrs classes look their module up
    spec.loader.exec_module(module)
    return module


class Virtualenv:
    """A virtualenv the slow tests install packages into and run commands in,
    as a user would after activating it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.bindir = path / ("Scripts" if os.name == "nt" else "bin")
        self.python = str(self.bindir / "python")

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of an activated virtualenv, without the test
        run's own settings that would leak into it."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PYTHONHOME", "INGEST_DISABLE_PLUGIN_AUTOLOAD", "INGEST_TRACE_HOOKS")
            and not k.startswith("PYTEST_")
        }
        env["VIRTUAL_ENV"] = str(self.path)
        env["PATH"] = f"{self.bindir}{os.pathsep}{env.get('PATH', '')}"
        return {**env, **(extra or {})}

    def run(
        self,
        *cmd: str | os.PathLike[str],
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess:
        """Run a command with the virtualenv activated; fail the test, showing
        its output, if ``check`` and it exits non-zero."""
        result = subprocess.run(
            [os.fspath(c) for c in cmd],
            cwd=cwd,
            env=self.env(env),
            capture_output=True,
            check=False,
            text=True,
            timeout=600,
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"{' '.join(map(str, cmd))} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result

    def pip_install(self, *args: str | os.PathLike[str]) -> None:
        self.run(self.python, "-m", "pip", "install", "--quiet", *args)


@pytest.fixture(scope="session")
def shared_venv(tmp_path_factory: pytest.TempPathFactory) -> Virtualenv:
    """One virtualenv for the slow tests, with this project installed from
    the checkout (not editable, as a user gets it) plus pytest. Tests add
    their own plugin packages with different stage names, so they do not
    disturb each other; building it once keeps the slow tests quick."""
    env = Virtualenv(tmp_path_factory.mktemp("shared-venv") / "venv")
    venv.create(env.path, with_pip=True)
    env.pip_install(REPO_ROOT, "pytest")
    return env
