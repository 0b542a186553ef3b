"""Hatchling build hook: compiles the dedup stage's optional C kernels.

``plugins/ingest_plugins/dedup/_native.c`` is compiled with the compiler
``sysconfig`` names (``CC``; ``$CC`` overrides it), ``-O2`` and the Python
include directory into

* a wheel (then platform-specific: ``pure_python`` off, tags inferred), or
* the source tree next to the C file, for editable installs.

Without a compiler, or when compiling fails, one warning is printed and the
wheel stays pure: the dedup stage then hashes with numpy (same results).
``INGEST_BUILD_NATIVE=0`` skips the compile on purpose.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = Path("plugins", "ingest_plugins", "dedup", "_native.c")
TARGET = "ingest_plugins/dedup/_native"  # path in the wheel, without the extension suffix


def _compile(source: Path, output: Path) -> str:
    """Compile ``source`` into the extension module ``output``; return "" or
    why it failed."""
    # $CC overrides, as distutils/setuptools let it
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc") or ["cc"]
    if not shutil.which(cc[0]):
        return f"no C compiler ({cc[0]!r} not found)"
    include = sysconfig.get_paths()["include"]
    if not Path(include, "Python.h").exists():
        return f"no Python headers (Python.h not in {include})"
    flags = ["-O2", "-fPIC", "-shared", "-I", include]
    if sys.platform == "darwin":  # symbols resolve against the interpreter at import
        flags += ["-undefined", "dynamic_lookup"]
    tmp = output.with_name(output.name + ".tmp")
    cmd = [*cc, *flags, str(source), "-o", str(tmp)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{shlex.join(cmd)}: {exc}"
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        return f"{shlex.join(cmd)} exited with {proc.returncode}: {proc.stderr.strip()[-2000:]}"
    os.replace(tmp, output)  # never a half-written module
    return ""


class CustomBuildHook(BuildHookInterface):
    """Adds the compiled ``_native`` module to wheels (see the module docstring)."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        if os.environ.get("INGEST_BUILD_NATIVE", "").strip().lower() in ("0", "false", "no", "off"):
            self.app.display_warning("ingest: INGEST_BUILD_NATIVE=0: dedup hashing will use numpy")
            return
        root = Path(self.root)
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        if version == "editable":  # next to the source, which the editable install imports
            output = root / SOURCE.with_name("_native" + suffix)
            error = _compile(root / SOURCE, output)
        else:
            self._tmp = tempfile.mkdtemp(prefix="ingest-native-")
            output = Path(self._tmp, "_native" + suffix)
            error = _compile(root / SOURCE, output)
            if not error:
                build_data["force_include"][str(output)] = TARGET + suffix
        if error:
            self.app.display_warning(
                f"ingest: the native dedup kernels were not built ({error}); "
                "the dedup stage will hash with numpy (same results, slower)"
            )
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        tmp = getattr(self, "_tmp", None)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
