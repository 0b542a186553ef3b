"""The pipeline: source -> stages (in config order) -> sink, with a ledger.

Stages are chained as generators, so a per-document stage holds one
document at a time. A corpus-level stage (``needs_corpus``) gets the stream
spooled to disk: first ``fit(spool)``, then the spool again through the
stage. Every document ends up either kept or in the :class:`Ledger`.

:meth:`Pipeline.run` writes checkpoints when the sink supports them, and
resumes a killed run from the last one (see :mod:`ingest.engine.checkpoint`).
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import attrs

from ingest.contract.context import StageContext, StageProgress
from ingest.contract.document import Document, Drop
from ingest.contract.errors import ConfigError, IngestError, RunError, UnwritableDocument
from ingest.contract.ledger import SOURCE_STAGE, DropRecord, Ledger, StageStats
from ingest.contract.options import is_url
from ingest.engine import checkpoint as checkpoints
from ingest.engine import shards
from ingest.engine.checkpoint import Checkpointer, CheckpointError
from ingest.engine.disk_full import disk_full_message, is_disk_full
from ingest.engine.document_stage import (
    ErrorRateExceeded,
    apply_document_stage,
    error_rate_failure,
    error_text,
)
from ingest.engine.parallel import (
    PreparedDocument,
    SegmentStage,
    resolve_workers,
    run_segment,
)
from ingest.engine.run_support import cleanup, cpu_seconds, release_memory
from ingest.engine.spool import PickledDocument, Spool
from ingest.engine.stream_stage import Clock, run_stream_stage
from ingest.executors.local import LocalExecutor, start_executor
from ingest.host.config import (
    Override,
    PipelineConfig,
    StageConfig,
    override_config,
    plugin_settings,
    read_toml,
    resolve,
)
from ingest.host.plugin_manager import PluginHost
from ingest.sharded_run import MessageCallback, ProgressCallback, ShardedRun

#: The hidden file in the output folder a sharded run's plan is written to, before the run
#: moves it into its shards folder.
PLAN_TEMP_PREFIX = ".ingest-plan-"

log = logging.getLogger("ingest")

#: What a corpus-level stage needs to run over shards (see docs/hooks.md).
SHARD_METHODS = ("shard_pass", "combine", "use_shard")
#: ... of one that combines its shards in partitions (it has ``shard_partitions``).
PARTITIONED_SHARD_METHODS = ("shard_pass", "combine_partition", "use_shard")
#: ... of one that combines them in rounds of partitions (it has ``shard_rounds``).
ROUNDS_SHARD_METHODS = ("shard_pass", "exchange_partition", "combine_partition", "use_shard")

#: What a sink needs to take part in checkpoints.
CHECKPOINT_METHODS = ("checkpoint", "resume", "suspend", "checkpoint_dir")


def _prepares(sink: Any) -> bool:
    """Whether the sink can encode kept documents ahead of writing them (see :class:`~ingest.contract.specs.Sink`)."""
    return callable(getattr(sink, "prepare", None)) and callable(getattr(sink, "write_prepared", None))


class _Links:
    """The generators of a run's stream, from the source to the last stage, to be closed
    together however the run ends (closing one that has finished does nothing)."""

    def __init__(self) -> None:
        self._generators: list[Iterator[Any]] = []

    def link(self, stream: Iterator[Document]) -> Iterator[Document]:
        self._generators.append(stream)
        return stream

    def close(self) -> None:
        # the last stage first: each lets go of the one it reads
        for generator in reversed(self._generators):
            close = getattr(generator, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()
        self._generators.clear()


def _command_line_path(value: str | os.PathLike[str]) -> str:
    """``--input``/``--output``: a local path relative to the current directory, a URL as written."""
    text = os.fspath(value)
    return text if is_url(text) else os.path.abspath(text)


def _located(where: str, table: str, message: str) -> str:
    """``file: [table]: message``, without repeating what the message already says."""
    if message.startswith(where):
        return message
    if message.startswith(table):
        return f"{where}: {message}"
    return f"{where}: {table}: {message}"


@attrs.frozen
class PipelineRecipe:
    """What a Ray worker needs to build the same pipeline as the driver:
    the config as read, the command line's overrides of it, and how it was
    loaded. Plugin objects registered in-process travel with it (by
    cloudpickle)."""

    raw: Mapping[str, Any]
    path: str | None
    base_dir: str
    plugins: tuple[Any, ...] = ()
    skip: tuple[str, ...] = ()
    load_entry_points: bool | None = None
    overrides: tuple[Override, ...] = ()

    def build(self) -> Pipeline:
        return Pipeline(
            self.raw,
            path=self.path,
            base_dir=self.base_dir,
            plugins=self.plugins,
            skip=self.skip,
            load_entry_points=self.load_entry_points,
            overrides=self.overrides,
        )


class Pipeline:
    """A configured pipeline: plugins loaded, config checked, ready to run.

    Build it with :meth:`from_toml` or :meth:`from_dict`. Then either
    :meth:`run` (read the configured source, write the configured sink) or
    :meth:`process` (documents in, kept documents out, nothing written).
    After either, :attr:`ledger` and :attr:`report` describe the last run.
    Each pipeline has its own plugin manager, so pipelines with different
    plugins can live in one process.
    """

    def __init__(
        self,
        raw: Mapping[str, Any],
        *,
        path: str | os.PathLike[str] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        plugins: Iterable[Any] = (),
        skip: Sequence[str] = (),
        load_entry_points: bool | None = None,
        overrides: Sequence[str | Override] = (),
    ) -> None:
        self.path = str(path) if path is not None else None
        plugins = tuple(plugins)
        # How this pipeline was made, so a Ray worker can make it again.
        self._raw, self._plugin_objects = raw, plugins
        # --set and the like: applied here, so that an error in a value they set names them
        raw, applied = override_config(raw, overrides) if overrides else (raw, [])
        self._overrides = tuple(applied)
        self._skip, self._load_entry_points = tuple(skip), load_entry_points
        if base_dir is None:
            base_dir = Path(self.path).resolve().parent if self.path else Path.cwd()
        self.base_dir = str(base_dir)
        settings = plugin_settings(raw, path=self.path, base_dir=self.base_dir)
        try:
            self.plugins = PluginHost(
                modules=settings.modules,
                paths=settings.paths,
                plugins=plugins,
                load_entry_points=load_entry_points,
                disable=settings.disable,
            )
            self.config: PipelineConfig = resolve(
                raw, self.plugins, path=self.path, base_dir=self.base_dir, skip=skip, overrides=applied
            )
        except ConfigError:
            raise
        except IngestError as exc:
            raise ConfigError(f"{self.path or '<config>'}: [plugins]: {exc}") from exc
        self.ledger = Ledger(keep_records=self.config.run.keep_drop_records)
        self.report: dict[str, Any] = {}
        self.resumed: dict[str, Any] | None = None
        self._executor: Any = None  # the run's executor, while a run is going
        self._stage_progress: StageProgress | None = None  # run()'s, while a run is going

    # -- constructors ------------------------------------------------------

    @classmethod
    def from_toml(
        cls,
        path: str | os.PathLike[str],
        *,
        overrides: Sequence[str | Override] = (),
        input: str | os.PathLike[str] | None = None,
        output: str | os.PathLike[str] | None = None,
        skip: Sequence[str] = (),
        plugins: Iterable[Any] = (),
        load_entry_points: bool | None = None,
    ) -> Pipeline:
        """Load ``config.toml``. ``overrides`` are ``KEY=VALUE`` strings as for
        ``--set`` (or :class:`~ingest.host.config.Override` objects);
        ``input``/``output`` replace the source's and sink's ``path`` (relative
        to the current directory, like on the command line). An error in a
        value they set names them (``--set dedup.treshold=0.5: ...``), not
        the file."""
        import shlex

        changes: list[str | Override] = list(overrides)
        if input is not None:
            origin = f"--input {shlex.quote(os.fspath(input))}"
            changes.append(Override(origin, "source", "path", _command_line_path(input)))
        if output is not None:
            origin = f"--output {shlex.quote(os.fspath(output))}"
            changes.append(Override(origin, "sink", "path", _command_line_path(output)))
        return cls(
            read_toml(path),
            path=path,
            skip=skip,
            plugins=plugins,
            load_entry_points=load_entry_points,
            overrides=changes,
        )

    @classmethod
    def from_dict(
        cls,
        mapping: Mapping[str, Any],
        *,
        base_dir: str | os.PathLike[str] | None = None,
        plugins: Iterable[Any] = (),
        skip: Sequence[str] = (),
        load_entry_points: bool | None = None,
        stages: Mapping[str, Callable[[Document], Document | Drop]] | None = None,
    ) -> Pipeline:
        """Build from a mapping shaped like ``config.toml`` (e.g.
        ``{"pipeline": [{"stage": "header"}]}``, or bare stage names:
        ``{"pipeline": ["header"]}``). Relative paths are relative to
        ``base_dir`` (default: the current directory). ``stages`` adds
        one-off per-document stages, ``{name: function}`` with each function
        ``Document -> Document | Drop``, usable by name in ``pipeline``."""
        if stages:
            from ingest.host.plugin_manager import function_stages

            plugins = [*plugins, *function_stages(stages)]
        return cls(
            mapping, base_dir=base_dir, plugins=plugins, skip=skip, load_entry_points=load_entry_points
        )

    def check(self) -> list[str]:
        """Build every enabled stage (and the source) once without running
        anything, so problems only a stage can see (an unknown rule name, a
        missing lexicon file, a missing input folder) stop ``ingest check``.
        A source with a ``check()`` method is asked to look at its input too
        (the file sources walk their folder, reading no file).

        Raises :class:`ConfigError` naming the stage. Returns the warnings
        recorded meanwhile (``no file in ... matches include ...``).
        """
        ledger = Ledger(keep_records=False)
        where = self.path or "<config>"
        checks = [s for s in self.config.stages if s.enabled]
        if self.config.source is not None:
            checks.insert(0, self.config.source)
        for stage_cfg in checks:
            ctx = self._context(stage_cfg.id, stage_cfg.name, stage_cfg.registered.plugin.name, ledger)
            table = (
                f"[{stage_cfg.id}]" if stage_cfg.id == SOURCE_STAGE else f"[[pipeline]] (id {stage_cfg.id!r})"
            )
            try:
                built = stage_cfg.spec.factory(stage_cfg.options, ctx)
                if stage_cfg.id == SOURCE_STAGE and callable(getattr(built, "check", None)):
                    built.check()
            except ConfigError as exc:
                raise ConfigError(_located(self._set_by(where, stage_cfg.id), table, str(exc))) from exc
            except Exception as exc:
                raise ConfigError(f"{where}: {table}: the stage cannot start: {error_text(exc)}") from exc
        return [str(warning) for warning in ledger.warnings]

    def _set_by(self, where: str, table: str) -> str:
        """``where`` (the config file), naming the command-line options that
        changed ``table`` too: a value they set may be the one at fault."""
        origins = [o.origin for o in self._overrides if o.table == table]
        return f"{where} with {', '.join(origins)}" if origins else where

    # -- running -----------------------------------------------------------

    @property
    def stage_ids(self) -> list[str]:
        return [s.id for s in self.config.stages if s.enabled]

    def process(self, items: Iterable[Document | str | dict[str, Any]]) -> Iterator[Document]:
        """Run the stages over in-memory items and lazily yield kept documents.

        Items may be :class:`Document`s, strings (the id is ``doc-<index>``)
        or dicts with ``text`` and optional ``id`` and ``metadata``. An item
        that cannot be made into a document is recorded as dropped by the
        source. :attr:`ledger` and :attr:`report` are complete once the
        iterator is exhausted.
        """
        ledger = self._new_ledger()
        source_ctx = self._context(SOURCE_STAGE, "memory", None, ledger, workdir=None)

        def documents() -> Iterator[Document]:
            for index, item in enumerate(items):
                try:
                    yield Document.from_any(item, default_id=f"doc-{index}")
                except TypeError as exc:
                    source_ctx.drop(f"doc-{index}", "invalid_input", error=str(exc))

        yield from self._execute(documents(), ledger, sink=None)

    def run(
        self,
        *,
        progress: ProgressCallback | None = None,
        restart: bool = False,
        on_message: MessageCallback | None = None,
        stage_progress: StageProgress | None = None,
    ) -> dict[str, Any]:
        """Read the configured source, run the stages, write the configured
        sink; return the report (also in :attr:`report`).

        With ``[run] checkpoint_every`` above 0 and a sink that supports it
        (``jsonl``), checkpoints go into the output folder, and a run that
        finds one left by an interrupted run of the same config resumes it;
        ``restart=True`` discards it instead. A checkpoint of another config
        is a :class:`ConfigError`. ``on_message`` gets notes such as
        "resuming ..." (default: the ``ingest`` logger). ``stage_progress``
        gets what long-running stages report of their phases
        (``("dedup", "hashing documents", 20000, None)``, see
        :meth:`StageContext.progress`); ``progress`` gets the ledger as
        documents reach the sink.
        """
        if self.config.source is None or self.config.sink is None:
            raise ConfigError("run() needs a [source] and a [sink]; use process() for in-memory documents")
        ledger = self._new_ledger()
        self._stage_progress = stage_progress
        try:
            return self._run(ledger, progress=progress, restart=restart, on_message=on_message)
        finally:
            self._stage_progress = None

    def _run(
        self,
        ledger: Ledger,
        *,
        progress: ProgressCallback | None,
        restart: bool,
        on_message: MessageCallback | None,
    ) -> dict[str, Any]:
        assert self.config.source is not None and self.config.sink is not None  # checked by run()
        source_cfg, sink_cfg = self.config.source, self.config.sink
        source_ctx = self._context(SOURCE_STAGE, source_cfg.name, source_cfg.registered.plugin.name, ledger)
        sink_ctx = self._context("sink", sink_cfg.name, sink_cfg.registered.plugin.name, ledger)
        where = self.path or "<config>"
        try:
            table = "[source]"
            source = source_cfg.spec.factory(source_cfg.options, source_ctx)
            table = "[sink]"
            sink = sink_cfg.spec.factory(sink_cfg.options, sink_ctx)
        except ConfigError as exc:
            raise ConfigError(_located(self._set_by(where, table.strip("[]")), table, str(exc))) from exc
        except IngestError:
            raise
        except Exception as exc:
            raise RunError(f"could not open the source or sink: {error_text(exc)}") from exc
        ledger.listeners.append(sink.write_dropped)
        try:
            parts = self._shard_parts(source, sink)
        except BaseException:
            sink.abort()
            raise
        say = on_message or log.warning
        try:
            self._discard_other_engine(sink, sharded=parts is not None, say=say)
        except BaseException:
            sink.abort()
            if parts is not None:
                parts.discard()
            raise
        if parts is not None:
            keys = callable(getattr(source, "shard_keys", None))
            try:
                return ShardedRun(self).run(
                    parts,
                    sink,
                    ledger,
                    progress=progress,
                    restart=restart,
                    say=on_message or log.warning,
                    keys=keys,
                )
            finally:
                parts.discard()  # the plan's temporary file, if the run stopped before it moved it
        try:
            checkpoint = self._checkpointer(sink, ledger, restart=restart, say=on_message or log.warning)
        except BaseException:
            sink.abort()
            raise
        if checkpoint is not None:
            ledger.trackers.append(checkpoint.track)
            ledger.listeners.append(checkpoint.on_drop)  # after the sink's: the drop is written
        stream = self._execute(iter(source), ledger, sink=sink, progress=progress, checkpoint=checkpoint)
        try:
            for doc in stream:
                try:
                    if type(doc) is PreparedDocument:  # encoded by the sink's prepare in a worker
                        sink.write_prepared(doc.id, doc.prepared)
                    else:
                        sink.write(doc)
                except UnwritableDocument as exc:
                    # One document the sink cannot encode: recorded, and the run goes on.
                    ledger.kept_count -= 1
                    sink_ctx.drop(doc, "unwritable", error=str(exc))
                    continue
                if checkpoint is not None:
                    checkpoint.on_kept()
        except BaseException as exc:  # noqa: BLE001 - _fail cleans up and raises
            # Stopped here (Ctrl-C, SIGTERM or a sink error while writing, not inside the
            # stream): close the stream now, so its stages' worker processes end and its
            # spools go before the exit, which would otherwise wait for those workers.
            with contextlib.suppress(Exception):
                stream.close()
            self._fail(exc, sink, checkpoint, resumable=True, doing="")
        try:
            sink.close(self.report)
        except BaseException as exc:  # noqa: BLE001 - _fail cleans up and raises
            # close removed most of its files; abort (idempotent) and the checkpoint go too
            self._fail(exc, sink, checkpoint, resumable=False, doing=" while writing its output")
        if checkpoint is not None:
            checkpoint.finish()
        return self.report

    # -- sharded runs (see ingest.engine.shards) ------------------------------

    def _shard_parts(self, source: Any, sink: Any) -> shards.PlannedParts | None:
        """The source's parts of the input when this run is sharded, else None
        (see :meth:`_shard_decision`); ``[run] shards = "on"`` with a run that
        cannot be sharded is a :class:`ConfigError` saying why."""
        parts, why, blocked = self._shard_decision(source, sink)
        if blocked and self.config.run.shards == "on":
            raise ConfigError(f'{self.path or "<config>"}: [run] shards = "on": {why}')
        assert parts is None or isinstance(parts, shards.PlannedParts)  # kept, not counted
        return parts

    def _shard_decision(
        self, source: Any, sink: Any, *, count_only: bool = False
    ) -> tuple[Sequence[Any] | None, str, bool]:
        """Whether this run is sharded: the source's parts of the input, or None;
        why not, in words; and whether that is because the pipeline cannot be sharded.
        The parts wait in a temporary file beside the sink's shards folder
        (:class:`~ingest.engine.shards.PlannedParts`); ``count_only``: they are
        counted, not kept (a range of their number).

        ``[run] shards = "auto"`` shards when the source can plan (``plan`` and
        ``read_shard``), the sink can write shards (``shard_writer``), every
        corpus-level stage can run over shards, drop records are not kept in
        memory, and the input makes more than one shard; ``"on"`` whenever the
        rest holds and there is input; ``"off"`` never."""
        mode = self.config.run.shards
        if mode == "off":
            return None, '[run] shards = "off"', False
        why = self._unshardable(source, sink)
        if why is not None:
            return None, why, True
        files = self.config.run.shard_files
        parts: Sequence[Any]
        if count_only:
            parts = range(sum(1 for _ in source.plan(files)))
        else:
            parts = self._write_plan(source.plan(files), Path(sink.shards_dir).parent)
        release_memory()  # what the folder walk held: workers forked later need not hold it
        if not parts or (len(parts) < 2 and mode == "auto"):
            if isinstance(parts, shards.PlannedParts):
                parts.discard()
            why = "no input" if not parts else f"the input fits in one shard ([run] shard_files = {files})"
            return None, why, False
        return parts, "", False

    @staticmethod
    def _write_plan(plan: Iterable[Any], folder: Path) -> shards.PlannedParts:
        """The source's plan written to a hidden temporary file in ``folder`` (the output
        folder, or its local staging folder) as the source lists it: the ``ingest run``
        process never holds it (a million files' parts were ~18 MB); a sharded run moves
        it into its shards folder once it has decided what the shards folder holds.
        One left by a run that died (the output folder is one run's at a time) goes."""
        for stale in folder.glob(f"{PLAN_TEMP_PREFIX}*.pickle"):
            with contextlib.suppress(OSError):
                stale.unlink()
        fd, path = tempfile.mkstemp(prefix=PLAN_TEMP_PREFIX, suffix=".pickle", dir=folder)
        os.close(fd)
        try:
            return shards.PlannedParts.write(path, plan, temporary=True)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise

    def sharding(self) -> str:
        """How a run of this config would go, in words, for ``ingest check``:
        ``"sharded: 10 shards of up to 2000 files, 3 phases"``, or why not
        (builds the source and lists its input; writes nothing)."""
        source_cfg, sink_cfg = self.config.source, self.config.sink
        if source_cfg is None or sink_cfg is None:
            return "not sharded: no [source] or [sink]"
        ctx = self._context(SOURCE_STAGE, source_cfg.name, source_cfg.registered.plugin.name, Ledger())
        source = source_cfg.spec.factory(source_cfg.options, ctx)
        # the sink's class says what it can do (the sink itself would take the output folder)
        parts, why, _blocked = self._shard_decision(source, sink_cfg.spec.factory, count_only=True)
        if parts is None:
            return f"not sharded: {why}"
        phases = len(shards.phases_of([(s.id, s.per_document) for s in self.config.stages if s.enabled]))
        files = self.config.run.shard_files
        unit = getattr(source, "plan_unit", "files")  # the jsonl_files source cuts by lines
        return (
            f"sharded: {len(parts)} shards of up to {files} {unit}, {phases} phase{'s' if phases > 1 else ''}"
        )

    def _discard_other_engine(self, sink: Any, *, sharded: bool, say: MessageCallback) -> None:
        """What an interrupted run of the other engine left in the output folder (the
        shards of a sharded run before an unsharded one, the checkpoint of an
        unsharded run before a sharded one): it cannot be resumed by this run, and
        would stay there for good."""
        shards_dir = getattr(sink, "shards_dir", None)
        if not sharded and shards_dir is not None and Path(shards_dir).exists():
            say(
                f"discarding the shards of an interrupted sharded run in {Path(shards_dir).parent}: this run is not sharded"
            )
            shards.remove(shards_dir)
        if sharded and all(hasattr(sink, name) for name in CHECKPOINT_METHODS):
            folder = Path(sink.checkpoint_dir)
            if checkpoints.load(folder) is not None:
                say(f"discarding the interrupted unsharded run in {folder}: this run is sharded")
                checkpoints.remove(folder, checkpoints.stale_spools(folder))
                sink.resume(None)  # and its partial files

    def _unshardable(self, source: Any, sink: Any) -> str | None:
        """Why this run cannot be sharded, or None when it can."""
        if not (callable(getattr(source, "plan", None)) and callable(getattr(source, "read_shard", None))):
            return f"the source {self.config.source.name!r} cannot plan shards (it has no plan/read_shard)"  # type: ignore[union-attr]
        if not (callable(getattr(sink, "shard_writer", None)) and hasattr(sink, "shards_dir")):
            return f"the sink {self.config.sink.name!r} cannot write shards (it has no shard_writer)"  # type: ignore[union-attr]
        for stage_cfg in self.config.stages:
            if stage_cfg.enabled and not stage_cfg.per_document:
                why = self._corpus_stage_unshardable(stage_cfg)
                if why is not None:
                    return f"stage {stage_cfg.id!r} ({stage_cfg.name}) {why}"
        sink_path = str(getattr(self.config.sink.options, "path", ""))  # type: ignore[union-attr]
        if self.config.run.executor == "ray" and is_url(sink_path):
            return (
                "with executor = ray the sink cannot be at a URL yet (shards are staged on the driver's disk)"
            )
        if self.config.run.keep_drop_records:
            return "[run] keep_drop_records = true (drop records are in the shards' files, not in memory)"
        return None

    def _corpus_stage_unshardable(self, stage_cfg: StageConfig) -> str | None:
        """Why a stage that is not per-document cannot run over shards (see
        docs/hooks.md), or None when it can."""
        try:
            stage, _ctx = self.corpus_stage(stage_cfg.id, Ledger(keep_records=False))
        except Exception:  # noqa: BLE001 - the unsharded run reports it where it always has
            return "could not start"
        try:
            partitioned = shards.partitions_of(stage) is not None
        except ValueError as exc:  # shard_rounds() with no round, or one of no task
            return f"cannot run over shards: {exc}"
        methods: tuple[str, ...] = SHARD_METHODS
        if shards.in_rounds(stage):
            methods = ROUNDS_SHARD_METHODS
        elif partitioned:
            methods = PARTITIONED_SHARD_METHODS
        if not all(callable(getattr(stage, name, None)) for name in methods):
            return f"cannot run over shards (it has no {', '.join(methods[:-1])} and {methods[-1]})"
        why = getattr(stage, "cannot_shard", None)
        reason = why() if callable(why) else None
        return None if reason is None else str(reason)

    def corpus_stage(
        self, stage_id: str, ledger: Ledger, executor: Any = None, *, planned_inputs: int | None = None
    ) -> tuple[Any, StageContext]:
        """The stage ``stage_id`` built with a context recording into ``ledger``: in a
        shard task its work stays in the task's process; for its ``combine`` here
        it gets the run's ``executor``; ``planned_inputs``: a sharded run's (see
        :class:`~ingest.contract.context.StageContext`)."""
        stage_cfg = next(s for s in self.config.stages if s.id == stage_id)
        ctx = self._context(
            stage_cfg.id,
            stage_cfg.name,
            stage_cfg.registered.plugin.name,
            ledger,
            self.config.run.workdir or None,
            executor,
        )
        if executor is None:
            ctx.on_progress = None  # a shard task does not draw on the terminal
        ctx.planned_inputs = planned_inputs
        return stage_cfg.spec.factory(stage_cfg.options, ctx), ctx

    def shard_source(self, ledger: Ledger) -> Any:
        """The configured source, recording into ``ledger`` (in a shard task)."""
        source_cfg = self.config.source
        assert source_cfg is not None
        ctx = self._context(SOURCE_STAGE, source_cfg.name, source_cfg.registered.plugin.name, ledger)
        ctx.on_progress = None
        return source_cfg.spec.factory(source_cfg.options, ctx)

    def sink_context(self, ledger: Ledger) -> StageContext:
        """The sink's context, recording into ``ledger`` (in a shard task)."""
        sink_cfg = self.config.sink
        assert sink_cfg is not None
        return self._context("sink", sink_cfg.name, sink_cfg.registered.plugin.name, ledger)

    def drop_listeners(self) -> list[Callable[[DropRecord], None]]:
        """The ``ingest_document_dropped`` hook, when a plugin implements it."""
        hook = self.plugins.hook.ingest_document_dropped
        return [lambda record: hook(record=record)] if hook.get_hookimpls() else []

    def say_progress(self, what: str, phase: str, done: int | None, total: int | None) -> None:
        """Tell ``run``'s ``stage_progress`` (the terminal's progress line), if there is one."""
        if self._stage_progress is not None:
            self._stage_progress(what, phase, done, total)

    def _fail(
        self, exc: BaseException, sink: Any, checkpoint: Checkpointer | None, *, resumable: bool, doing: str
    ) -> NoReturn:
        """Leave the output folder as a failed run should, and raise the error
        that says why (``exc`` itself where it says so as it is).

        With ``resumable`` and a checkpoint saved, the hidden partial files and
        the checkpoint stay for the next run to resume. Else (no checkpoint, a
        full disk, which is not resumable as it stands, or an error a resume
        would meet again) the run's partial output and checkpoint are removed."""
        full = disk_full_message(exc, self.output_places(sink)) if is_disk_full(exc) else None
        if (
            resumable
            and checkpoint is not None
            and checkpoint.saved
            and full is None
            and not isinstance(exc, (CheckpointError, ErrorRateExceeded))
        ):
            sink.suspend()
            checkpoint.suspend()
        else:
            cleanup(sink.abort, "removing the partial output")
            if checkpoint is not None:
                cleanup(checkpoint.discard, "removing the checkpoint")
        # Raised here, never held in a local of the caller: an error whose
        # traceback reaches a frame that holds it is a cycle, and the worker
        # pools in those frames would then close only when the collector runs.
        if full is not None:
            raise RunError(full) from exc
        if isinstance(exc, CheckpointError):
            raise RunError(
                f"cannot resume: {exc}; the checkpoint is discarded, run again to start over"
            ) from exc
        if isinstance(exc, (IngestError, KeyboardInterrupt)):
            raise exc
        raise RunError(f"the run failed{doing}: {error_text(exc)}") from exc

    def output_places(self, sink: Any) -> list[str]:
        """Folders the run writes to: the sink's output and the scratch folder."""
        places = []
        folder = getattr(sink, "checkpoint_dir", None) or getattr(
            self.config.sink.options if self.config.sink else None, "path", None
        )
        if folder:
            places.append(str(folder))
        places.append(self.config.run.workdir or tempfile.gettempdir())
        return places

    def _checkpointer(
        self, sink: Any, ledger: Ledger, *, restart: bool, say: MessageCallback
    ) -> Checkpointer | None:
        """Checkpointing for this run, resuming a matching checkpoint; None
        when it is off or the sink cannot take part."""
        self.resumed = None
        every = self.config.run.checkpoint_every
        if not all(hasattr(sink, name) for name in CHECKPOINT_METHODS):
            return None
        folder = Path(sink.checkpoint_dir)
        if every <= 0:
            if checkpoints.load(folder) is not None:
                say(
                    f"checkpoints are off ([run] checkpoint_every = 0): discarding the interrupted run in {folder}"
                )
                checkpoints.remove(folder, checkpoints.stale_spools(folder))
                sink.resume(None)  # and its partial files
            return None
        enabled = [s for s in self.config.stages if s.enabled]
        barrier = next((s for s in enabled if not s.per_document), None)
        upstream = enabled[: enabled.index(barrier)] if barrier is not None else enabled
        description = checkpoints.describe_config(self.config, self.plugins)
        state = checkpoints.load(folder)
        if state is not None:
            if restart:
                say(f"--restart: discarding the checkpoint of an interrupted run in {folder}")
                state = None
            elif state.get("format") != checkpoints.FORMAT:
                say(f"ignoring an unreadable or outdated checkpoint in {folder}; starting over")
                state = None
            elif state.get("fingerprint") != checkpoints.fingerprint(description):
                changed = checkpoints.differences(state.get("config") or {}, description)
                shown = ", ".join(changed[:8]) + (", ..." if len(changed) > 8 else "")
                raise ConfigError(
                    f"{folder} holds an interrupted run of a different configuration (changed: {shown}); "
                    "run with --restart to discard it and start over, or undo the change to resume it"
                )
        if state is not None:
            try:
                sink.resume(state["sink"])
            except CheckpointError as exc:
                say(f"cannot resume the interrupted run in {folder} ({exc}); starting over")
                state = None
        if state is None:
            checkpoints.remove(folder, checkpoints.stale_spools(folder))
            sink.resume(None)
        else:
            say(checkpoints.resume_message(state, folder))
            self.resumed = {"phase": state["phase"], "inputs_done": state["accounted"]}
        return Checkpointer(
            folder=folder,
            every=every,
            sink=sink,
            ledger=ledger,
            description=description,
            upstream=[s.id for s in upstream],
            barrier=barrier.id if barrier is not None else None,
            state=state,
        )

    # -- internals ---------------------------------------------------------

    def _new_ledger(self) -> Ledger:
        self.ledger = Ledger(keep_records=self.config.run.keep_drop_records)
        hook = self.plugins.hook.ingest_document_dropped
        if hook.get_hookimpls():  # no hook call per drop when nobody listens
            self.ledger.listeners.append(lambda record: hook(record=record))
        self.report = {}
        self.resumed = None
        return self.ledger

    def recipe(self) -> PipelineRecipe:
        """What a Ray worker needs to build this pipeline again (see
        :mod:`ingest.executors.ray`)."""
        return PipelineRecipe(
            raw=self._raw,
            path=self.path,
            base_dir=self.base_dir,
            plugins=self._plugin_objects,
            skip=self._skip,
            load_entry_points=self._load_entry_points,
            overrides=self._overrides,
        )

    def segment_stages(self, stage_ids: Sequence[str], workdir: str | None) -> list[SegmentStage]:
        """The per-document stages ``stage_ids`` as a worker rebuilds them,
        each with a context bound to the worker's own ledger."""
        by_id = {s.id: s for s in self.config.stages}
        segment = []
        for stage_id in stage_ids:
            stage_cfg = by_id[stage_id]

            def make_context(worker_ledger: Ledger, stage_cfg: StageConfig = stage_cfg) -> StageContext:
                ctx = self._context(
                    stage_cfg.id, stage_cfg.name, stage_cfg.registered.plugin.name, worker_ledger, workdir
                )
                ctx.on_progress = None  # a worker process does not draw on the terminal
                return ctx

            segment.append(
                SegmentStage(stage_cfg.id, stage_cfg.spec.factory, stage_cfg.options, make_context)
            )
        return segment

    def _context(
        self,
        stage_id: str,
        name: str,
        plugin: str | None,
        ledger: Ledger,
        workdir: str | None = None,
        executor: Any = None,
    ) -> StageContext:
        if stage_id != "sink":
            ledger.stage_stats(stage_id, name)
        info = self.plugins.infos.get(plugin) if plugin else None
        return StageContext(
            stage_id=stage_id,
            stage_name=name,
            plugin=plugin,
            ledger=ledger,
            plugins=self.plugins,
            base_dir=self.base_dir,
            workdir=workdir,
            distribution=info.distribution if info else None,
            version=info.version if info else None,
            **({"executor": executor} if executor is not None else {}),
            workers=resolve_workers(self.config.run.workers),
            on_progress=self._stage_progress,
        )

    def _execute(
        self,
        docs: Iterator[Document],
        ledger: Ledger,
        *,
        sink: Any,
        progress: ProgressCallback | None = None,
        checkpoint: Checkpointer | None = None,
    ) -> Generator[Document, None, None]:
        started = datetime.datetime.now(datetime.timezone.utc)
        clock_start = time.perf_counter()
        cpu_start = cpu_seconds()
        workdir = self.config.run.workdir or None
        own_workdir = None
        if workdir is None:
            own_workdir = workdir = tempfile.mkdtemp(prefix="ingest-run-")
        else:
            os.makedirs(workdir, exist_ok=True)
        spools: list[Spool] = []
        links = _Links()
        run_options = self.config.run
        workers = resolve_workers(run_options.workers)
        try:
            self._executor = start_executor(
                run_options.executor,
                # a local Ray instance gets [run] workers CPUs as written (0 = all)
                workers=run_options.workers if run_options.executor == "ray" else workers,
                address=run_options.ray_address,
                where=f"{self.path or '<config>'}: [run]",
            )
            distributed = not isinstance(self._executor, LocalExecutor)
            self.plugins.hook.ingest_run_started(run={"config": self.path, "stages": self.stage_ids})
            stream: Iterator[Document] = links.link(self._count_input(docs, ledger, checkpoint))
            segment: list[StageConfig] = []
            for stage_cfg in self.config.stages:
                if not stage_cfg.enabled:
                    continue
                if (workers > 1 or distributed) and stage_cfg.per_document:
                    segment.append(stage_cfg)  # runs in the worker pool with its neighbours
                    continue
                barrier = checkpoint is not None and stage_cfg.id == checkpoint.barrier
                if segment:
                    # into a spool: the workers' pickles are written as they come
                    spooled = barrier or bool(stage_cfg.needs_corpus)
                    stream = links.link(
                        self._segment(segment, stream, ledger, workdir, workers, pickle_kept=spooled)
                    )
                    segment = []
                if barrier:
                    assert checkpoint is not None  # a barrier is the checkpoint's
                    stream = links.link(self._barrier(stage_cfg, stream, ledger, workdir, checkpoint))
                else:
                    stream = links.link(self._chain(stage_cfg, stream, ledger, workdir, spools))
            if segment:
                # the last segment: where the sink can, its workers encode what it writes
                prepare = sink.prepare if sink is not None and _prepares(sink) else None
                stream = links.link(self._segment(segment, stream, ledger, workdir, workers, prepare=prepare))
            for doc in stream:
                ledger.kept_count += 1
                if progress is not None:
                    progress(ledger)
                yield doc
        finally:
            # A stage that raised leaves the stages after it suspended, and the traceback keeps
            # them alive: close them all now, so that a segment's worker processes end here
            # (the interpreter's exit would wait for them) and their files are let go.
            links.close()
            for spool in spools:
                spool.close()
            if self._executor is not None:
                self._executor.shutdown()
                self._executor = None
            if own_workdir:
                shutil.rmtree(own_workdir, ignore_errors=True)
        for stage_id in self.stage_ids:
            self.plugins.hook.ingest_stage_finished(stage_id=stage_id, stats=ledger.stages[stage_id])
        finished = datetime.datetime.now(datetime.timezone.utc)
        self.report = self.make_report(
            ledger, started, finished, time.perf_counter() - clock_start, cpu_start=cpu_start
        )
        ledger.check_balance()
        failure = error_rate_failure(ledger, self.stage_ids, self.config.run.max_error_rate)
        if failure is not None:
            raise failure
        self.plugins.hook.ingest_run_finished(report=self.report)

    def _count_input(
        self, docs: Iterator[Document], ledger: Ledger, checkpoint: Checkpointer | None = None
    ) -> Iterator[Document]:
        stats = ledger.stages[SOURCE_STAGE]
        if checkpoint is not None:
            checkpoint.start_source()  # a resume: counts restored, items to skip set
        clock = Clock(stats)
        for doc in clock.timed_output(docs):
            if ledger.source_to_skip > 0:
                ledger.source_skipped(doc)  # accounted for before the checkpoint
                continue
            ledger.input_count += 1
            stats.documents_out += 1
            if checkpoint is not None:
                checkpoint.pulled(doc)
            yield doc
        if checkpoint is not None:
            checkpoint.source_exhausted()

    def _segment(
        self,
        stage_cfgs: list[StageConfig],
        stream: Iterator[Document],
        ledger: Ledger,
        workdir: str,
        workers: int,
        *,
        pickle_kept: bool = False,
        prepare: Callable[[Document], Any] | None = None,
    ) -> Iterator[Document]:
        """Consecutive per-document stages, run over worker processes (or Ray tasks).

        With ``pickle_kept`` (the next stage spools its input) kept documents may
        come as :class:`~ingest.engine.spool.PickledDocument`; only a spool and
        :meth:`_observed` read such a stream. With ``prepare`` (the sink's) they
        may come as :class:`~ingest.engine.parallel.PreparedDocument`, for :meth:`run`."""
        for stage_cfg in stage_cfgs:
            ctx = self._context(
                stage_cfg.id, stage_cfg.name, stage_cfg.registered.plugin.name, ledger, workdir
            )
            try:
                # Built once here so a stage that cannot start fails the run
                # before any worker is started, with the same message.
                stage_cfg.spec.factory(stage_cfg.options, ctx)
            except Exception as exc:
                raise RunError(
                    f"stage {stage_cfg.id!r} ({stage_cfg.name}, plugin {ctx.plugin}) could not start: "
                    f"{error_text(exc)}"
                ) from exc
        stage_ids = [s.id for s in stage_cfgs]
        backend = None
        if not isinstance(self._executor, LocalExecutor):
            backend = functools.partial(self._executor.segment_backend, self.recipe(), stage_ids, workdir)
        return run_segment(  # type: ignore[return-value] # PickledDocument items only with pickle_kept
            self.segment_stages(stage_ids, workdir),
            stream,
            ledger,
            workers,
            backend=backend,
            pickle_kept=pickle_kept,
            prepare=prepare,
        )

    def _chain(
        self,
        stage_cfg: StageConfig,
        stream: Iterator[Document],
        ledger: Ledger,
        workdir: str,
        spools: list[Spool],
    ) -> Iterator[Document]:
        spec = stage_cfg.spec
        ctx = self._context(
            stage_cfg.id, stage_cfg.name, stage_cfg.registered.plugin.name, ledger, workdir, self._executor
        )
        stats = ledger.stages[stage_cfg.id]
        try:
            stage = spec.factory(stage_cfg.options, ctx)
        except Exception as exc:
            raise RunError(
                f"stage {stage_cfg.id!r} ({stage_cfg.name}, plugin {ctx.plugin}) could not start: "
                f"{error_text(exc)}"
            ) from exc
        if stage_cfg.per_document:
            return self._per_document(stage, ctx, stats, stream)
        if stage_cfg.needs_corpus:
            return self._corpus(stage, ctx, stats, stream, workdir, spools)
        return self._stream(stage, ctx, stats, stream)

    @staticmethod
    def _per_document(
        fn: Callable[[Document], Document | Drop],
        ctx: StageContext,
        stats: StageStats,
        docs: Iterator[Document],
    ) -> Iterator[Document]:
        for doc in docs:
            kept = apply_document_stage(fn, ctx, stats, doc)
            if kept is not None:
                yield kept

    @staticmethod
    def _stream(
        stage: Callable[[Iterable[Document]], Iterable[Document]],
        ctx: StageContext,
        stats: StageStats,
        docs: Iterator[Document],
    ) -> Iterator[Document]:
        return run_stream_stage(stage, ctx, stats, docs)

    def _corpus(
        self,
        stage: Any,
        ctx: StageContext,
        stats: StageStats,
        docs: Iterator[Document],
        workdir: str,
        spools: list[Spool],
    ) -> Iterator[Document]:
        spool = Spool(workdir, name=ctx.stage_id, memory_bytes=self.config.run.spool_memory_mb << 20)
        spools.append(spool)
        for doc in self._observed(stage, ctx, stats, docs):
            spool.write(doc)
        spool.finish()
        self._fit(stage, ctx, stats, spool)
        yield from self._stream(stage, ctx, stats, iter(spool))

    @staticmethod
    def _observed(
        stage: Any, ctx: StageContext, stats: StageStats, docs: Iterable[Document]
    ) -> Iterator[Document]:
        """``docs``, each shown to the stage's optional ``observe(doc)`` on its
        way into the spool, so that a corpus-level stage can do its per-document
        fit work (hashing) while the stream is spooled instead of reading the
        whole spool back in ``fit``. The time goes to the stage. (Items may be
        :class:`PickledDocument`: the stage sees the document.)"""
        observe = getattr(stage, "observe", None)
        if observe is None:
            yield from docs
            return
        clock = time.perf_counter
        for doc in docs:
            start = clock()
            try:
                observe(doc.document if type(doc) is PickledDocument else doc)
            except Exception as exc:
                raise RunError(
                    f"stage {ctx.stage_id!r} ({ctx.stage_name}, plugin {ctx.plugin}) failed while "
                    f"reading the corpus: {error_text(exc)}"
                ) from exc
            stats.seconds += clock() - start
            yield doc

    @staticmethod
    def _fit(stage: Any, ctx: StageContext, stats: StageStats, spool: Spool) -> None:
        fit = getattr(stage, "fit", None)
        if fit is None:
            return
        start = time.perf_counter()
        try:
            fit(spool)
        except Exception as exc:
            raise RunError(
                f"stage {ctx.stage_id!r} ({ctx.stage_name}, plugin {ctx.plugin}) failed while "
                f"reading the corpus: {error_text(exc)}"
            ) from exc
        stats.seconds += time.perf_counter() - start

    def _barrier(
        self,
        stage_cfg: StageConfig,
        stream: Iterator[Document],
        ledger: Ledger,
        workdir: str,
        checkpoint: Checkpointer,
    ) -> Iterator[Document]:
        """The first stage that is not per-document, in a checkpointed run.

        Its input is spooled into the output folder (counted as accounted
        for, document by document); once complete, phase B begins: ``fit``
        if it is corpus-level (after ``observe`` while spooling, when the
        stage has it and the spool started empty), then the spool through
        the stage. A run resumed in phase B reads the complete spool and not
        the source.
        A plain stream stage is spooled too, so a resume never needs its
        in-memory state.
        """
        ctx = self._context(
            stage_cfg.id, stage_cfg.name, stage_cfg.registered.plugin.name, ledger, workdir, self._executor
        )
        stats = ledger.stages[stage_cfg.id]
        try:
            stage = stage_cfg.spec.factory(stage_cfg.options, ctx)
        except Exception as exc:
            raise RunError(
                f"stage {stage_cfg.id!r} ({stage_cfg.name}, plugin {ctx.plugin}) could not start: "
                f"{error_text(exc)}"
            ) from exc

        def run() -> Iterator[Document]:
            if checkpoint.phase == checkpoints.CORPUS:
                spool = checkpoint.completed_spool()
            else:
                spool = checkpoint.open_spool()
                # a spool reopened after a crash holds documents this process
                # never saw: then fit reads the whole spool, as on a phase-B resume
                fresh = spool.count == 0 and stage_cfg.needs_corpus
                for doc in self._observed(stage, ctx, stats, stream) if fresh else stream:
                    spool.write(doc)
                    checkpoint.accounted_one()
                checkpoint.finish_spool()
            if stage_cfg.needs_corpus:
                self._fit(stage, ctx, stats, spool)
            yield from self._stream(stage, ctx, stats, iter(spool))

        return run()

    @staticmethod
    def _stage_report(stage_id: str, stats: StageStats) -> dict[str, Any]:
        report = stats.as_dict()
        if stage_id == SOURCE_STAGE:
            # what the source read: the documents it passed on and the items it dropped
            report["documents_in"] = report["documents_out"] + report["dropped_total"]
        return report

    def make_report(
        self,
        ledger: Ledger,
        started: datetime.datetime,
        finished: datetime.datetime,
        seconds: float,
        *,
        cpu_start: tuple[float, float | None],
    ) -> dict[str, Any]:
        from ingest.contract.version import __version__

        # The worker processes have been waited for by now (the executor is
        # shut down), so the children's usage holds all of theirs. Ray's
        # workers are not this process's children: not counted.
        own_now, children_now = cpu_seconds()
        own_start, children_start = cpu_start
        workers_cpu = (
            None if children_now is None or children_start is None else children_now - children_start
        )

        return {
            "ingest_version": __version__,
            "config": self.path,
            "started": started.isoformat(timespec="seconds"),
            "finished": finished.isoformat(timespec="seconds"),
            "seconds": round(seconds, 6),
            "cpu": {
                "coordinator_seconds": round(own_now - own_start, 6),
                "workers_seconds": None if workers_cpu is None else round(workers_cpu, 6),
            },
            **ledger.summary(),
            "stages": {
                stage_id: self._stage_report(stage_id, stats) for stage_id, stats in ledger.stages.items()
            },
            "warning_samples": [str(w) for w in ledger.warnings[:100]],
            **({"resumed": self.resumed} if self.resumed else {}),
            "plugin_load_failures": [
                {"name": f.name, "distribution": f.distribution, "error": f.error}
                for f in self.plugins.failures
            ],
        }
