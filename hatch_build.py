"""Build hook: compiles the optional C accelerators into the wheel.

Every ``*.c`` file under ``plugins/ingest_plugins/`` is one extension module
named after its path (``boilerplate/_features.c`` -> ``ingest_plugins.boilerplate._features``).
Each has a pure-Python twin that gives the same results, so a machine without a C
compiler still gets a working (slower) install: a failed compile is a warning and
the wheel stays pure Python. ``INGEST_BUILD_NATIVE=0`` skips compiling.

Editable installs (``pip install -e .``) build the modules next to their sources.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE_ROOT = Path("plugins")  # folder that holds the ingest_plugins package


def _compiler() -> list[str] | None:
    """The command that compiles and links one extension, as this Python was built with."""
    ldshared = sysconfig.get_config_var("LDSHARED")
    if not ldshared or sys.platform == "win32":
        return None
    return shlex.split(ldshared)


def compile_extension(source: Path, target: Path) -> str | None:
    """Compile ``source`` into the extension ``target``; the error text, or None on success."""
    cmd = _compiler()
    if cmd is None:
        return "no C compiler configuration for this Python"
    include = sysconfig.get_paths()["include"]
    # no fused multiply-add: the C code must round exactly as its Python twin does
    args = [*cmd, "-O2", "-ffp-contract=off", "-fPIC", f"-I{include}", str(source), "-o", str(target)]
    try:
        done = subprocess.run(args, capture_output=True, text=True, check=False)
    except OSError as exc:
        return f"{args[0]}: {exc}"
    if done.returncode != 0:
        return (done.stderr or done.stdout).strip()[-2000:] or f"exit {done.returncode}"
    return None


class NativeBuildHook(BuildHookInterface):  # type: ignore[misc]
    """Adds the compiled accelerators to wheels (and editable installs)."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or os.environ.get("INGEST_BUILD_NATIVE", "1") == "0":
            return
        root = Path(self.root)
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        sources = sorted((root / SOURCE_ROOT / "ingest_plugins").rglob("*.c"))
        out_dir = Path(tempfile.mkdtemp(prefix="ingest-native-"))
        built = 0
        for source in sources:
            rel = source.relative_to(root / SOURCE_ROOT).with_suffix("")  # ingest_plugins/x/_mod
            in_place = source.with_name(source.stem + suffix)
            target = in_place if version == "editable" else out_dir / (source.stem + suffix)
            error = compile_extension(source, target)
            if error is not None:
                self.app.display_warning(
                    f"ingest: could not compile {source.relative_to(root)} ({error.splitlines()[-1]}); "
                    "the pure-Python code is used instead (same results, slower)"
                )
                continue
            built += 1
            if version != "editable":
                build_data["force_include"][str(target)] = f"{rel}{suffix}"
        if built:
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
