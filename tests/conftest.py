from __future__ import annotations

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
