"""Each hook in ``ingest.contract.hookspecs`` behaves as its docstring and docs/hooks.md
say: when it is called, with what, and how results from several plugins
combine. ``tests/test_hook_docs.py`` checks that every hook has a test named
``test_hook_<hook name>...``; they live here."""

from __future__ import annotations

import json

import pytest
from example_stages import ExamplePlugin

from ingest import ConfigError, Pipeline, StageKind, StageSpec, hookimpl
from ingest.host.plugin_manager import PluginHost
from ingest.testing import stage_plugin, write_config, write_corpus


class Recorder:
    """An observer plugin that writes down every event it sees."""

    __name__ = "recorder"

    def __init__(self) -> None:
        self.events: list[tuple] = []


# -- registration hooks --------------------------------------------------------


def test_hook_ingest_stages_specs_are_collected_with_their_plugin(run_pipeline):
    class Two:
        __name__ = "two-stages"

        @hookimpl
        def ingest_stages(self):
            def factory(options, ctx):
                return lambda doc: doc

            return [
                StageSpec("first_stage", StageKind.TRANSFORM, factory, per_document=True),
                StageSpec("second_stage", StageKind.FILTER, factory, per_document=True),
            ]

    class Nothing:
        __name__ = "nothing"

        @hookimpl
        def ingest_stages(self):
            return None  # a plugin may provide no stages

    result = run_pipeline(["x"], ["second_stage", "first_stage"], plugins=[Two(), Nothing(), ExamplePlugin()])
    host = result.pipeline.plugins
    assert host.spec("first_stage").plugin.name == "two-stages"
    assert host.spec("min_length").plugin.name == "example-stages"
    assert host.spec("text_files").plugin.origin == "builtin"
    # Config order, not hook order, is stage order.
    assert list(result.report["stages"]) == ["source", "second_stage", "first_stage"]


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        (["not a spec"], "plugin 'odd' returned 'not a spec' from ingest_stages; expected StageSpec"),
        (ZeroDivisionError("oops"), "plugin 'odd' raised in ingest_stages: ZeroDivisionError: oops"),
    ],
)
def test_hook_ingest_stages_bad_results_are_config_errors_naming_the_plugin(returned, message):
    class Odd:
        __name__ = "odd"

        @hookimpl
        def ingest_stages(self):
            if isinstance(returned, Exception):
                raise returned
            return returned

    with pytest.raises(ConfigError, match=message):
        Pipeline.from_dict({"pipeline": []}, plugins=[Odd()])


def test_hook_ingest_boilerplate_rules_results_are_collected_in_call_order():
    def rule(name):
        def remove_nothing(page):
            return []

        remove_nothing.name = name
        return remove_nothing

    class Early:
        __name__ = "early"

        @hookimpl
        def ingest_boilerplate_rules(self):
            return [rule("early_a"), rule("early_b")]

    class Late:
        __name__ = "late"

        @hookimpl
        def ingest_boilerplate_rules(self):
            return [rule("late")]

    class Silent:
        __name__ = "silent"

        @hookimpl
        def ingest_boilerplate_rules(self):
            return None

    host = PluginHost(plugins=[Early(), Late(), Silent()], load_entry_points=False)
    results = host.hook.ingest_boilerplate_rules()
    # Every plugin's result is collected (None is left out), last registered first.
    assert [[r.name for r in rules] for rules in results] == [["late"], ["early_a", "early_b"]]
    assert host.hook_implementations()["ingest_boilerplate_rules"] == ["silent", "late", "early"]


def test_hook_ingest_boilerplate_rules_rule_removes_lines_and_its_name_can_be_disabled(run_pipeline):
    class Tickers:
        __name__ = "tickers"

        @hookimpl
        def ingest_boilerplate_rules(self):
            def ticker(page):
                return [i for i, line in enumerate(page.lines) if line.startswith("TICKER ")]

            ticker.name = "ticker"
            return [ticker]

    text = (
        "The market opened higher on Monday as investors weighed fresh data on inflation and jobs.\n"
        "TICKER ABC 1.2 XYZ 0.4\n"
        "Analysts said the rally could continue if the central bank holds rates steady next month."
    )
    result = run_pipeline([text], ["boilerplate"], plugins=[Tickers()], run={"workers": 1})
    doc = result.kept[0]
    assert "TICKER" not in doc.text
    assert {"line": 2, "text": "TICKER ABC 1.2 XYZ 0.4", "rule": "ticker"} in doc.history[-1].details["lines"]
    # The rule's name is known to the stage's options, and disabling it works.
    result = run_pipeline(
        [text], [{"stage": "boilerplate", "disabled_rules": ["ticker"]}], plugins=[Tickers()]
    )
    removed_by = {line["rule"] for event in result.kept[0].history for line in event.details.get("lines", [])}
    assert "ticker" not in removed_by


# -- first result wins -----------------------------------------------------------


def test_hook_ingest_parse_header_line_first_result_wins(run_pipeline):
    calls: list[tuple[str, str, int]] = []

    class General:
        """Registered first, so asked last: knows every "Key: value" line."""

        __name__ = "general"

        @hookimpl
        def ingest_parse_header_line(self, line, line_number):
            calls.append(("general", line, line_number))
            if line.startswith(("Desk: ", "Section: ")):
                key, value = line.split(": ", 1)
                return {f"general_{key.lower()}": value}
            return None

    class Specific:
        """Registered last, so asked first: knows only "Desk:" lines."""

        __name__ = "specific"

        @hookimpl
        def ingest_parse_header_line(self, line, line_number):
            calls.append(("specific", line, line_number))
            if line.startswith("Desk: "):
                return {"desk": line[6:]}
            return None

    result = run_pipeline(
        ["Desk: Sports\nSection: Football\nThe match ended in a draw."],
        ["header"],
        plugins=[General(), Specific()],
        run={"workers": 1},  # the calls are recorded in this process
    )
    doc = result.kept[0]
    assert doc.metadata["desk"] == "Sports"  # the first answer decided
    assert "general_desk" not in doc.metadata
    assert doc.metadata["general_section"] == "Football"  # the next plugin got its turn
    assert doc.text == "The match ended in a draw."
    assert calls[:3] == [
        ("specific", "Desk: Sports", 1),
        ("specific", "Section: Football", 2),
        ("general", "Section: Football", 2),
    ]
    removed = [event for event in doc.history if event.action == "removed_lines"]
    assert [line["line"] for line in removed[0].details["lines"]] == [1, 2]


# -- observers -------------------------------------------------------------------


def test_hook_ingest_run_started_gets_config_and_enabled_stages(tmp_path):
    recorder = Recorder()

    class Started:
        __name__ = "started"

        @hookimpl
        def ingest_run_started(self, run):
            recorder.events.append(("started", run["config"], list(run["stages"])))

    write_corpus(tmp_path / "in", {"a.txt": "some text here"})
    config = write_config(
        tmp_path,
        {
            "source": {"path": "in"},
            "pipeline": [
                {"stage": "min_length", "id": "len"},
                {"stage": "suffix", "enabled": False},
                {"stage": "suffix", "id": "s2"},
            ],
        },
    )
    pipeline = Pipeline.from_toml(config, plugins=[ExamplePlugin(), Started()], load_entry_points=False)
    assert recorder.events == []  # not when the pipeline is built
    pipeline.run()
    assert recorder.events == [("started", str(config), ["len", "s2"])]
    list(pipeline.process(["some more text"]))  # once per run, process() included
    assert recorder.events == [("started", str(config), ["len", "s2"])] * 2


def test_hook_ingest_document_dropped_sees_every_drop_as_it_happens(tmp_path):
    seen = []
    out = tmp_path / "out"

    class Dropped:
        __name__ = "dropped-observer"

        @hookimpl
        def ingest_document_dropped(self, record):
            seen.append((record.id, record.stage, record.reason, record.plugin))

    write_corpus(
        tmp_path / "in",
        {
            "a.txt": "ok text long enough",
            "b.txt": "short",
            "c.txt": "boom goes the text",
            "d.txt": b"\x00\x01bin",
        },
    )
    config = write_config(
        tmp_path,
        {
            "source": {"path": "in"},
            "pipeline": [{"stage": "min_length", "min_chars": 6}, {"stage": "explode"}],
        },
    )
    report = Pipeline.from_toml(config, plugins=[ExamplePlugin(), Dropped()], load_entry_points=False).run()
    # Stage drops, errors and unreadable inputs alike (when the source drops an
    # input depends on how far it reads ahead, so the order is not checked).
    assert sorted(seen) == [
        ("b.txt", "min_length", "too_short", "example-stages"),
        ("c.txt", "explode", "error", "example-stages"),
        ("d.txt", "source", "binary", "ingest_plugins.text_files"),
    ]
    assert report["dropped"] == len(seen) == 3
    assert {json.loads(line)["id"] for line in (out / "dropped.jsonl").read_text().splitlines()} == {
        "b.txt",
        "c.txt",
        "d.txt",
    }


def test_hook_ingest_stage_finished_once_per_stage_in_pipeline_order(run_pipeline):
    finished = []

    class Finished:
        __name__ = "finished"

        @hookimpl
        def ingest_stage_finished(self, stage_id, stats):
            finished.append(
                (stage_id, stats.stage, stats.documents_in, stats.documents_out, dict(stats.dropped))
            )

    run_pipeline(
        ["a", "long text", "another long text"],
        [
            {"stage": "suffix", "id": "b_second"},
            {"stage": "min_length", "id": "a_first", "min_chars": 5},
            {"stage": "suffix", "enabled": False},
        ],
        plugins=[ExamplePlugin(), Finished()],
    )
    assert finished == [
        ("b_second", "suffix", 3, 3, {}),
        ("a_first", "min_length", 3, 2, {"too_short": 1}),
    ]


def test_hook_ingest_stage_finished_and_run_finished_not_called_when_the_run_fails(tmp_path):
    events = []

    class Both:
        __name__ = "both"

        @hookimpl
        def ingest_stage_finished(self, stage_id, stats):
            events.append(stage_id)

        @hookimpl
        def ingest_run_finished(self, report):
            events.append("run")

    def broken_factory(options, ctx):
        raise RuntimeError("cannot start")

    broken = stage_plugin(broken_factory, "broken", factory=True)
    pipeline = Pipeline.from_dict(
        {"pipeline": [{"stage": "broken"}]}, plugins=[broken, Both()], load_entry_points=False
    )
    with pytest.raises(Exception, match="cannot start"):
        list(pipeline.process(["x"]))
    assert events == []


def test_hook_ingest_run_finished_gets_the_report_before_files_appear(tmp_path):
    reports = []

    class Finished:
        __name__ = "run-finished"

        @hookimpl
        def ingest_run_finished(self, report):
            reports.append((dict(report), (tmp_path / "out" / "report.json").exists()))

    write_corpus(tmp_path / "in", {"a.txt": "x", "b.txt": "long enough text"})
    config = write_config(tmp_path, {"source": {"path": "in"}, "pipeline": [{"stage": "min_length"}]})
    Pipeline.from_toml(config, plugins=[ExamplePlugin(), Finished()], load_entry_points=False).run()
    [(report, existed)] = reports
    assert not existed
    on_disk = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["input"] == on_disk["input"] == 2 and report["kept"] == on_disk["kept"] == 1
    assert report["stages"]["min_length"] == on_disk["stages"]["min_length"]


def test_hook_observers_all_called_return_values_ignored_tryfirst_respected(run_pipeline):
    order = []

    def observer(name, **marks):
        class Observer:
            __name__ = name

            @hookimpl(**marks)
            def ingest_run_finished(self, report):
                order.append(name)
                return "ignored"

        return Observer()

    result = run_pipeline(
        ["x"],
        [],
        plugins=[
            observer("first", tryfirst=True),
            observer("plain_a"),
            observer("plain_b"),
            observer("last", trylast=True),
        ],
    )
    assert order == ["first", "plain_b", "plain_a", "last"]
    assert result.pipeline.plugins.hook_implementations()["ingest_run_finished"] == order
