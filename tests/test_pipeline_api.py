"""The Python API an ETL job uses: Pipeline.process on in-memory documents."""

from __future__ import annotations

import random

import pytest
from example_stages import ExamplePlugin

from ingest import ConfigError, Document, Pipeline, hookimpl


def test_process_strings_dicts_and_documents(run_pipeline):
    result = run_pipeline(
        [
            "short",
            {"id": "b", "text": "a long enough text", "metadata": {"k": 1}},
            Document("c", "another long text"),
        ],
        [{"stage": "min_length", "min_chars": 10}],
        plugins=[ExamplePlugin()],
    )
    assert result.kept_ids == ["b", "c"]
    assert result.kept_by_id("b").metadata == {"k": 1}
    assert result.why_dropped() == {"doc-0": "min_length:too_short"}
    assert result.drop_record("doc-0").details == {"chars": 5}
    assert result.report["input"] == 3 and result.report["kept"] == 2 and result.report["dropped"] == 1


def test_process_is_lazy_and_report_complete_after_exhaustion():
    # One process: with workers, process() reads a few batches ahead.
    pipeline = Pipeline.from_dict(
        {"pipeline": [{"stage": "suffix"}], "run": {"workers": 1}}, plugins=[ExamplePlugin()]
    )
    seen = []

    def items():
        for i in range(3):
            seen.append(i)
            yield f"text {i}"

    stream = pipeline.process(items())
    first = next(stream)
    assert first.text == "text 0!" and seen == [0]
    rest = list(stream)
    assert [d.text for d in rest] == ["text 1!", "text 2!"]
    assert pipeline.report["kept"] == 3


def test_stages_run_in_config_order_and_same_stage_twice(run_pipeline):
    result = run_pipeline(
        ["x"],
        [
            {"stage": "suffix", "id": "first", "suffix": "-a"},
            {"stage": "suffix", "id": "second", "suffix": "-b"},
        ],
        plugins=[ExamplePlugin()],
    )
    doc = result.kept[0]
    assert doc.text == "x-a-b"
    assert [e.stage for e in doc.history] == ["first", "second"]
    assert list(result.report["stages"]) == ["source", "first", "second"]


def test_disabled_stage_and_skip(run_pipeline):
    result = run_pipeline(["x"], [{"stage": "suffix", "enabled": False}], plugins=[ExamplePlugin()])
    assert result.kept[0].text == "x"
    pipeline = Pipeline.from_dict(
        {"pipeline": [{"stage": "suffix"}]}, plugins=[ExamplePlugin()], skip=["suffix"]
    )
    assert [d.text for d in pipeline.process(["y"])] == ["y"]
    with pytest.raises(ConfigError, match=r"--skip 'sufix'.*did you mean 'suffix'"):
        Pipeline.from_dict({"pipeline": [{"stage": "suffix"}]}, plugins=[ExamplePlugin()], skip=["sufix"])


def test_plugin_error_is_recorded_and_run_goes_on(run_pipeline):
    result = run_pipeline(
        ["fine one", "this goes boom", "fine two"],
        [{"stage": "explode", "id": "exploder"}],
        plugins=[ExamplePlugin()],
    )
    assert result.kept_ids == ["doc-0", "doc-2"]
    record = result.drop_record("doc-1")
    assert record.stage == "exploder" and record.reason == "error"
    assert record.plugin == "example-stages"
    assert "ValueError: found 'boom'" in record.details["error"]


def test_stream_stage_drops_losses_and_errors_are_all_accounted(run_pipeline):
    # A document lost before the explosion would still be in flight when it
    # happens (and so recorded with the error); this one is lost after it.
    texts = ["ok 1", "spam 2", "ok 3", "kaboom 4", "lost 5", "ok 6", "spam 7"]
    result = run_pipeline(
        texts,
        [{"stage": "stream_filter", "lose_word": "lost", "explode_word": "kaboom"}],
        plugins=[ExamplePlugin()],
    )
    assert result.kept_ids == ["doc-0", "doc-2", "doc-5"]
    why = result.why_dropped()
    assert why == {
        "doc-1": "stream_filter:spam",
        "doc-3": "stream_filter:error",
        "doc-4": "stream_filter:lost",
        "doc-6": "stream_filter:spam",
    }
    assert "stream stage blew up" in result.drop_record("doc-3").details["error"]


def test_corpus_stage_fits_on_the_whole_corpus_first(run_pipeline):
    # The survivor is the smallest id, even though a copy comes first.
    items = [Document("z", "same text"), Document("b", "other"), Document("a", "same text")]
    result = run_pipeline(items, ["exact_test"], plugins=[ExamplePlugin()])
    assert result.kept_ids == ["b", "a"]
    record = result.drop_record("z")
    assert record.reason == "exact_duplicate" and record.duplicate_of == "a"


class _ObservingStage:
    """A corpus-level stage that writes down what it is shown, and when."""

    def __init__(self, options, ctx) -> None:
        self.events: list[tuple[str, object]] = []
        _ObservingStage.last = self

    def observe(self, doc: Document) -> None:
        self.events.append(("observe", doc.id))

    def fit(self, corpus) -> None:
        self.events.append(("fit", [d.id for d in corpus]))

    def __call__(self, docs):
        yield from docs


@pytest.mark.parametrize("workers", [1, 2])
def test_corpus_stage_observes_each_document_as_it_is_spooled_then_fits(run_pipeline, workers):
    from ingest.testing import stage_plugin

    plugin = stage_plugin(_ObservingStage, "observing", factory=True, per_document=False, needs_corpus=True)
    items = [Document(f"d{i}", f"text {i}") for i in (3, 1, 2)]
    result = run_pipeline(items, ["observing"], plugins=[plugin], run={"workers": workers})
    assert result.kept_ids == ["d3", "d1", "d2"]
    assert _ObservingStage.last.events == [
        ("observe", "d3"),
        ("observe", "d1"),
        ("observe", "d2"),
        ("fit", ["d3", "d1", "d2"]),
    ]


def test_a_failing_observe_fails_the_run_like_a_failing_fit(run_pipeline):
    from ingest import RunError
    from ingest.testing import stage_plugin

    class Failing(_ObservingStage):
        def observe(self, doc: Document) -> None:
            raise ValueError("cannot hash this")

    plugin = stage_plugin(Failing, "failing", factory=True, per_document=False, needs_corpus=True)
    with pytest.raises(RunError, match="failed while reading the corpus: ValueError: cannot hash this"):
        run_pipeline([Document("a", "text")], ["failing"], plugins=[plugin])


def test_ledger_balances_on_generated_input(run_pipeline):
    rng = random.Random(7)
    words = ["spam", "boom", "ok", "text", "lost", "hello", "world"]
    items = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 6))) for _ in range(500)]
    items += items[:50]  # exact copies for the corpus stage
    result = run_pipeline(
        items,
        [
            {"stage": "min_length", "min_chars": 4},
            {"stage": "explode"},
            {"stage": "stream_filter", "lose_word": "lost"},
            "exact_test",
        ],
        plugins=[ExamplePlugin()],
    )
    report = result.report
    assert report["input"] == len(items)
    assert report["input"] == report["kept"] + report["dropped"]
    assert len(set(result.kept_ids) | set(result.dropped_ids)) == len(items)
    stages = report["stages"]
    for stage_id in ("min_length", "explode", "stream_filter", "exact_test"):
        s = stages[stage_id]
        assert s["documents_in"] == s["documents_out"] + s["dropped_total"], stage_id


def test_invalid_items_are_recorded_not_lost(run_pipeline):
    result = run_pipeline(["fine text", {"no_text": 1}, 42], [], plugins=[ExamplePlugin()])
    assert result.kept_ids == ["doc-0"]
    assert result.why_dropped() == {"doc-1": "source:invalid_input", "doc-2": "source:invalid_input"}


def test_two_pipelines_with_different_plugins_in_one_process():
    class Shout:
        __name__ = "shout"

        @hookimpl
        def ingest_stages(self):
            from example_stages import StageKind, StageSpec

            def factory(options, ctx):
                return lambda doc: Document(doc.id, doc.text.upper())

            return [StageSpec("shout", StageKind.TRANSFORM, factory, None, "upper-case", per_document=True)]

    loud = Pipeline.from_dict({"pipeline": [{"stage": "shout"}]}, plugins=[Shout()])
    plain = Pipeline.from_dict({"pipeline": [{"stage": "suffix"}]}, plugins=[ExamplePlugin()])
    assert [d.text for d in loud.process(["hi"])] == ["HI"]
    assert [d.text for d in plain.process(["hi"])] == ["hi!"]
    assert loud.plugins.spec("suffix") is None and plain.plugins.spec("shout") is None
    with pytest.raises(ConfigError, match="unknown stage 'shout'"):
        Pipeline.from_dict({"pipeline": [{"stage": "shout"}]}, plugins=[ExamplePlugin()])


def test_duplicate_stage_name_names_both_plugins():
    class Again(ExamplePlugin):
        __name__ = "again"

    # The stage the config uses names both; the other clashing names are not its concern.
    with pytest.raises(ConfigError, match=r"'suffix' is provided by two plugins: 'example-stages'.*'again'"):
        Pipeline.from_dict({"pipeline": [{"stage": "suffix"}]}, plugins=[ExamplePlugin(), Again()])


def test_observer_hooks_see_the_run():
    events = []

    class Observer:
        __name__ = "observer"

        @hookimpl
        def ingest_run_started(self, run):
            events.append(("started", tuple(run["stages"])))

        @hookimpl
        def ingest_document_dropped(self, record):
            events.append(("dropped", record.id))

        @hookimpl
        def ingest_stage_finished(self, stage_id, stats):
            events.append(("stage", stage_id, stats.documents_in))

        @hookimpl
        def ingest_run_finished(self, report):
            events.append(("finished", report["kept"]))

    pipeline = Pipeline.from_dict(
        {"pipeline": [{"stage": "min_length", "min_chars": 3}]}, plugins=[ExamplePlugin(), Observer()]
    )
    list(pipeline.process(["a", "long"]))
    assert events == [
        ("started", ("min_length",)),
        ("dropped", "doc-0"),
        ("stage", "min_length", 2),
        ("finished", 1),
    ]
