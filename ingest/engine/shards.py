"""Sharded runs: the input cut into shards, each one a task that reads its own
inputs, runs the per-document stages and writes its own output files.

A shard is fixed by the input alone (the source's :meth:`plan`: so many files
in their reading order), never by the number of workers, so a run writes the
same files for any worker count and executor. The coordinator plans, hands
the shards to the executor and adds up their summaries; it touches no
document.

While a run is going, each shard works in a folder of its own inside the
output folder::

    .ingest-shards/plan.json             what was planned (config fingerprint, inputs)
    .ingest-shards/00000/documents.jsonl the sink's shard files (its shard writer's)
    .ingest-shards/00000/summary.json    the shard's completion record, written last

A shard whose ``summary.json`` is there is done: a run killed halfway and
started again with the same config and input redoes only the others. When the
run completes, the sink moves the shard files into place
(``documents-00000.jsonl``, ...), the report last, and the folder goes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs

from ingest.contract.context import StageContext
from ingest.contract.errors import UnwritableDocument
from ingest.contract.ledger import SOURCE_STAGE, DropRecord, Ledger
from ingest.engine.atomic import atomic_write
from ingest.engine.document_stage import apply_document_stage
from ingest.engine.parallel import SegmentStage

#: The folder, inside the output folder, where shards work until the run completes.
SHARDS_FOLDER = ".ingest-shards"
#: A shard's completion record.
SUMMARY_NAME = "summary.json"
#: What the run planned: a later run resumes the shards only if it plans the same.
PLAN_NAME = "plan.json"
#: Version of the completion records; others are not resumed.
FORMAT = 1


@attrs.frozen
class ShardTask:
    """What one shard task needs: the source's part of the input
    (from its ``plan``), the folder to work in, the sink's shard writer
    (see :class:`~ingest.contract.specs.Sink`) and the stages to run."""

    index: int
    part: Any
    folder: str
    writer: Any
    stage_ids: tuple[str, ...]
    workdir: str | None = None


class ShardHost(Protocol):
    """What a shard task builds its source and stages from (the pipeline,
    as the worker process has it)."""

    def shard_source(self, ledger: Ledger) -> Any:
        """The configured source, its context recording into ``ledger``."""
        ...

    def sink_context(self, ledger: Ledger) -> StageContext:
        """The sink's context, recording into ``ledger`` (a document it cannot encode)."""
        ...

    def segment_stages(self, stage_ids: Sequence[str], workdir: str | None) -> list[SegmentStage]:
        """The per-document stages ``stage_ids``, each with a context to bind to a ledger."""
        ...

    def drop_listeners(self) -> list[Callable[[DropRecord], None]]:
        """Who else hears of every drop (the ``ingest_document_dropped`` hook)."""
        ...


def shard_folder(root: str | os.PathLike[str], index: int) -> Path:
    """The working folder of shard ``index`` under ``root`` (the shards folder)."""
    return Path(root) / f"{index:05d}"


def run_shard(task: ShardTask, host: ShardHost) -> dict[str, Any]:
    """Run one shard: read its inputs, run the stages, write its files through
    the sink's shard writer, then its completion record. Returns the record:
    the files written and the shard's ledger (:meth:`Ledger.state`).

    A document a stage raises on is recorded as that stage's error, as in any
    run; an error reading the input or writing the files fails the task (and
    the run), and leaves no completion record."""
    folder = Path(task.folder)
    if folder.exists():
        shutil.rmtree(folder)  # what an interrupted attempt left
    folder.mkdir(parents=True)
    ledger = Ledger(keep_records=False)
    writer = task.writer
    writer.open()
    try:
        ledger.listeners.append(writer.write_dropped)
        ledger.listeners.extend(host.drop_listeners())
        source = host.shard_source(ledger)
        sink_ctx = host.sink_context(ledger)
        stages = []
        for stage in host.segment_stages(task.stage_ids, task.workdir):
            ctx = stage.make_context(ledger)
            stages.append(
                (stage.factory(stage.options, ctx), ctx, ledger.stage_stats(stage.stage_id, ctx.stage_name))
            )
        source_stats = ledger.stages[SOURCE_STAGE]
        clock = time.perf_counter
        docs = iter(source.read_shard(task.part))
        while True:
            start = clock()
            doc = next(docs, None)
            source_stats.seconds += clock() - start
            if doc is None:
                break
            ledger.input_count += 1
            source_stats.documents_out += 1
            for fn, ctx, stats in stages:
                doc = apply_document_stage(fn, ctx, stats, doc)
                if doc is None:
                    break
            if doc is None:
                continue
            try:
                writer.write(doc)
            except UnwritableDocument as exc:
                sink_ctx.drop(doc, "unwritable", error=str(exc))
                continue
            ledger.kept_count += 1
        files = writer.close()
    except BaseException:
        with contextlib.suppress(Exception):
            writer.abort()
        raise
    ledger.check_balance()
    summary = {"format": FORMAT, "index": task.index, "files": files, "ledger": ledger.state()}
    with atomic_write(folder / SUMMARY_NAME) as fh:
        fh.write(json.dumps(summary, default=str))
    return summary


def completed(folder: str | os.PathLike[str], index: int) -> dict[str, Any] | None:
    """The completion record of shard ``index`` in ``folder``, if the shard finished
    (its record is there, readable, of this format, and its files are all there)."""
    path = Path(folder) / SUMMARY_NAME
    try:
        with open(path, encoding="utf-8") as fh:
            summary = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(summary, dict) or summary.get("format") != FORMAT or summary.get("index") != index:
        return None
    files = summary.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(name, str) and (Path(folder) / name).is_file() for name in files.values()
    ):
        return None
    return summary


def plan_digest(parts: Sequence[Any]) -> str:
    """A checksum of the planned parts (their ``repr``: the sources' parts are attrs classes)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(repr(part).encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


def load_plan(root: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The plan an earlier run wrote in the shards folder, or None."""
    try:
        with open(Path(root) / PLAN_NAME, encoding="utf-8") as fh:
            plan = json.load(fh)
    except (OSError, ValueError):
        return None
    return plan if isinstance(plan, dict) else None


def write_plan(root: str | os.PathLike[str], plan: dict[str, Any]) -> None:
    """Record the run's plan (before any shard starts)."""
    Path(root).mkdir(parents=True, exist_ok=True)
    with atomic_write(Path(root) / PLAN_NAME) as fh:
        fh.write(json.dumps(plan, indent=1))


def remove(root: str | os.PathLike[str]) -> None:
    """Delete the shards folder and everything in it."""
    shutil.rmtree(root, ignore_errors=True)
