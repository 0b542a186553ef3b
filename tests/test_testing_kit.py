"""The pytest plugin plugin authors use (``ingest.testing``) does what its
docstring promises, including failing with messages that say what happened."""

from __future__ import annotations

import attrs
import pytest
import tomllib
from example_stages import ExamplePlugin

from ingest import Document, Drop, StageKind
from ingest.testing import dump_toml, stage_plugin, write_config, write_corpus


def drop_short(doc: Document) -> Document | Drop:
    """Drop documents under five characters."""
    if len(doc.text) < 5:
        return Drop("short", details={"chars": len(doc.text)})
    return doc


@attrs.define
class TagOptions:
    tag: str = "seen"


def tag_factory(options: TagOptions, ctx):
    def process(doc: Document) -> Document:
        return attrs.evolve(doc, metadata={**doc.metadata, "tag": options.tag})

    return process


def test_stage_plugin_from_a_per_document_function(run_pipeline, stage_plugin):
    plugin = stage_plugin(drop_short, kind=StageKind.FILTER)
    result = run_pipeline(["tiny", "long enough"], ["drop_short"], plugins=[plugin])
    assert result.kept_ids == ["doc-1"]
    spec = result.pipeline.plugins.spec("drop_short")
    assert spec.plugin.name == "stage_plugin:drop_short"
    assert spec.spec.summary == "Drop documents under five characters."


def test_stage_plugin_from_a_factory_with_options(run_pipeline):
    plugin = stage_plugin(tag_factory, "tag", options=TagOptions)
    result = run_pipeline(["x"], [{"stage": "tag", "tag": "checked"}], plugins=[plugin])
    assert result.kept[0].metadata == {"tag": "checked"}


def test_stage_plugin_stream_stage_and_bad_uses():
    def stream(options, ctx):
        return lambda docs: (d for d in docs if d.text)

    plugin = stage_plugin(stream, "nonempty", factory=True, per_document=False)
    assert not plugin.specs[0].per_document
    with pytest.raises(TypeError, match="give the stage a name"):
        stage_plugin(lambda doc: doc)
    with pytest.raises(TypeError, match="factory=True"):
        stage_plugin(drop_short, per_document=False)


def test_assert_kept_and_dropped_pass_and_return(run_pipeline):
    result = run_pipeline(
        ["tiny", "long enough"], [{"stage": "drop_short"}], plugins=[stage_plugin(drop_short)]
    )
    [doc] = result.assert_kept("doc-1", only=True)
    assert doc.text == "long enough"
    record = result.assert_dropped(
        "doc-0", stage="drop_short", reason="short", duplicate_of=None, details={"chars": 4}
    )
    assert record.text == "tiny"


@pytest.mark.parametrize(
    ("check", "message"),
    [
        (
            lambda r: r.assert_kept("doc-0"),
            "expected 'doc-0' to be kept, but it was dropped by stage 'drop_short' with reason 'short'",
        ),
        (lambda r: r.assert_kept("nope"), "no document has that id"),
        (
            lambda r: r.assert_kept("doc-1", "doc-2", only=True),
            "expected only ['doc-1', 'doc-2'] to be kept, but ['doc-3'] were kept too",
        ),
        (lambda r: r.assert_dropped("doc-1"), "expected 'doc-1' to be dropped, but it was kept"),
        (lambda r: r.assert_dropped("doc-0", reason="long"), "reason is 'short', expected 'long'"),
        (lambda r: r.assert_dropped("doc-0", stage="other"), "stage is 'drop_short', expected 'other'"),
        (lambda r: r.assert_dropped("doc-0", duplicate_of="doc-1"), "duplicate_of is None, expected 'doc-1'"),
        (lambda r: r.assert_dropped("doc-0", details={"chars": 5}), "details['chars'] is 4, expected 5"),
        (lambda r: r.assert_dropped("doc-0", details={"words": 1}), "details have no 'words'"),
    ],
)
def test_assertion_messages_say_what_happened(run_pipeline, check, message):
    result = run_pipeline(
        ["tiny", "long enough", "also long", "third long"], ["drop_short"], plugins=[stage_plugin(drop_short)]
    )
    with pytest.raises(AssertionError) as info:
        check(result)
    assert message in str(info.value)


def test_dump_toml_round_trips_a_config():
    config = {
        "source": {"type": "text_files", "path": "in dir", "include": ["**/*.txt"]},
        "sink": {"path": "out"},
        "run": {"keep_drop_records": True},
        "pipeline": [
            {"stage": "header", "id": "h"},
            {
                "stage": "x",
                "threshold": 0.75,
                "words": ["a", 'quote " and \\ backslash'],
                "table": {"k": 1},
                "ünï": "ok",
            },
        ],
    }
    assert tomllib.loads(dump_toml(config)) == config


def test_write_corpus_and_config_make_a_runnable_folder(tmp_path, ingest_cli):
    folder = write_corpus(tmp_path / "in", {"a.txt": "hello", "sub/b.txt": "world", "c.txt": b"\xff\xfe"})
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.txt")) == [
        "a.txt",
        "c.txt",
        "sub/b.txt",
    ]
    config = write_config(tmp_path, {"source": {"path": "in"}})
    assert config == tmp_path / "config.toml"
    result = ingest_cli("run", "-c", config)
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out" / "documents.jsonl").is_file()


def test_ingest_run_writes_config_and_corpus_and_reads_outputs(tmp_path, ingest_run):
    (tmp_path / "plugin.py").write_text(
        "from ingest import hookimpl\n"
        "from ingest.testing import stage_plugin\n"
        "from ingest import Drop\n"
        "def drop_short(doc):\n"
        "    return Drop('short', details={'chars': len(doc.text)}) if len(doc.text) < 5 else doc\n"
        "ingest_stages = stage_plugin(drop_short).ingest_stages\n"
    )
    config = {"plugins": {"paths": ["plugin.py"]}, "pipeline": [{"stage": "drop_short", "id": "short"}]}
    result = ingest_run(config, corpus={"a.txt": "tiny", "b.txt": "long enough"})
    assert result.exit_code == 0, result.stderr
    assert result.assert_kept("b.txt", only=True)[0]["text"] == "long enough"
    result.assert_dropped("a.txt", stage="short", reason="short", details={"chars": 4})
    assert result.report["input"] == 2
    assert result.why_dropped() == {"a.txt": "short:short"}

    # Arguments are passed through; the output is found where --output says.
    again = ingest_run(
        config,
        "--output",
        str(tmp_path / "elsewhere"),
        "--skip",
        "short",
        corpus={"a.txt": "tiny", "b.txt": "long enough"},
    )
    assert again.output == tmp_path / "elsewhere"
    again.assert_kept("a.txt", "b.txt", only=True)


def test_ingest_run_reports_a_failed_run(ingest_run):
    result = ingest_run({"pipeline": [{"stage": "no_such_stage"}]}, corpus={"a.txt": "x"})
    assert result.exit_code == 2 and "unknown stage 'no_such_stage'" in result.stderr
    assert result.documents == [] and result.report == {}
    with pytest.raises(AssertionError, match="exited with 2"):
        result.assert_kept("a.txt")


def test_run_pipeline_loads_no_installed_plugins_unless_asked(run_pipeline):
    result = run_pipeline(["x"], [], plugins=[ExamplePlugin()])
    assert all(info.origin != "entry point" for info in result.pipeline.plugins.infos.values())


def test_the_example_in_the_module_docstring_works():
    import textwrap

    import ingest.testing

    example = textwrap.dedent(ingest.testing.__doc__.split("For example::\n")[1])
    namespace: dict = {}
    exec(example, namespace)
    namespace["test_drops_short"](ingest.testing.run_pipeline_once, ingest.testing.stage_plugin)
