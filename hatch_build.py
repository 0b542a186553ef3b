"""Hatchling build hook: compiles the optional C accelerators.

Every ``*.c`` file under ``plugins/ingest_plugins/`` is one extension module
named after its path (``dedup/_native.c`` -> ``ingest_plugins.dedup._native``).
Each has a Python twin that gives the same results (``docs/native.md``). They
are compiled with the compiler ``sysconfig`` names for the running Python
(``CC``; the ``CC`` environment variable overrides it) into

* a wheel (then platform-specific: ``pure_python`` off, tags inferred), or
* the source tree next to the C file, for editable installs.

Without a compiler, or when a compile fails, a warning names the module and
the wheel goes on without it: that module's Python twin runs (same results,
slower). ``INGEST_BUILD_NATIVE=0`` skips compiling on purpose.
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

PACKAGE_PARENT = Path("plugins")  # the folder holding the ingest_plugins package
OFF = ("0", "false", "no", "off")


def compile_extension(source: Path, output: Path) -> str:
    """Compile ``source`` into the extension module ``output``; "" or why it failed."""
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc") or ["cc"]
    if not shutil.which(cc[0]):
        return f"no C compiler ({cc[0]!r} not found)"
    include = sysconfig.get_paths()["include"]
    if not Path(include, "Python.h").exists():
        return f"no Python headers (Python.h not in {include})"
    # no fused multiply-add: the C code must round exactly as its Python twin does
    flags = ["-O2", "-ffp-contract=off", "-fPIC", "-shared", "-I", include]
    if sys.platform == "darwin":  # symbols resolve against the interpreter at import
        flags += ["-undefined", "dynamic_lookup"]
    tmp = output.with_name(output.name + ".tmp")
    cmd = [*cc, *flags, str(source), "-o", str(tmp)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{shlex.join(cmd)}: {exc}"
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        return f"{shlex.join(cmd)} exited with {proc.returncode}: {proc.stderr.strip()[-2000:]}"
    os.replace(tmp, output)  # never a half-written module
    return ""


class CustomBuildHook(BuildHookInterface):  # type: ignore[misc]
    """Adds the compiled accelerators to wheels and editable installs (see the module docstring)."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        if os.environ.get("INGEST_BUILD_NATIVE", "").strip().lower() in OFF:
            self.app.display_warning("ingest: INGEST_BUILD_NATIVE=0: no C accelerators; the Python code runs")
            return
        root = Path(self.root)
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        self._tmp = tempfile.mkdtemp(prefix="ingest-native-")
        built = 0
        for source in sorted((root / PACKAGE_PARENT / "ingest_plugins").rglob("*.c")):
            module = source.relative_to(root / PACKAGE_PARENT).with_suffix("")  # ingest_plugins/x/_mod
            if version == "editable":  # next to the source, which the editable install imports
                output = source.with_name(source.stem + suffix)
            else:
                output = Path(self._tmp, "_".join(module.parts) + suffix)
            error = compile_extension(source, output)
            if error:
                self.app.display_warning(
                    f"ingest: {'.'.join(module.parts)} was not built ({error}); "
                    "its Python twin runs instead (same results, slower)"
                )
                continue
            built += 1
            if version != "editable":
                build_data["force_include"][str(output)] = f"{module.as_posix()}{suffix}"
        if built:
            build_data["pure_python"] = False
            build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        tmp = getattr(self, "_tmp", None)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
