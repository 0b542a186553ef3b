"""Per-document stages over worker processes give the single-process result."""

from __future__ import annotations

import json
import os
import random

import pytest
from example_stages import ExamplePlugin

from ingest import Pipeline, hookimpl


def generated_texts(n: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    words = ["alpha", "beta", "spam", "boom", "gamma", "delta", "lost", "epsilon"]
    texts = []
    for i in range(n):
        header = rng.choice(["", " date 2025-07-07 1\n", "date 2025-13-45 x\n", "title: A title\n"])
        body = " ".join(rng.choice(words) for _ in range(rng.randint(0, 12)))
        texts.append(f"{header}Headline {i}\n{body}")
    return texts + texts[:40]  # exact copies for the corpus stage


STAGES = [
    {"stage": "header"},
    {"stage": "min_length", "min_chars": 14},
    {"stage": "explode"},
    {"stage": "stream_filter", "lose_word": "lost"},
    {"stage": "suffix", "id": "after_stream"},
    {"stage": "exact_test"},
    {"stage": "suffix", "id": "last", "suffix": "?"},
]


def outcome(workers: int, texts: list[str]) -> tuple:
    pipeline = Pipeline.from_dict(
        {"pipeline": STAGES, "run": {"workers": workers}}, plugins=[ExamplePlugin()], load_entry_points=False
    )
    kept = [
        (d.id, d.text, sorted(d.metadata.items(), key=str), [e.stage for e in d.history])
        for d in pipeline.process(texts)
    ]
    drops = [
        (r.id, r.stage, r.reason, r.duplicate_of, json.dumps(r.details, sort_keys=True, default=str))
        for r in pipeline.ledger.records
    ]
    warnings = [str(w) for w in pipeline.ledger.warnings]
    counts = {
        k: (v["documents_in"], v["documents_out"], v["dropped"], v["warnings"])
        for k, v in pipeline.report["stages"].items()
    }
    return kept, drops, warnings, counts, pipeline.report["input"], pipeline.report["kept"]


def test_one_and_two_workers_give_identical_results():
    texts = generated_texts(700)
    single = outcome(1, texts)
    double = outcome(2, texts)
    assert single == double
    _kept, drops, warnings, _counts, n_input, n_kept = single
    assert n_input == len(texts) and n_kept + len(drops) == n_input
    reasons = {d[2] for d in drops}
    assert {"too_short", "error", "spam", "lost", "exact_duplicate"} <= reasons
    assert warnings  # the impossible dates


def test_workers_cli_flag_gives_identical_files(tmp_path, ingest_cli):
    data = tmp_path / "in"
    data.mkdir()
    for i, text in enumerate(generated_texts(150, seed=9)):
        (data / f"{i:04d}.txt").write_text(text)
    config = tmp_path / "config.toml"
    # dedup spools what the workers send (their pickles written as they come)
    config.write_text(
        '[source]\npath = "in"\n[[pipeline]]\nstage = "header"\n[[pipeline]]\nstage = "dedup"\n'
    )
    outputs = {}
    for workers in (1, 2):
        result = ingest_cli(
            "run", "-c", str(config), "--workers", str(workers), "--output", str(tmp_path / f"w{workers}")
        )
        assert result.exit_code == 0, result.stderr
        outputs[workers] = [
            (tmp_path / f"w{workers}" / name).read_bytes() for name in ("documents.jsonl", "dropped.jsonl")
        ]
    assert outputs[1] == outputs[2]
    assert b'"exact_duplicate"' in outputs[2][1]


def test_a_stage_that_cannot_start_fails_before_forking():
    class Broken:
        __name__ = "broken"

        @hookimpl
        def ingest_stages(self):
            from ingest import StageKind, StageSpec

            def factory(options, ctx):
                raise RuntimeError("model file missing")

            return [StageSpec("broken", StageKind.FILTER, factory, None, "", per_document=True)]

    pipeline = Pipeline.from_dict(
        {"pipeline": [{"stage": "broken"}], "run": {"workers": 2}}, plugins=[Broken()]
    )
    from ingest import RunError

    with pytest.raises(RunError, match="could not start: RuntimeError: model file missing"):
        list(pipeline.process(["x"] * 100))


def test_cli_run_of_per_document_stages_only_gives_identical_files(tmp_path, ingest_cli):
    """The last segment's kept documents are encoded by the jsonl sink in the workers
    (``prepare``); the files and the page's rule counts are the single-process ones."""
    data = tmp_path / "in"
    data.mkdir()
    for i, text in enumerate(generated_texts(300, seed=5)):
        (data / f"{i:04d}.txt").write_text(
            f"Home\nNews\nSport\n{text}\nRead more: another story\n© 2025 Example Times"
        )
    config = tmp_path / "config.toml"
    config.write_text(
        '[source]\npath = "in"\n[[pipeline]]\nstage = "header"\n[[pipeline]]\nstage = "boilerplate"\n'
    )
    outputs, rule_rows = {}, {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        result = ingest_cli("run", "-c", str(config), "--workers", str(workers), "--output", str(out))
        assert result.exit_code == 0, result.stderr
        outputs[workers] = [(out / name).read_bytes() for name in ("documents.jsonl", "dropped.jsonl")]
        page = (out / "report.html").read_text(encoding="utf-8")
        rule_rows[workers] = [row.split("</tr>")[0] for row in page.split("<tr data-rule=")[1:]]
    assert outputs[1] == outputs[2]
    assert outputs[2][0].count(b"\n") > 64 * 2  # enough documents for batches in both workers
    assert rule_rows[1] == rule_rows[2] and rule_rows[2]


class _PreparingSink:
    """A sink that records where ``prepare`` ran and what reached it."""

    def __init__(self) -> None:
        self.written: list[tuple[str, str, int]] = []  # (how, id, pid of prepare)

    def prepare(self, doc):
        return (doc.text, os.getpid())

    def write(self, doc) -> None:
        _text, pid = self.prepare(doc)
        self.written.append(("write", doc.id, pid))

    def write_prepared(self, doc_id, prepared) -> None:
        _text, pid = prepared
        self.written.append(("write_prepared", doc_id, pid))

    def write_dropped(self, record) -> None:
        pass

    def close(self, report) -> None:
        pass

    def abort(self) -> None:
        pass


class _PreparingSinkPlugin:
    __name__ = "preparing_sink"

    def __init__(self) -> None:
        self.sinks: list[_PreparingSink] = []

    @hookimpl
    def ingest_stages(self):
        from ingest import StageKind, StageSpec

        def factory(options, ctx):
            self.sinks.append(_PreparingSink())
            return self.sinks[-1]

        return [StageSpec("preparing", StageKind.SINK, factory, None, "records where prepare ran")]


def _run_with_preparing_sink(tmp_path, workers: int, stages: list[dict]) -> list[tuple[str, str, int]]:
    data = tmp_path / "in"
    data.mkdir(exist_ok=True)
    for i, text in enumerate(generated_texts(200, seed=11)):
        (data / f"{i:04d}.txt").write_text(text)
    plugin = _PreparingSinkPlugin()
    pipeline = Pipeline.from_dict(
        {
            "source": {"type": "text_files", "path": str(data)},
            "sink": {"type": "preparing"},
            "pipeline": stages,
            "run": {"workers": workers},
        },
        plugins=[ExamplePlugin(), plugin],
    )
    pipeline.run()
    return plugin.sinks[0].written


def test_a_sink_with_prepare_has_the_last_segment_encoded_in_the_workers(tmp_path):
    stages = [{"stage": "header"}, {"stage": "min_length", "min_chars": 14}]
    single = _run_with_preparing_sink(tmp_path, 1, stages)
    double = _run_with_preparing_sink(tmp_path, 2, stages)
    assert {how for how, _, _ in single} == {"write"} and {pid for _, _, pid in single} == {os.getpid()}
    assert {how for how, _, _ in double} == {"write_prepared"}
    assert os.getpid() not in {pid for _, _, pid in double} and len({pid for _, _, pid in double}) == 2
    assert [doc_id for _, doc_id, _ in double] == [
        doc_id for _, doc_id, _ in single
    ]  # same documents, same order


def test_documents_a_corpus_stage_sends_to_the_sink_are_written_here(tmp_path):
    """After a corpus stage there is no segment left: the sink's ``write`` runs in this process."""
    written = _run_with_preparing_sink(tmp_path, 2, [{"stage": "header"}, {"stage": "exact_test"}])
    assert written and {(how, pid) for how, _, pid in written} == {("write", os.getpid())}


class _FailingPrepareSink(_PreparingSink):
    aborted = False

    def prepare(self, doc):
        if doc.id == "0150.txt":
            raise ValueError(f"cannot encode {doc.id}")
        return super().prepare(doc)

    def abort(self) -> None:
        _FailingPrepareSink.aborted = True


@pytest.mark.parametrize("workers", [1, 2])
def test_a_prepare_that_raises_fails_the_run_naming_the_error(tmp_path, workers):
    from ingest import RunError

    data = tmp_path / "in"
    data.mkdir()
    for i, text in enumerate(generated_texts(200, seed=11)):
        (data / f"{i:04d}.txt").write_text(text)
    plugin_sink = _FailingPrepareSink()

    class Plugin:
        __name__ = "failing_sink"

        @hookimpl
        def ingest_stages(self):
            from ingest import StageKind, StageSpec

            return [StageSpec("preparing", StageKind.SINK, lambda options, ctx: plugin_sink, None, "fails")]

    _FailingPrepareSink.aborted = False
    pipeline = Pipeline.from_dict(
        {
            "source": {"type": "text_files", "path": str(data)},
            "sink": {"type": "preparing"},
            "pipeline": [{"stage": "header"}],
            "run": {"workers": workers},
        },
        plugins=[Plugin()],
    )
    with pytest.raises(RunError, match=r"ValueError: cannot encode 0150\.txt"):
        pipeline.run()
    assert _FailingPrepareSink.aborted
