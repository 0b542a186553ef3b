"""What tripped a plugin author in their first hour (issue 20, points 13 to 20),
each done the way they did it, checking what they should have seen.

Installed packages are made to look installed with a module and a
``.dist-info`` (with an ``ingest.plugins`` entry point) on ``sys.path``: that is
all ``importlib.metadata`` reads, so no virtualenv is built.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pydoc
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ingest
from ingest import ConfigError, Drop, Pipeline, RunError, StageEvent, hookimpl
from ingest.testing import write_config, write_corpus

ROOT = Path(__file__).resolve().parent.parent
GUIDE = (ROOT / "docs" / "plugin-guide.md").read_text(encoding="utf-8")

SHOUT = """
import attrs
from ingest import StageKind, StageSpec, hookimpl


def factory(options, ctx):
    def process(doc):
        text = doc.text.upper() if {how!r} == "upper" else doc.text + "!!"
        return attrs.evolve(doc, text=text)
    return process


@hookimpl
def ingest_stages():
    return [StageSpec("shout", StageKind.TRANSFORM, factory, None, "shout ({how})", per_document=True)]
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on sys.path where :func:`install` puts packages."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    for name in ("INGEST_DISABLE_PLUGIN_AUTOLOAD", "INGEST_DISABLE_PLUGINS", "INGEST_TRACE_HOOKS"):
        monkeypatch.delenv(name, raising=False)
    before = set(sys.modules)
    yield folder
    for module in set(sys.modules) - before:
        if (getattr(sys.modules[module], "__file__", None) or "").startswith(str(folder)):
            del sys.modules[module]


def install(site: Path, distribution: str, module: str, source: str, version: str = "1.0.0") -> None:
    """Make ``distribution`` look installed, with the entry point ``module = module``."""
    (site / module).mkdir()
    (site / module / "__init__.py").write_text(source, encoding="utf-8")
    dist_info = site / f"{distribution.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
    (dist_info / "entry_points.txt").write_text(f"[ingest.plugins]\n{module} = {module}\n")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# -- 13: two installed packages register the same stage name ---------------------


@pytest.fixture
def two_shouts(site):
    install(site, "ingest-shout-upper", "shout_upper", SHOUT.format(how="upper"))
    install(site, "ingest-shout-bang", "shout_bang", SHOUT.format(how="bang"), version="2.0.0")
    return site


def test_a_stage_name_two_packages_provide_breaks_only_the_configs_that_use_it(
    two_shouts, tmp_path, ingest_cli
):
    write_corpus(tmp_path / "in", {"a.txt": "hello there"})
    plain = write_config(
        tmp_path / "plain.toml",
        {"source": {"path": "in"}, "sink": {"path": "out_plain"}, "pipeline": ["header"]},
    )
    ran = ingest_cli("run", "-c", plain)
    assert ran.exit_code == 0, ran.stderr
    checked = ingest_cli("check", "-c", plain)
    assert checked.exit_code == 0, checked.stderr
    assert "warning: stage 'shout' is provided by two plugins" in checked.stdout

    listing = ingest_cli("plugins")
    assert listing.exit_code == 0, listing.stderr
    assert "shout_upper 1.0.0 (entry point from ingest-shout-upper)" in listing.stdout
    assert (
        "PROBLEM: also provided by 'shout_bang' (entry point from ingest-shout-bang 2.0.0)" in listing.stdout
    )
    as_json = json.loads(ingest_cli("plugins", "--json").stdout)
    [stage] = next(p for p in as_json["plugins"] if p["name"] == "shout_bang")["stages"]
    assert "also provided by 'shout_upper'" in stage["problems"][0]

    uses = write_config(tmp_path / "uses.toml", {"source": {"path": "in"}, "pipeline": ["shout"]})
    failed = ingest_cli("run", "-c", uses)
    assert failed.exit_code == 2
    for words in (
        "[[pipeline]] #1",
        "'shout' is provided by two plugins",
        "'shout_upper'",
        "ingest-shout-upper",
        "'shout_bang'",
        "ingest-shout-bang 2.0.0",
        "[plugins] disable",
        "INGEST_DISABLE_PLUGINS",
    ):
        assert words in failed.stderr, words
    # ingest plugins -c on that very config still lists, with the clash
    listed = ingest_cli("plugins", "-c", uses)
    assert listed.exit_code == 0 and "PROBLEM: also provided by" in listed.stdout


def test_ingest_plugins_exits_0_with_a_clash_from_the_command_line(two_shouts):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(two_shouts), *sys.path])}
    env.pop("INGEST_DISABLE_PLUGIN_AUTOLOAD", None)
    result = subprocess.run(
        [sys.executable, "-m", "ingest", "plugins"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "PROBLEM: also provided by 'shout_bang'" in result.stdout


def test_one_of_two_clashing_packages_is_disabled_by_config_or_environment(
    two_shouts, tmp_path, ingest_cli, monkeypatch
):
    write_corpus(tmp_path / "in", {"a.txt": "hello there"})
    # by distribution name, in the config
    config = write_config(
        tmp_path,
        {"source": {"path": "in"}, "plugins": {"disable": ["ingest-shout-bang"]}, "pipeline": ["shout"]},
    )
    ran = ingest_cli("run", "-c", config)
    assert ran.exit_code == 0, ran.stderr
    assert [d["text"] for d in read_jsonl(tmp_path / "out" / "documents.jsonl")] == ["HELLO THERE"]
    checked = ingest_cli("check", "-c", config)
    assert "plugin  shout_bang not loaded: disabled by [plugins] disable" in checked.stdout
    assert "provided by two plugins" not in checked.stdout

    # by plugin name, in the environment
    config = write_config(tmp_path, {"source": {"path": "in"}, "pipeline": ["shout"]})
    monkeypatch.setenv("INGEST_DISABLE_PLUGINS", "shout_upper, other_unused")
    ran = ingest_cli("run", "-c", config)
    assert ran.exit_code == 0, ran.stderr
    assert [d["text"] for d in read_jsonl(tmp_path / "out" / "documents.jsonl")] == ["hello there!!"]
    listing = ingest_cli("plugins")
    assert (
        "shout_upper 1.0.0 (entry point from ingest-shout-upper)\n  disabled by INGEST_DISABLE_PLUGINS"
        in (listing.stdout)
    )
    # a name in the environment that matches nothing is a warning, not an error
    checked = ingest_cli("check", "-c", config)
    assert checked.exit_code == 0
    assert "INGEST_DISABLE_PLUGINS disable: no plugin is named 'other_unused'" in checked.stdout


def test_a_misspelt_name_in_plugins_disable_is_a_config_error(two_shouts, tmp_path, ingest_cli):
    config = write_config(tmp_path, {"source": {"path": "."}, "plugins": {"disable": ["ingest-shout-bnag"]}})
    checked = ingest_cli("check", "-c", config)
    assert checked.exit_code == 2
    assert "[plugins]: disable: no plugin is named 'ingest-shout-bnag'" in checked.stderr
    assert "did you mean 'ingest-shout-bang'?" in checked.stderr


def test_a_disabled_package_is_not_imported(site, ingest_cli, monkeypatch):
    install(site, "ingest-broken", "broken_pkg", "raise ImportError('missing dependency xyz')\n")
    listing = json.loads(ingest_cli("plugins", "--json").stdout)
    assert (
        "missing dependency xyz" in next(p for p in listing["plugins"] if p["name"] == "broken_pkg")["error"]
    )
    monkeypatch.setenv("INGEST_DISABLE_PLUGINS", "ingest-broken")
    listing = json.loads(ingest_cli("plugins", "--json").stdout)
    [entry] = [p for p in listing["plugins"] if p["name"] == "broken_pkg"]
    assert entry["disabled"] == "INGEST_DISABLE_PLUGINS" and "error" not in entry


# -- 14: a stage that raises on every document -----------------------------------

BOOM = """\
from ingest import StageKind, StageSpec, hookimpl


def factory(options, ctx):
    def process(doc):
        if "fine" in doc.text:
            return doc
        fields = {}
        return fields["boom"]
    return process


@hookimpl
def ingest_stages():
    return [StageSpec("boomer", StageKind.TRANSFORM, factory, None, "raises", per_document=True)]
"""
BOOM_LINE = BOOM.splitlines().index('        return fields["boom"]') + 1


def boom_config(tmp_path: Path, texts: dict[str, str], **run: object) -> Path:
    (tmp_path / "boomer.py").write_text(BOOM, encoding="utf-8")
    write_corpus(tmp_path / "in", texts)
    return write_config(
        tmp_path,
        {
            "source": {"path": "in"},
            "plugins": {"paths": ["boomer.py"]},
            **({"run": run} if run else {}),
            "pipeline": ["boomer"],
        },
    )


def test_a_stage_failing_on_every_document_says_so_with_file_and_line(tmp_path, ingest_cli):
    config = boom_config(tmp_path, {f"d{i}.txt": f"document {i}" for i in range(5)})
    result = ingest_cli("run", "-c", config)
    assert result.exit_code == 0, result.stderr  # the default keeps today's promise: recorded, not fatal
    assert (
        f"stage 'boomer' failed on 5 of 5 documents (KeyError: 'boom' at boomer.py:{BOOM_LINE} in process, "
        "first on 'd0.txt')"
    ) in result.stderr
    dropped = read_jsonl(tmp_path / "out" / "dropped.jsonl")
    assert len(dropped) == 5
    for record in dropped:
        assert record["reason"] == "error" and record["details"]["error"] == "KeyError: 'boom'"
        innermost = record["details"]["traceback"][-1]
        assert innermost == f"{tmp_path / 'boomer.py'}:{BOOM_LINE} in process"
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["stages"]["boomer"]["first_error"]["at"].endswith(f"boomer.py:{BOOM_LINE} in process")


def test_traceback_frames_come_back_from_worker_processes(tmp_path, ingest_cli):
    texts = {f"d{i:03d}.txt": ("fine text" if i % 2 else f"document {i}") for i in range(150)}
    config = boom_config(tmp_path, texts, workers=2)
    result = ingest_cli("run", "-c", config)
    assert result.exit_code == 0, result.stderr
    assert "stage 'boomer' failed on 75 of 150 documents (KeyError: 'boom' at boomer.py" in result.stderr
    dropped = read_jsonl(tmp_path / "out" / "dropped.jsonl")
    assert len(dropped) == 75
    assert all(r["details"]["traceback"][-1].endswith(f"boomer.py:{BOOM_LINE} in process") for r in dropped)


def test_a_stream_stage_that_raises_records_its_traceback(run_pipeline, stage_plugin):
    def breaker(options, ctx):
        def stage(docs):
            for doc in docs:
                raise ValueError(f"cannot stream {doc.id}")
                yield doc

        return stage

    plugin = stage_plugin(breaker, factory=True, per_document=False)
    result = run_pipeline(["a", "b"], ["breaker"], plugins=[plugin])
    assert result.dropped_ids == ["doc-0", "doc-1"]
    for record in result.dropped:
        assert record.details["error"] == f"ValueError: cannot stream {record.id}"  # started again after each
        assert record.details["traceback"][-1].endswith("in stage")
    assert result.report["stages"]["breaker"]["first_error"]["id"] == "doc-0"


def test_max_error_rate_fails_the_run_and_keeps_no_complete_looking_output(tmp_path, ingest_cli):
    config = boom_config(tmp_path, {f"d{i}.txt": f"document {i}" for i in range(5)}, checkpoint_every=2)
    result = ingest_cli("run", "-c", config, "--set", "run.max_error_rate=0.5")
    assert result.exit_code == 1
    for words in (
        "stage 'boomer' failed on 5 of 5 documents",
        "KeyError: 'boom' at boomer.py",
        "100% of its input",
        "[run] max_error_rate = 0.5",
    ):
        assert words in result.stderr, words
    out = tmp_path / "out"
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert not {"documents.jsonl", "dropped.jsonl", "report.json", "report.html"} & set(left), left
    # not kept for a resume either: the next run starts over
    again = ingest_cli("run", "-c", config)
    assert again.exit_code == 0, again.stderr
    assert "resum" not in again.stderr
    assert json.loads((out / "report.json").read_text())["input"] == 5


def test_max_error_rate_lets_a_run_under_it_finish_with_the_summary(tmp_path, ingest_cli):
    texts = {f"d{i}.txt": ("document" if i == 0 else "fine text") for i in range(10)}
    config = boom_config(tmp_path, texts, max_error_rate=0.5)
    result = ingest_cli("run", "-c", config)
    assert result.exit_code == 0, result.stderr
    assert "stage 'boomer' failed on 1 of 10 documents" in result.stderr


def test_max_error_rate_outside_0_to_1_is_a_config_error(tmp_path, ingest_cli):
    config = boom_config(tmp_path, {"a.txt": "text"}, max_error_rate=2)
    result = ingest_cli("check", "-c", config)
    assert result.exit_code == 2 and "[run]" in result.stderr and "max_error_rate" in result.stderr


def test_max_error_rate_in_an_etl_job(stage_plugin):
    def fragile(doc):
        raise ValueError("no")

    pipeline = Pipeline.from_dict(
        {"pipeline": ["fragile"], "run": {"max_error_rate": 0.0, "workers": 1}},
        plugins=[stage_plugin(fragile)],
    )
    with pytest.raises(RunError, match=r"stage 'fragile' failed on 2 of 2 documents \(ValueError: no at "):
        list(pipeline.process(["a", "b"]))
    assert [r.reason for r in pipeline.ledger.records] == ["error", "error"]  # still recorded


# -- 15: an option default that does not match its type --------------------------

BAD_DEFAULT = """\
import attrs
from ingest import Drop, StageKind, StageSpec, hookimpl


@attrs.define
class CapOptions:
    limit: int = "50"


def factory(options, ctx):
    def process(doc):
        return doc if len(doc.text) < options.limit else Drop("too_long")
    return process


@hookimpl
def ingest_stages():
    return [StageSpec("cap", StageKind.FILTER, factory, CapOptions, "drop long documents", per_document=True)]
"""


def test_an_int_option_with_a_string_default_is_caught_when_the_plugin_loads(tmp_path, ingest_cli):
    (tmp_path / "capper.py").write_text(BAD_DEFAULT, encoding="utf-8")
    write_corpus(tmp_path / "in", {"short.txt": "short", "long.txt": "a much longer text than ten"})
    base = {"source": {"path": "in"}, "plugins": {"paths": ["capper.py"]}}
    uses_default = write_config(tmp_path / "default.toml", {**base, "pipeline": ["cap"]})

    listing = ingest_cli("plugins", "-c", uses_default)
    assert listing.exit_code == 0, listing.stderr
    problem = next(line for line in listing.stdout.splitlines() if "PROBLEM" in line)
    for words in ("ingest_local_plugin_capper", "stage 'cap'", "option 'limit'", "'50' (str)", "integer"):
        assert words in problem, words

    checked = ingest_cli("check", "-c", uses_default)
    assert checked.exit_code == 2
    for words in (
        "[[pipeline]] #1",
        "option 'limit'",
        "stage 'cap'",
        "plugin 'ingest_local_plugin_capper'",
        "defaults to '50' (str)",
        "declared integer",
        "set limit in the config",
    ):
        assert words in checked.stderr, words

    # Setting the option works around the plugin's default; the warning stays.
    sets_it = write_config(tmp_path / "set.toml", {**base, "pipeline": [{"stage": "cap", "limit": 10}]})
    checked = ingest_cli("check", "-c", sets_it)
    assert checked.exit_code == 0, checked.stderr
    assert "warning: plugin 'ingest_local_plugin_capper', stage 'cap': option 'limit' defaults to '50'" in (
        checked.stdout
    )
    ran = ingest_cli("run", "-c", sets_it)
    assert ran.exit_code == 0, ran.stderr
    assert "input 2, kept 1, dropped 1" in ran.stdout


# -- 16: the source and sink contracts, and path_field ---------------------------


def guide_section(title: str) -> str:
    return GUIDE.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def test_help_of_source_and_sink_states_the_contract():
    sink = pydoc.render_doc(ingest.Sink, renderer=pydoc.plaintext)
    for words in (
        "write(doc)",
        "write_dropped(record)",
        "close(report)",
        "abort()",
        "UnwritableDocument",
        "path_field",
        "temporary names",
    ):
        assert words in sink, words
    source = pydoc.render_doc(ingest.Source, renderer=pydoc.plaintext)
    for words in ("ctx.drop(id, reason", "Origin", "unique", "path_field", "working directory"):
        assert words in source, words
    assert "relative to the config file" in pydoc.render_doc(ingest.path_field, renderer=pydoc.plaintext)


def test_the_guides_source_and_sink_work_and_resolve_paths_against_the_config(
    tmp_path, ingest_cli, monkeypatch
):
    [example] = re.findall(r"```python\n(.*?)```", guide_section("7. A source or a sink"), re.DOTALL)
    project = tmp_path / "project"
    project.mkdir()
    (project / "linesio.py").write_text(example, encoding="utf-8")
    (project / "lines.txt").write_text("first document\n\nsecond\tdocument\n", encoding="utf-8")
    config = write_config(
        project,
        {
            "source": {"type": "lines"},  # the default path, lines.txt, next to the config
            "sink": {"type": "tsv", "path": "out"},
            "plugins": {"paths": ["linesio.py"]},
        },
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = ingest_cli("run", "-c", config)
    assert result.exit_code == 0, result.stderr
    assert "input 3, kept 2, dropped 1" in result.stdout
    out = project / "out"
    assert (out / "kept.tsv").read_text() == "line-1\tfirst document\nline-3\tsecond document\n"
    assert (out / "dropped.tsv").read_text() == "line-2\tsource\tempty_line\n"
    assert json.loads((out / "report.json").read_text())["kept"] == 2
    assert not list(elsewhere.iterdir())  # nothing landed in the working directory

    # A failed run: abort leaves nothing that looks complete.
    for name in ("kept.tsv", "dropped.tsv", "report.json"):
        (out / name).unlink()
    (project / "boomer.py").write_text(BOOM, encoding="utf-8")
    failing = write_config(
        project,
        {
            "source": {"type": "lines"},
            "sink": {"type": "tsv", "path": "out"},
            "plugins": {"paths": ["linesio.py", "boomer.py"]},
            "run": {"max_error_rate": 0.1},
            "pipeline": ["boomer"],
        },
    )
    result = ingest_cli("run", "-c", failing)
    assert result.exit_code == 1 and "max_error_rate" in result.stderr
    assert list(out.iterdir()) == []


# -- 17: Document.history in memory and in JSON ----------------------------------


def guide_plugin_module(tmp_path: Path) -> Path:
    body = re.search(r'```python title="src/ingest_keywords/__init__.py"\n(.*?)```', GUIDE, re.DOTALL).group(
        1
    )
    path = tmp_path / "keywords_plugin.py"
    path.write_text(body, encoding="utf-8")
    return path


def test_the_guides_with_event_is_a_stage_event_in_memory_and_a_flat_object_in_json(
    tmp_path, run_pipeline, ingest_cli
):
    # What the guide says, in its own words ...
    assert 'doc.history[-1].details["keywords"]' in GUIDE
    flat = '{"stage": "keyword_filter", "action": "matched_keywords", "keywords": ["rates"]}'
    assert flat in GUIDE
    # ... is what its plugin does.
    path = guide_plugin_module(tmp_path)
    spec = importlib.util.spec_from_file_location("guide_keywords_plugin", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    stage = {"stage": "keyword_filter", "keywords": ["inflation", "rates"]}
    result = run_pipeline(["Central bank raises rates again."], [stage], plugins=[module])
    [kept] = result.assert_kept("doc-0")
    event = kept.history[-1]
    assert isinstance(event, StageEvent)
    assert (event.stage, event.action, event.details["keywords"]) == (
        "keyword_filter",
        "matched_keywords",
        ["rates"],
    )

    write_corpus(tmp_path / "in", {"ecb.txt": "Central bank raises rates again."})
    config = write_config(
        tmp_path, {"source": {"path": "in"}, "plugins": {"paths": [path.name]}, "pipeline": [stage]}
    )
    ran = ingest_cli("run", "-c", config)
    assert ran.exit_code == 0, ran.stderr
    [doc] = read_jsonl(tmp_path / "out" / "documents.jsonl")
    assert doc["history"][-1] == json.loads(flat)


# -- 18: header formats from plugins: recorded by plugin name, switchable ---------


class WireHeaders:
    __name__ = "wire_headers"

    @hookimpl
    def ingest_parse_header_line(self, line, line_number):
        if line.startswith("@@ "):
            return dict(part.split("=", 1) for part in line[3:].split())
        return None


class SlugHeaders:
    __name__ = "slug_headers"

    @hookimpl
    def ingest_parse_header_line(self, line):
        return {"slug": line[5:]} if line.startswith("slug=") else None


STORY = "The council approved the new budget for the harbour on Tuesday after a long debate."


def removed_rules(doc) -> list[str]:
    """Rules of the removed lines (not of the ``metadata`` events, which list where values came from)."""
    return [
        line["rule"]
        for event in doc.history
        if event.action == "removed_lines"
        for line in event.details.get("lines", [])
    ]


def test_a_plugins_header_format_is_recorded_by_the_plugins_name(run_pipeline):
    result = run_pipeline(
        [f"@@ source=wire id=12\n{STORY}", f"slug=budget\n{STORY}"],
        ["header"],
        plugins=[WireHeaders(), SlugHeaders()],
        run={"workers": 1},
    )
    wire, slug = result.assert_kept("doc-0", "doc-1")
    assert removed_rules(wire) == ["header:plugin:wire_headers"]
    assert wire.metadata["header_formats"] == ["plugin:wire_headers"] and wire.metadata["source"] == "wire"
    assert removed_rules(slug) == ["header:plugin:slug_headers"] and slug.metadata["slug"] == "budget"


def test_a_plugins_header_format_is_switched_off_per_pipeline(run_pipeline):
    texts = [f"@@ source=wire id=12\n{STORY}", f"slug=budget\n{STORY}"]
    result = run_pipeline(
        texts,
        [{"stage": "header", "disabled_plugins": ["wire_headers"]}],
        plugins=[WireHeaders(), SlugHeaders()],
        run={"workers": 1},
    )
    wire, slug = result.assert_kept("doc-0", "doc-1")
    assert wire.text.startswith("@@ source=wire id=12\n") and "source" not in wire.metadata
    assert removed_rules(slug) == ["header:plugin:slug_headers"]  # the other plugin is still asked


def test_an_unknown_name_in_disabled_plugins_names_the_plugins_that_parse_headers():
    pipeline = Pipeline.from_dict(
        {"pipeline": [{"stage": "header", "disabled_plugins": ["wire"]}]},
        plugins=[WireHeaders(), SlugHeaders()],
        load_entry_points=False,
    )
    with pytest.raises(ConfigError) as caught:
        pipeline.check()
    for words in ("disabled_plugins", "'wire'", "ingest_parse_header_line", "slug_headers, wire_headers"):
        assert words in str(caught.value), words


# -- 19: bare stage names and one-off function stages in Pipeline.from_dict ------


def test_from_dict_accepts_bare_stage_names_and_function_stages():
    def pii(doc):
        """Drop documents holding an e-mail address."""
        return Drop("pii") if "@" in doc.text else doc

    pipeline = Pipeline.from_dict(
        {"pipeline": ["header", {"stage": "pii", "id": "no_pii"}]}, stages={"pii": pii}
    )
    kept = list(pipeline.process(["plain text", "mail me at a@example.org"]))
    assert [d.id for d in kept] == ["doc-0"]
    [record] = pipeline.ledger.records
    assert (record.id, record.stage, record.reason, record.plugin) == (
        "doc-1",
        "no_pii",
        "pii",
        "function:pii",
    )
    assert pipeline.plugins.spec("pii").spec.summary == "Drop documents holding an e-mail address."

    # The same bare names go through ingest.testing and a TOML config.
    bare = Pipeline.from_dict({"pipeline": ["pii"]}, stages={"pii": pii})
    assert [d.id for d in bare.process(["x", "y@z.org"])] == ["doc-0"]


def test_a_function_stage_that_raises_is_recorded_with_its_traceback():
    def explode(doc):
        raise KeyError("boom")

    pipeline = Pipeline.from_dict(
        {"pipeline": ["explode"], "run": {"workers": 1}}, stages={"explode": explode}
    )
    assert list(pipeline.process(["a"])) == []
    [record] = pipeline.ledger.records
    assert record.details["error"] == "KeyError: 'boom'"
    assert record.details["traceback"][-1].endswith("in explode")


def test_bad_function_stages_and_bad_pipeline_entries_are_named():
    with pytest.raises(TypeError, match="stages: 'pii' must be a function"):
        Pipeline.from_dict({"pipeline": ["pii"]}, stages={"pii": "not a function"})
    with pytest.raises(
        ConfigError, match=r"\[\[pipeline\]\] #2: expected a table or a stage name, got int 3"
    ):
        Pipeline.from_dict({"pipeline": ["header", 3]})


def test_a_toml_pipeline_of_bare_names_checks_and_takes_set(tmp_path, ingest_cli):
    write_corpus(tmp_path / "in", {"a.txt": "text"})
    config = tmp_path / "config.toml"
    config.write_text('pipeline = ["header", "boilerplate"]\n[source]\npath = "in"\n')
    checked = ingest_cli("check", "-c", config, "--set", "header.max_header_lines=5")
    assert checked.exit_code == 0, checked.stderr
    assert (
        "stage   header = header" in checked.stdout and "stage   boilerplate = boilerplate" in checked.stdout
    )
    bad = ingest_cli("check", "-c", config, "--set", "header.max_header_lines=true")
    assert bad.exit_code == 2 and "max_header_lines" in bad.stderr


# -- 20: a hook implementation with an argument its hook does not pass ----------


def test_a_wrong_hook_argument_lists_the_hooks_real_arguments(tmp_path, ingest_cli):
    (tmp_path / "finisher.py").write_text(
        "from ingest import hookimpl\n\n@hookimpl\ndef ingest_stage_finished(stage, stats):\n    pass\n"
    )
    config = write_config(tmp_path, {"source": {"path": "."}, "plugins": {"paths": ["finisher.py"]}})
    result = ingest_cli("check", "-c", config)
    assert result.exit_code == 2
    for words in (
        "plugin 'ingest_local_plugin_finisher'",
        "ingest_stage_finished(stage, stats)",
        "asks for 'stage'",
        "ingest_stage_finished passes: stage_id, stats",
        "did you mean 'stage' -> 'stage_id'?",
    ):
        assert words in result.stderr, words


def test_an_installed_package_with_a_wrong_hook_argument_is_a_warning_with_the_real_arguments(
    site, ingest_cli
):
    install(
        site,
        "ingest-odd-hook",
        "odd_hook",
        "from ingest import hookimpl\n\n@hookimpl\ndef ingest_run_finished(summary):\n    pass\n",
    )
    listing = ingest_cli("plugins")
    assert listing.exit_code == 0
    line = next(line for line in listing.stdout.splitlines() if "FAILED TO LOAD" in line)
    assert "asks for 'summary'" in line and "ingest_run_finished passes: report" in line
