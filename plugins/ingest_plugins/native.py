"""Finding the optional compiled accelerators.

Each ``*.c`` module under ``ingest_plugins`` (compiled at install time by
``hatch_build.py``) has a Python twin that gives the same results; the Python
code asks :func:`load_native` for the compiled one and falls back to the twin
when it is missing (no compiler at install time) or switched off with
``INGEST_NATIVE=0`` (also ``false``, ``no``, ``off``), which worker processes
started from that environment follow too. ``docs/native.md`` has the details.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

#: INGEST_NATIVE values that ask for the Python twins
OFF_VALUES = ("0", "false", "no", "off", "numpy", "python")


def native_enabled() -> bool:
    """False when ``INGEST_NATIVE`` asks for the Python twins."""
    return os.environ.get("INGEST_NATIVE", "").strip().lower() not in OFF_VALUES


def load_native(name: str) -> tuple[ModuleType | None, str]:
    """The compiled module ``name`` (e.g. ``"ingest_plugins.dedup._native"``) and
    "", or None and why not (``"INGEST_NATIVE=0"``, ``"extension not built"``, ...)."""
    if not native_enabled():
        return None, "INGEST_NATIVE=0"
    try:
        return importlib.import_module(name), ""
    except ModuleNotFoundError:  # not built (no C compiler when the package was installed)
        return None, "extension not built"
    except ImportError as exc:  # built but not loadable (another Python's build, say)
        return None, f"extension not loadable: {exc}"


def native_module(name: str) -> ModuleType | None:
    """The compiled module ``name``, or None when the Python twin is to run."""
    return load_native(name)[0]
