"""A run that stops in one stage ends the worker processes of the stages after it.

When a corpus-level stage raises (Ctrl-C, SIGTERM, a failed write) while the
per-document stages before it still have batches in their workers, those
workers must end with the run: the interpreter's exit waits for every forked
worker, so one left holding a document would keep ``ingest run`` from ever
exiting (what tests/test_kill_parent.py saw, now and then, once the
boilerplate stage became corpus-level)."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Iterable, Iterator

import attrs
import pytest

from ingest import Document, Pipeline, StageKind, StageSpec, hookimpl
from ingest.engine.parallel import fork_available

pytestmark = pytest.mark.skipif(not fork_available(), reason="the worker pool forks")


@attrs.define
class HoldOptions:
    hold_id: str = ""
    hold_while: str = ""


def hold(options: HoldOptions, ctx):
    def process(doc: Document) -> Document:
        while doc.id == options.hold_id and os.path.exists(options.hold_while):
            time.sleep(0.05)
        return doc

    return process


class Stop:
    """A corpus-level stage that stops the run on the first document it is shown."""

    def __init__(self, options, ctx) -> None:
        pass

    def observe(self, doc: Document) -> None:
        raise KeyboardInterrupt

    def fit(self, corpus: Iterable[Document]) -> None:
        pass

    def __call__(self, docs: Iterable[Document]) -> Iterator[Document]:
        yield from docs


class Plugin:
    __name__ = "stop-test"

    @hookimpl
    def ingest_stages(self):
        return [
            StageSpec(
                name="hold", kind=StageKind.FILTER, factory=hold, options=HoldOptions, per_document=True
            ),
            StageSpec(name="stop", kind=StageKind.DEDUP, factory=Stop, needs_corpus=True),
        ]


def test_a_stage_that_stops_the_run_ends_the_workers_before_it(tmp_path):
    (tmp_path / "in").mkdir()
    for i in range(600):  # batches of 64: the held document is in the third, still in a worker
        (tmp_path / "in" / f"d{i:04d}.txt").write_text(f"Document number {i} has a few words in it.\n")
    held = tmp_path / "hold"
    held.write_text("")
    pipeline = Pipeline.from_dict(
        {
            "source": {"path": str(tmp_path / "in")},
            "sink": {"path": str(tmp_path / "out")},
            "run": {"workers": 2, "checkpoint_every": 0},
            "pipeline": [
                {"stage": "hold", "hold_id": "d0150.txt", "hold_while": str(held)},
                {"stage": "stop"},
            ],
        },
        plugins=[Plugin()],
        load_entry_points=False,
    )
    before = set(multiprocessing.active_children())
    try:
        with pytest.raises(KeyboardInterrupt):
            pipeline.run()
        # the worker holding d0150.txt was ended with the run, not left for the exit to wait for
        assert set(multiprocessing.active_children()) - before == set()
    finally:
        held.unlink()
    assert not (tmp_path / "out" / "documents.jsonl").exists()
