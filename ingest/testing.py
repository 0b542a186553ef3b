"""A pytest plugin for testing ``ingest`` stages and plugins.

Opt in from your ``conftest.py``::

    pytest_plugins = ["ingest.testing"]

Fixtures:

* ``run_pipeline(items, stages, *, plugins=(), **config)`` runs a pipeline
  over in-memory items (strings, dicts or Documents) and returns a
  :class:`PipelineResult` with what was kept, what was dropped and why.
* ``ingest_cli(*args)`` runs the ``ingest`` command line in-process and
  returns a :class:`CliResult` (exit code, stdout, stderr).
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import pytest

from ingest.document import Document
from ingest.ledger import DropRecord, Ledger
from ingest.runner import Pipeline


@attrs.frozen
class PipelineResult:
    """What a pipeline made of some documents."""

    kept: list[Document]
    dropped: list[DropRecord]
    ledger: Ledger
    report: dict[str, Any]
    pipeline: Pipeline

    @property
    def kept_ids(self) -> list[str]:
        return [doc.id for doc in self.kept]

    @property
    def dropped_ids(self) -> list[str]:
        return [record.id for record in self.dropped]

    def kept_by_id(self, doc_id: str) -> Document:
        for doc in self.kept:
            if doc.id == doc_id:
                return doc
        raise KeyError(f"{doc_id!r} was not kept; kept: {self.kept_ids}; dropped: {self.why_dropped()}")

    def why_dropped(self) -> dict[str, str]:
        """``{id: "stage:reason"}`` for every dropped document."""
        return {r.id: f"{r.stage}:{r.reason}" for r in self.dropped}

    def drop_record(self, doc_id: str) -> DropRecord:
        for record in self.dropped:
            if record.id == doc_id:
                return record
        raise KeyError(f"{doc_id!r} was not dropped; kept: {self.kept_ids}")


def run_pipeline_once(
    items: Iterable[Document | str | dict[str, Any]],
    stages: Sequence[Mapping[str, Any] | str],
    *,
    plugins: Iterable[Any] = (),
    base_dir: str | os.PathLike[str] | None = None,
    load_entry_points: bool = False,
    **tables: Any,
) -> PipelineResult:
    """Build a pipeline from ``stages`` (dicts like ``{"stage": "header"}``,
    or bare stage names) plus any other config tables, run ``items``
    through it, and check the ledger balances."""
    config: dict[str, Any] = {
        "pipeline": [{"stage": s} if isinstance(s, str) else dict(s) for s in stages],
        **tables,
    }
    pipeline = Pipeline.from_dict(
        config, plugins=plugins, base_dir=base_dir, load_entry_points=load_entry_points
    )
    kept = list(pipeline.process(items))
    pipeline.ledger.check_balance()
    return PipelineResult(
        kept=kept,
        dropped=list(pipeline.ledger.records),
        ledger=pipeline.ledger,
        report=pipeline.report,
        pipeline=pipeline,
    )


@attrs.frozen
class CliResult:
    """The outcome of one in-process ``ingest`` command."""

    exit_code: int
    stdout: str
    stderr: str


def run_cli(*args: str) -> CliResult:
    """Run ``ingest ARGS...`` in this process, capturing its output."""
    from ingest.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return CliResult(int(code), out.getvalue(), err.getvalue())


@pytest.fixture
def run_pipeline() -> Any:
    """Run a pipeline over in-memory documents; see :func:`run_pipeline_once`."""
    return run_pipeline_once


@pytest.fixture
def ingest_cli() -> Any:
    """Run the ``ingest`` CLI in-process; see :func:`run_cli`."""
    return run_cli
