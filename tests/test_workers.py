"""Per-document stages over worker processes give the single-process result."""

from __future__ import annotations

import json
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
    kept = [(d.id, d.text, sorted(d.metadata.items(), key=str), [e.stage for e in d.history]) for d in pipeline.process(texts)]
    drops = [(r.id, r.stage, r.reason, r.duplicate_of, json.dumps(r.details, sort_keys=True, default=str)) for r in pipeline.ledger.records]
    warnings = [str(w) for w in pipeline.ledger.warnings]
    counts = {k: (v["documents_in"], v["documents_out"], v["dropped"], v["warnings"]) for k, v in pipeline.report["stages"].items()}
    return kept, drops, warnings, counts, pipeline.report["input"], pipeline.report["kept"]


def test_one_and_two_workers_give_identical_results():
    texts = generated_texts(700)
    single = outcome(1, texts)
    double = outcome(2, texts)
    assert single == double
    kept, drops, warnings, counts, n_input, n_kept = single
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
    config.write_text('[source]\npath = "in"\n[[pipeline]]\nstage = "header"\n[[pipeline]]\nstage = "dedup"\n')
    outputs = {}
    for workers in (1, 2):
        result = ingest_cli("run", "-c", str(config), "--workers", str(workers), "--output", str(tmp_path / f"w{workers}"))
        assert result.exit_code == 0, result.stderr
        outputs[workers] = [(tmp_path / f"w{workers}" / name).read_bytes() for name in ("documents.jsonl", "dropped.jsonl")]
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

    pipeline = Pipeline.from_dict({"pipeline": [{"stage": "broken"}], "run": {"workers": 2}}, plugins=[Broken()])
    from ingest import RunError

    with pytest.raises(RunError, match="could not start: RuntimeError: model file missing"):
        list(pipeline.process(["x"] * 100))
