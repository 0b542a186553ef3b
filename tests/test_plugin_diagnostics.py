"""What a plugin author (or a user with a misbehaving plugin) can find out:
which plugin implements which hook and in what order, a trace of every hook
call, how to switch installed plugins off, and where a plugin that raised on a
document is named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.testing import write_config, write_corpus

OBSERVER = """
from ingest import hookimpl

@hookimpl{marks}
def ingest_run_finished(report):
    pass
"""

BROKEN_STAGE = """
import attrs
from ingest import StageKind, StageSpec, hookimpl


@attrs.define
class Options:
    bad_word: str = "boom"


def factory(options, ctx):
    def process(doc):
        if options.bad_word in doc.text:
            raise ValueError(f"cannot handle {options.bad_word!r}")
        return doc
    return process


@hookimpl
def ingest_stages():
    return [StageSpec("fragile", StageKind.FILTER, factory, Options, "raises on a word", per_document=True)]
"""


def observer_files(folder: Path) -> list[str]:
    """Three local plugins implementing ingest_run_finished, one tryfirst."""
    names = []
    for name, marks in [("obs_a", ""), ("obs_b", ""), ("obs_first", "(tryfirst=True)")]:
        (folder / f"{name}.py").write_text(OBSERVER.format(marks=marks))
        names.append(f"{name}.py")
    return names


def test_plugins_hooks_lists_implementations_in_call_order(tmp_path, ingest_cli):
    config = write_config(tmp_path, {"plugins": {"paths": observer_files(tmp_path)}})
    result = ingest_cli("plugins", "--hooks", "-c", config)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    start = lines.index("hooks (in call order):")
    hooks = dict(line.strip().split(": ", 1) for line in lines[start + 1 :])
    # Last registered first; tryfirst ahead of everything.
    assert hooks["ingest_run_finished"] == (
        "ingest_local_plugin_obs_first, ingest_local_plugin_obs_b, ingest_local_plugin_obs_a"
    )
    assert hooks["ingest_parse_header_line"] == "-"
    assert "ingest_plugins.text_files" in hooks["ingest_stages"]

    as_json = json.loads(ingest_cli("plugins", "--hooks", "--json", "-c", config).stdout)
    assert as_json["hooks"]["ingest_run_finished"] == hooks["ingest_run_finished"].split(", ")
    by_name = {p["name"]: p for p in as_json["plugins"]}
    assert by_name["ingest_local_plugin_obs_a"]["hooks"] == ["ingest_run_finished"]
    assert by_name["ingest_local_plugin_obs_a"]["origin"] == "config file"


def _run_subprocess(config: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("INGEST_TRACE_HOOKS",)}
    return subprocess.run(
        [sys.executable, "-m", "ingest", "run", "-c", str(config)],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
        env={**environment, **env},
    )


def test_trace_hooks_env_prints_every_hook_call_on_stderr(tmp_path):
    write_corpus(tmp_path / "in", {"a.txt": "fine text", "b.txt": "boom text"})
    (tmp_path / "fragile.py").write_text(BROKEN_STAGE)
    # ingest_document_dropped is only called when a plugin implements it.
    (tmp_path / "on_drop.py").write_text(
        "from ingest import hookimpl\n\n@hookimpl\ndef ingest_document_dropped(record):\n    pass\n"
    )
    plugin_files = ["fragile.py", "on_drop.py", *observer_files(tmp_path)]
    config = write_config(
        tmp_path,
        {"source": {"path": "in"}, "plugins": {"paths": plugin_files}, "pipeline": [{"stage": "fragile"}]},
    )
    traced = _run_subprocess(config, INGEST_TRACE_HOOKS="1")
    assert traced.returncode == 0, traced.stderr
    trace = [line for line in traced.stderr.splitlines() if line.startswith("[ingest hooks]")]
    calls = [line.split()[2] for line in trace if line.split()[2].startswith("ingest_")]
    assert calls == [
        "ingest_run_started",
        "ingest_document_dropped",
        "ingest_stage_finished",
        "ingest_run_finished",
    ]
    assert "stages': ['fragile']" in traced.stderr  # arguments are shown
    assert "finish ingest_run_finished" in traced.stderr
    # The trace is on stderr only: stdout keeps the summary.
    assert "[ingest hooks]" not in traced.stdout and "input 2, kept 1, dropped 1" in traced.stdout

    quiet = _run_subprocess(config)
    assert quiet.returncode == 0 and "[ingest hooks]" not in quiet.stderr


# -- a plugin installed as a package, without building one ----------------------


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """Make ``ingest-fragile 2.5.0`` look installed: a module and a
    ``.dist-info`` with an ``ingest.plugins`` entry point on sys.path. That
    is all importlib.metadata needs, so no virtualenv is built."""
    site = tmp_path / "site"
    (site / "ingest_fragile").mkdir(parents=True)
    (site / "ingest_fragile" / "__init__.py").write_text(BROKEN_STAGE)
    dist_info = site / "ingest_fragile-2.5.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: ingest-fragile\nVersion: 2.5.0\n")
    (dist_info / "entry_points.txt").write_text("[ingest.plugins]\nfragile = ingest_fragile\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("INGEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    yield "ingest-fragile"
    sys.modules.pop("ingest_fragile", None)


def test_error_in_an_installed_plugin_names_plugin_distribution_version_stage_and_document(
    installed_plugin, ingest_run
):
    result = ingest_run(
        {"pipeline": [{"stage": "fragile", "id": "careful"}]},
        corpus={"good.txt": "all fine here", "bad.txt": "this goes boom"},
    )
    assert result.exit_code == 0, result.stderr  # a raising document does not stop the run
    result.assert_kept("good.txt", only=True)
    record = result.assert_dropped(
        "bad.txt",
        stage="careful",
        reason="error",
        details={"plugin_distribution": "ingest-fragile", "plugin_version": "2.5.0"},
    )
    assert record["plugin"] == "fragile"
    assert "ValueError: cannot handle 'boom'" in record["details"]["error"]
    assert record["text"] == "this goes boom"  # the input that made it fail


def test_disable_autoload_env_skips_installed_plugins(installed_plugin, ingest_cli, monkeypatch, tmp_path):
    listing = json.loads(ingest_cli("plugins", "--json").stdout)
    assert {"name": "fragile", "distribution": "ingest-fragile", "version": "2.5.0"}.items() <= next(
        p for p in listing["plugins"] if p["name"] == "fragile"
    ).items()

    monkeypatch.setenv("INGEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    listing = json.loads(ingest_cli("plugins", "--json").stdout)
    assert "fragile" not in {p["name"] for p in listing["plugins"]}
    config = write_config(tmp_path, {"pipeline": [{"stage": "fragile"}]})
    checked = ingest_cli("check", "-c", config)
    assert checked.exit_code == 2 and "unknown stage 'fragile'" in checked.stderr


def test_in_process_plugin_error_names_plugin_and_stage(run_pipeline, stage_plugin):
    def fragile(doc):
        raise KeyError("missing field")

    result = run_pipeline(
        [{"id": "x", "text": "t"}], [{"stage": "fragile", "id": "f1"}], plugins=[stage_plugin(fragile)]
    )
    record = result.assert_dropped("x", stage="f1", reason="error")
    assert record.plugin == "stage_plugin:fragile"
    assert "KeyError: 'missing field'" in record.details["error"]
    # Not from a package: there is no distribution to name.
    assert "plugin_distribution" not in record.details


def test_broken_installed_plugin_is_a_named_warning(tmp_path, monkeypatch, ingest_cli):
    site = tmp_path / "site"
    (site / "ingest_broken_dep").mkdir(parents=True)
    (site / "ingest_broken_dep" / "__init__.py").write_text("import no_such_module_xyz\n")
    dist_info = site / "ingest_broken_dep-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: ingest-broken-dep\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text("[ingest.plugins]\nbroken_dep = ingest_broken_dep\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("INGEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    write_corpus(tmp_path / "in", {"a.txt": "text"})
    config = write_config(tmp_path, {"source": {"path": "in"}})
    checked = ingest_cli("check", "-c", config)
    assert checked.exit_code == 0
    assert "warning: plugin broken_dep (ingest-broken-dep) failed to load" in checked.stdout
    assert "no_such_module_xyz" in checked.stdout
    uses_it = write_config(
        tmp_path / "c2.toml", {"source": {"path": "in"}, "pipeline": [{"stage": "broken_stage"}]}
    )
    failed = ingest_cli("check", "-c", uses_it)
    assert failed.exit_code == 2 and "broken_dep (ingest-broken-dep): ModuleNotFoundError" in failed.stderr
    sys.modules.pop("ingest_broken_dep", None)


def test_misspelt_hook_is_a_named_warning_and_bad_arguments_a_clean_error(tmp_path, ingest_cli):
    (tmp_path / "typo.py").write_text(
        "from ingest import hookimpl\n\n@hookimpl\ndef ingest_run_finishd(report):\n    pass\n"
    )
    config = tmp_path / "config.toml"
    config.write_text('[source]\npath = "."\n[plugins]\npaths = ["typo.py"]\n')
    result = ingest_cli("check", "-c", str(config))
    assert result.exit_code == 0
    assert (
        "'ingest_run_finishd', which is not an ingest hook (did you mean 'ingest_run_finished'?)"
        in result.stdout
    )

    (tmp_path / "badargs.py").write_text(
        "from ingest import hookimpl\n\n@hookimpl\ndef ingest_run_finished(report, extra):\n    pass\n"
    )
    config.write_text('[source]\npath = "."\n[plugins]\npaths = ["badargs.py"]\n')
    result = ingest_cli("check", "-c", str(config))
    assert result.exit_code == 2
    assert "badargs" in result.stderr and "extra" in result.stderr
