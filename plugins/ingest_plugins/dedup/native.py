"""Which implementation hashes batches: the C kernels or numpy.

``_native`` (``_native.c``, built by the wheel's build hook and by editable
installs when a C compiler is there) computes what :mod:`.shingles` and
:mod:`.minhash` compute in numpy, bit for bit, in one pass per character
instead of ~15 array passes. It is optional: without it (no compiler, or
``INGEST_NATIVE=0`` in the environment) the numpy code runs, with the same
results and the same index files.

:data:`lib` is the extension module or ``None``; the hashing code looks it up
at call time, so tests can switch paths by setting it.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

#: INGEST_NATIVE values that force the numpy path
_OFF = ("0", "false", "no", "off", "numpy")

lib: ModuleType | None = None
#: why the numpy path is used ("" when native)
reason = ""

if os.environ.get("INGEST_NATIVE", "").strip().lower() in _OFF:
    reason = "INGEST_NATIVE=0"
else:
    try:
        lib = importlib.import_module(f"{__package__}._native")
    except ModuleNotFoundError:  # not built (no C compiler when the package was installed)
        reason = "extension not built"
    except ImportError as exc:  # built but not loadable (another Python's build, say)
        reason = f"extension not loadable: {exc}"


def active() -> str:
    """``"native"`` or ``"numpy"``: the implementation hashing batches now."""
    return "native" if lib is not None else "numpy"


def describe() -> str:
    """``active()`` with the reason when it is numpy, for reports."""
    return "native" if lib is not None else f"numpy ({reason or 'native disabled'})"
