"""A sharded run of a pipeline (see :mod:`ingest.engine.shards`): the
coordinator's side. It plans nothing itself (the pipeline hands it the
source's parts) and touches no document: it hands each phase of each shard to
the executor as a task, has the corpus-level stages' parts combined between
two phases (in tasks too, for a stage combined in partitions), adds up the
shards' ledgers in order, and has the sink move the last phase's files into
place. What an interrupted run of the same config and input completed is not
run again.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import time
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any, Protocol

from ingest.contract.context import StageContext
from ingest.contract.errors import ConfigError, IngestError, RunError
from ingest.contract.ledger import Ledger
from ingest.engine import checkpoint as checkpoints
from ingest.engine import shards
from ingest.engine.disk_full import disk_full_message, is_disk_full
from ingest.engine.document_stage import error_rate_failure, error_text
from ingest.engine.parallel import fork_available, resolve_workers
from ingest.engine.run_support import cleanup, cpu_seconds, release_memory
from ingest.executors.local import doing, start_executor
from ingest.host.config import PipelineConfig
from ingest.host.plugin_manager import PluginHost

ProgressCallback = Callable[[Ledger], None]
MessageCallback = Callable[[str], None]

log = logging.getLogger("ingest")


class Recipe(Protocol):
    """What a Ray worker builds the pipeline from (:class:`ingest.runner.PipelineRecipe`)."""

    def build(self) -> Any: ...


class RunHost(Protocol):
    """What a sharded run needs of its pipeline (:class:`ingest.runner.Pipeline`)."""

    config: PipelineConfig
    path: str | None
    plugins: PluginHost
    report: dict[str, Any]
    #: what the interrupted run this one resumed had done (for the report), or None
    resumed: dict[str, Any] | None

    @property
    def stage_ids(self) -> list[str]: ...

    def corpus_stage(
        self, stage_id: str, ledger: Ledger, executor: Any = None, *, planned_inputs: int | None = None
    ) -> tuple[Any, StageContext]: ...

    def recipe(self) -> Recipe: ...

    @property
    def make_report(self) -> Callable[..., dict[str, Any]]:
        """The run's report from its ledger, start, finish, seconds and ``cpu_start``."""
        ...

    def output_places(self, sink: Any) -> list[str]: ...

    def say_progress(self, what: str, phase: str, done: int | None, total: int | None) -> None: ...


#: Pipelines of the sharded runs going on in this process, by run token: a
#: forked worker finds its run's pipeline here (a Ray worker builds it from the recipe).
_SHARD_HOSTS: dict[str, Any] = {}


def _shard_host(token: str, recipe: Recipe | None) -> Any:
    """The pipeline of run ``token`` in this process: the one it was forked from
    (or this one), else built from ``recipe`` (a Ray worker), once."""
    host = _SHARD_HOSTS.get(token)
    if host is None:
        if recipe is None:
            raise RunError("a shard task started in a process that does not hold its pipeline")
        host = _SHARD_HOSTS[token] = recipe.build()
    return host


def _shard_task(item: tuple[str, Recipe | None, shards.ShardTask]) -> dict[str, Any]:
    """Where a shard task runs (a worker process, a Ray task, or this process)."""
    token, recipe, task = item
    doing(f"shard {task.index} (phase {task.phase.number}: {', '.join(task.phase.stages) or 'reading'})")
    return shards.run_shard(task, _shard_host(token, recipe))


def _keys_task(item: tuple[str, Recipe | None, shards.KeysTask]) -> int:
    """Where a shard's ids are read (as a shard task is)."""
    token, recipe, task = item
    doing(f"shard {task.index} (reading its ids)")
    return shards.run_keys(task, _shard_host(token, recipe))


def _partition_task(item: tuple[str, Recipe | None, shards.PartitionTask]) -> dict[str, Any]:
    """Where a partition of a corpus-level stage's combine runs (as a shard task does)."""
    token, recipe, task = item
    doing(f"stage {task.stage_id!r}, partition {task.index} (after phase {task.number})")
    return shards.run_partition(task, _shard_host(token, recipe))


class ShardedRun:
    """One sharded run of ``pipeline`` (see the module docstring)."""

    def __init__(self, pipeline: RunHost) -> None:
        self.pipeline = pipeline
        self._executor: Any = None  # the run's executor, while it goes
        self._planned_inputs: int | None = None  # shards x [run] shard_files, once planned

    def run(
        self,
        parts: shards.PlannedParts,
        sink: Any,
        ledger: Ledger,
        *,
        progress: ProgressCallback | None,
        restart: bool,
        say: MessageCallback,
        keys: bool = False,
    ) -> dict[str, Any]:
        """Run the shards' phases on the executor (each corpus-level stage's parts
        combined between two phases), add up their ledgers in order, and have the
        sink move the last phase's files into place. What an interrupted run of the
        same config and input completed is not run again. ``keys``: the source
        checks its records' ids across shards (``shard_keys``) before phase 0.
        ``parts``: the plan as the runner wrote it, moved into the shards folder here."""
        started = datetime.datetime.now(datetime.timezone.utc)
        clock_start = time.perf_counter()
        cpu_start = cpu_seconds()
        root = Path(sink.shards_dir)
        enabled = [s for s in self.pipeline.config.stages if s.enabled]
        phases = shards.phases_of([(s.id, s.per_document) for s in enabled])
        run_options = self.pipeline.config.run
        try:
            done, combined = self._shard_resume(root, parts, len(phases), restart=restart, say=say)
            # the plan waits in the shards folder, a part read as its shard's first task goes:
            # neither this process nor the workers forked from it hold it (a million files: ~18 MB)
            parts.move(root / shards.PARTS_NAME)
            release_memory()
            sink.begin_shards()
            folders = [shards.shard_folder(root, index) for index in range(len(parts))]
            # what a partitioned stage may size its partitions by (the last shards may hold fewer)
            self._planned_inputs = len(parts) * run_options.shard_files
            self.pipeline.plugins.hook.ingest_run_started(
                run={"config": self.pipeline.path, "stages": self.pipeline.stage_ids}
            )
            # a shard's task finds the pipeline in the worker process it was forked from:
            # where processes cannot fork, the shards run in this process, one after another
            workers = resolve_workers(run_options.workers) if fork_available() else 1
            self._executor = start_executor(
                run_options.executor,
                workers=run_options.workers if run_options.executor == "ray" else workers,
                address=run_options.ray_address,
                where=f"{self.pipeline.path or '<config>'}: [run]",
            )
            finished = False
            token = os.urandom(8).hex()
            # what a forked worker (or this process) builds its shards from: registered
            # before the first task, as the pool's processes fork then
            _SHARD_HOSTS[token] = self.pipeline
            try:
                records: dict[tuple[int, int], dict[str, Any]] = {}
                if keys and any((0, index) not in done for index in range(len(parts))):
                    self._find_taken_keys(token, parts, folders, root)
                for phase in phases:

                    def task_of(index: int, phase: shards.Phase = phase) -> shards.ShardTask:
                        # made as the executor takes it: only phase 0 reads its part (the source's)
                        part = parts[index] if phase.apply is None else None
                        return self._shard_task(index, part, folders[index], phase, sink, records)

                    # on the terminal: "shards: phase 1 of 3 (header, boilerplate): 4 of 10"
                    step = f"phase {phase.number + 1} of {len(phases)} ({', '.join(phase.stages)})"
                    self._say_progress("shards", step, 0, len(parts))

                    def taken(record: dict[str, Any], phase: shards.Phase = phase, step: str = step) -> None:
                        index = record["index"]
                        records[(phase.number, index)] = record
                        # added up, and not kept: a shard's counts and warning samples, in
                        # every phase of every shard, grew the coordinator ~5 MB a million inputs
                        ledger.merge(record.pop("ledger"))
                        if phase.last:
                            work = shards.phase_folder(folders[index], phase.number)
                            sink.add_shard(index, str(work), record["files"])
                            if progress is not None:
                                progress(ledger)
                        else:
                            self._say_progress("shards", step, index + 1, len(parts))

                    summaries = self._shard_records(token, phase, len(parts), task_of, done)
                    try:
                        phase_records = shards.PhaseRecords(summaries, len(parts), taken)
                        if phase.spool_for is not None:
                            # combined while the phase's later shards still run
                            self._combine(phase, folders, phase_records, ledger, combined, token)
                        phase_records.finish()
                    finally:
                        summaries.close()
                finished = True
            finally:
                _SHARD_HOSTS.pop(token, None)
                executor, self._executor = self._executor, None
                executor.shutdown(cancel=not finished)  # at once, when the run stops
        except BaseException as exc:
            cleanup(sink.abort, "removing the partial output")
            if run_options.checkpoint_every <= 0:
                cleanup(lambda: shards.remove(root), "removing the shards")
            if isinstance(exc, shards.TaskFailed) and isinstance(exc.original, IngestError):
                raise exc.original from None  # a shard's task failed, not what waited for its record
            if isinstance(exc, (IngestError, KeyboardInterrupt)):
                raise
            full = disk_full_message(exc, self.pipeline.output_places(sink)) if is_disk_full(exc) else None
            if full is not None:
                raise RunError(full) from exc
            raise RunError(f"the run failed: {error_text(exc)}") from exc
        for stage_id in self.pipeline.stage_ids:
            self.pipeline.plugins.hook.ingest_stage_finished(stage_id=stage_id, stats=ledger.stages[stage_id])
        finished_at = datetime.datetime.now(datetime.timezone.utc)
        self.pipeline.report = self.pipeline.make_report(
            ledger, started, finished_at, time.perf_counter() - clock_start, cpu_start=cpu_start
        )
        reused = sum(1 for (number, _index) in done if number == len(phases) - 1)
        self.pipeline.report["shards"] = {
            "count": len(parts),
            "files_per_shard": run_options.shard_files,
            "phases": len(phases),
            "reused": reused,
        }
        try:
            ledger.check_balance()
            failure = error_rate_failure(ledger, self.pipeline.stage_ids, run_options.max_error_rate)
            if failure is not None:
                raise failure
            self.pipeline.plugins.hook.ingest_run_finished(report=self.pipeline.report)
            sink.close(self.pipeline.report)
        except BaseException as exc:
            cleanup(sink.abort, "removing the partial output")
            cleanup(lambda: shards.remove(root), "removing the shards")
            if isinstance(exc, (IngestError, KeyboardInterrupt, AssertionError)):
                raise
            raise RunError(f"the run failed while writing its output: {error_text(exc)}") from exc
        shards.remove(root)
        return self.pipeline.report

    def _say_progress(self, what: str, phase: str, done: int | None, total: int | None) -> None:
        """Tell ``run``'s ``stage_progress`` (the terminal's progress line), if there is one."""
        self.pipeline.say_progress(what, phase, done, total)

    def _shard_task(
        self,
        index: int,
        part: Any,
        folder: Path,
        phase: shards.Phase,
        sink: Any,
        records: dict[tuple[int, int], dict[str, Any]],
    ) -> shards.ShardTask:
        """Phase ``phase`` of shard ``index``; the last phase's files take in the
        drop records of the shard's earlier phases first."""
        carry: list[tuple[str, str]] = []
        if phase.last:
            for number in range(phase.number):
                name = records[(number, index)]["files"].get("dropped")
                if name:
                    carry.append(("dropped", str(shards.phase_folder(folder, number) / name)))
        work = str(shards.phase_folder(folder, phase.number))
        return shards.ShardTask(
            index,
            part,
            str(folder),
            sink.shard_writer(index, work),
            phase,
            self.pipeline.config.run.workdir or None,
            tuple(carry),
            self._planned_inputs,
        )

    def _combine(
        self,
        phase: shards.Phase,
        folders: list[Path],
        records: shards.PhaseRecords,
        ledger: Ledger,
        combined: dict[int, dict[str, Any]],
        token: str,
    ) -> None:
        """The corpus-level stage whose input ``phase`` spools, combined: here, every
        shard's part in shard order as the shards finish; or, for a stage combined
        in partitions, in a task per partition on the executor once every shard is
        done. The model made for each shard goes into the shard's folder. Done once:
        a resumed run takes the models an interrupted one wrote."""
        assert phase.spool_for is not None
        number = phase.number
        name = next(s.name for s in self.pipeline.config.stages if s.id == phase.spool_for)
        stats = ledger.stage_stats(phase.spool_for, name)
        earlier = combined.get(number)
        if earlier is not None:
            stats.seconds += earlier["seconds"]
            stats.extra.update(earlier["extra"])
            return
        stage, ctx = self.pipeline.corpus_stage(
            phase.spool_for, ledger, self._executor, planned_inputs=self._planned_inputs
        )
        corpus = shards.ShardedCorpus(folders, number, records)
        partitions = shards.partitions_of(stage)
        extra_before, seconds_before = dict(stats.extra), stats.seconds
        start, waited = time.perf_counter(), records.waited
        try:
            if partitions is None:
                models = list(stage.combine(corpus.parts(), corpus))
            else:
                self._combine_partitions(stage, phase, partitions, folders, records, ledger, token)
        except shards.TaskFailed as failure:
            raise failure.original from None  # a shard's task, not the stage
        except RunError:
            raise
        except Exception as exc:
            raise RunError(
                f"stage {ctx.stage_id!r} ({ctx.stage_name}, plugin {ctx.plugin}) failed while "
                f"combining its shards: {error_text(exc)}"
            ) from exc
        if partitions is None:
            if len(models) != len(folders):
                raise RunError(
                    f"stage {ctx.stage_id!r} ({ctx.stage_name}, plugin {ctx.plugin}): combine returned "
                    f"{len(models)} models for {len(folders)} shards"
                )
            for folder, model in zip(folders, models):
                shards.write_model(folder, number, model)
            stats.seconds += (
                time.perf_counter() - start - (records.waited - waited)
            )  # not the wait for shards
        seconds = stats.seconds - seconds_before
        extra = {k: v for k, v in stats.extra.items() if extra_before.get(k) != v}
        shards.write_combined(
            folders[0].parent,
            number,
            {
                "seconds": seconds,
                "extra": extra,
                **({} if partitions is None else {"partitions": partitions}),
            },
        )

    def _find_taken_keys(self, token: str, parts: Sequence[Any], folders: list[Path], root: Path) -> None:
        """Before phase 0, for a source that checks its records' ids: each shard's
        ids (a task a shard), then those an earlier record of any shard has (a task
        a partition of the ids), left in each shard's folder for its phase 0."""
        if shards.keys_found(root, folders):
            return  # an interrupted run found them
        executor = self._executor
        recipe = self.pipeline.recipe() if executor.kind == "ray" else None
        in_flight = max(1, executor.parallelism) * 2
        step = "checking the ids"
        self._say_progress("shards", step, 0, len(parts))
        tasks = (
            (token, recipe, shards.KeysTask(index, part, str(folders[index])))
            for index, part in enumerate(parts)
        )
        for done, _record in enumerate(executor.map(_keys_task, tasks, in_flight=in_flight), start=1):
            self._say_progress("shards", step, done, len(parts))
        names = tuple(map(str, folders))
        partitions = [shards.KeyPartitionTask(index, names) for index in range(shards.KEY_PARTITIONS)]
        taken = sum(executor.map(shards.run_key_partition, partitions, in_flight=in_flight))
        shards.write_keys_found(root, folders, taken)

    def _combine_partitions(
        self,
        stage: Any,
        phase: shards.Phase,
        partitions: int,
        folders: list[Path],
        records: shards.PhaseRecords,
        ledger: Ledger,
        token: str,
    ) -> None:
        """A partitioned stage's combine: once every shard has passed the phase, a
        task per partition on the executor (``combine_partition``, which writes each
        shard's model piece; a stage combined in rounds has a round of tasks after
        another, each round's once the round before is done), then
        ``combine_summaries`` here, if the stage has it, with what the last
        round's tasks returned."""
        assert phase.spool_for is not None
        spooled = tuple(record["spool"]["count"] for record in records.finish())
        expected = shards.pieces_cut(stage)
        cut = {json.dumps(record.get("pieces", 0)) for record in records.taken}
        if cut != {
            json.dumps(expected)
        }:  # shards an interrupted run passed with another version of the stage
            raise RunError(
                f"stage {phase.spool_for!r}: the shards' pieces are for {', '.join(sorted(cut))} "
                f"partitions, the stage combines {json.dumps(expected)}; run with --restart to start over"
            )
        rounds = shards.rounds_of(stage)
        assert rounds is not None and rounds[-1] == partitions
        in_rounds = shards.in_rounds(stage)
        executor = self._executor
        recipe = self.pipeline.recipe() if executor.kind == "ray" else None
        root = folders[0].parent
        summaries: list[Any] = []
        for number, count in enumerate(rounds):
            tasks = [
                shards.PartitionTask(
                    phase.spool_for,
                    phase.number,
                    index,
                    tuple(map(str, folders)),
                    spooled,
                    self._planned_inputs,
                    number,
                    rounds if in_rounds else None,
                )
                for index in range(count)
            ]
            step = f"combining {phase.spool_for} in {count} partitions"
            if len(rounds) > 1:
                step += f" (round {number + 1} of {len(rounds)})"
            self._say_progress("shards", step, 0, count)
            results = executor.map(
                _partition_task,
                [(token, recipe, task) for task in tasks],
                in_flight=max(1, executor.parallelism) * 2,
            )
            try:
                for done, result in enumerate(results, start=1):
                    ledger.merge(result["ledger"])
                    if number == len(rounds) - 1:
                        summaries.append(result["summary"])
                    self._say_progress("shards", step, done, count)
            except Exception as exc:  # a task's error names the stage and the partition
                raise RunError(f"the run failed: {error_text(exc)}") from exc
        shards.remove_rounds(root, phase.number, rounds)
        finish = getattr(stage, "combine_summaries", None)
        if callable(finish):
            start = time.perf_counter()
            finish(summaries, shards.ShardedCorpus(folders, phase.number, records))
            ledger.stages[phase.spool_for].seconds += time.perf_counter() - start

    def _shard_resume(
        self, root: Path, parts: Sequence[Any], phases: int, *, restart: bool, say: MessageCallback
    ) -> tuple[dict[tuple[int, int], dict[str, Any]], dict[int, dict[str, Any]]]:
        """The completion records of the shards' phases, and of the combines, that an
        interrupted run left in ``root`` and this run can take as they are (same
        config, same plan); this run's plan is recorded there for the next."""
        description = checkpoints.describe_config(self.pipeline.config, self.pipeline.plugins)
        plan = {
            "format": shards.FORMAT,
            "fingerprint": checkpoints.fingerprint(description),
            "config": description,
            "parts": shards.plan_digest(parts),
            "count": len(parts),
        }
        earlier = shards.load_plan(root)
        done: dict[tuple[int, int], dict[str, Any]] = {}
        combined: dict[int, dict[str, Any]] = {}
        if earlier is not None:
            if restart:
                say(f"--restart: discarding the shards of an interrupted run in {root}")
            elif self.pipeline.config.run.checkpoint_every <= 0:
                say(
                    f"checkpoints are off ([run] checkpoint_every = 0): discarding the interrupted run in {root}"
                )
            elif earlier.get("format") != shards.FORMAT:
                say(f"ignoring an unreadable or outdated shard plan in {root}; starting over")
            elif earlier.get("fingerprint") != plan["fingerprint"]:
                changed = checkpoints.differences(earlier.get("config") or {}, description)
                shown = ", ".join(changed[:8]) + (", ..." if len(changed) > 8 else "")
                raise ConfigError(
                    f"{root.parent} holds an interrupted run of a different configuration (changed: {shown}); "
                    "run with --restart to discard it and start over, or undo the change to resume it"
                )
            elif earlier.get("parts") != plan["parts"]:
                say(f"the input changed since the interrupted run in {root.parent}; starting over")
            else:
                done, combined = shards.completed_work(root, len(parts), phases)
                finished = sum(1 for (number, _index) in done if number == phases - 1)
                steps = f" ({len(done)} of {len(parts) * phases} shard phases)" if phases > 1 else ""
                say(
                    f"resuming the interrupted run in {root.parent}: {finished} of {len(parts)} shards done{steps}"
                )
        if not done and not combined:
            shards.remove(root)
        shards.write_plan(root, plan)
        self.pipeline.resumed = {"phase": "shards", "shard_phases_done": len(done)} if done else None
        return done, combined

    def _shard_records(
        self,
        token: str,
        phase: shards.Phase,
        count: int,
        task_of: Callable[[int], shards.ShardTask],
        done: dict[tuple[int, int], dict[str, Any]],
    ) -> Generator[dict[str, Any], None, None]:
        """The completion record of ``phase`` of every shard, in shard order: those in
        ``done`` as they are, the others as their tasks (``task_of(index)``, made as
        the executor takes them) finish on the run's executor, a bounded number in
        flight."""
        executor = self._executor
        recipe = self.pipeline.recipe() if executor.kind == "ray" else None
        todo = (
            (token, recipe, task_of(index)) for index in range(count) if (phase.number, index) not in done
        )
        results = executor.map(_shard_task, todo, in_flight=max(1, executor.parallelism) * 2)
        for index in range(count):
            key = (phase.number, index)
            yield done[key] if key in done else next(results)
