"""Finding the optional compiled accelerators.

Each ``*.c`` module under ``ingest_plugins`` (compiled at install time by
``hatch_build.py``) has a pure-Python twin that gives the same results; the
Python code asks :func:`native_module` for the compiled one and falls back to
the twin when it is missing (no compiler at install time) or switched off
with ``INGEST_NATIVE=0``.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType


def native_enabled() -> bool:
    """False when ``INGEST_NATIVE=0`` asks for the pure-Python code."""
    return os.environ.get("INGEST_NATIVE", "1") != "0"


def native_module(name: str) -> ModuleType | None:
    """The compiled module ``name`` (e.g. ``"ingest_plugins.boilerplate._features"``), or None."""
    if not native_enabled():
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
