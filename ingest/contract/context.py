"""What a stage gets besides its options: a handle on the run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional, Protocol

import attrs

from ingest.contract.document import Document
from ingest.contract.errors import error_frames
from ingest.contract.executor import Executor, InProcessExecutor
from ingest.contract.ledger import DropRecord, Ledger, RunWarning


class Plugins(Protocol):
    """What a stage may use of the pipeline's plugin host
    (:class:`ingest.host.plugin_manager.PluginHost`): its hooks."""

    @property
    def hook(self) -> Any:
        """pluggy's hook relay: ``hook.<name>(**kwargs)`` calls every implementation."""
        ...

    @property
    def manager(self) -> Any:
        """The ``pluggy.PluginManager`` behind it (``subset_hook_caller`` and the like)."""
        ...


#: ``(stage_id, phase, done, total)``: what a stage reports with
#: :meth:`StageContext.progress`; ``done`` and ``total`` may be None.
StageProgress = Callable[[str, str, Optional[int], Optional[int]], None]


@attrs.define
class StageContext:
    """Handed to every stage factory as ``factory(options, ctx)``.

    Attributes:
        stage_id: the id this use of the stage has in the config.
        stage_name: the stage's registered name.
        plugin: the name of the plugin that provides it.
        plugins: the pipeline's :class:`~ingest.host.plugin_manager.PluginHost`,
            for stages that call hooks (``ctx.plugins.hook.<name>(...)``).
        base_dir: the directory relative paths in the config are relative to.
        workdir: a scratch directory for this run (spools, state).
        executor: where the run's parallel work goes (an
            :class:`~ingest.contract.executor.Executor`: ``submit(fn, *args)`` returns a
            ``concurrent.futures.Future``, ``map(fn, items)`` yields results in
            order). ``[run] executor = "local"``: this process, or a pool of
            ``[run] workers`` processes; ``"ray"``: Ray tasks. A corpus-level
            stage may spread its ``fit`` work over it; ``fn`` and its arguments
            must then be picklable. Per-document stages running in workers
            get an in-process one.
        workers: the run's worker count (``[run] workers``, 0 resolved to the
            number of cores). Per-document stages are spread over that many
            processes by the runner; a corpus-level stage may use it to size
            its own parallel work (the dedup stage hashes on that many cores).
        on_progress: where :meth:`progress` reports go (``ingest run`` draws
            them on a terminal); None: nowhere.
        planned_inputs: in a sharded run, how many inputs it planned (files,
            or lines of a JSON Lines source: the shards times ``[run]
            shard_files``, the last shards may hold fewer), fixed by the input
            alone: a stage combined in partitions may size its partitions by
            it; None in a run that is not sharded.
        shard_folder: in a shard's task, while the stage's ``shard_pass`` runs:
            the shard's folder for this phase, where the stage may write files
            of its own (named after the stage, e.g. ``dedup-signatures.u32``)
            that its partition tasks read from ``corpus.stage_folder(shard)``;
            they go with the shard's spool. None anywhere else.
    """

    stage_id: str
    stage_name: str
    plugin: str | None
    ledger: Ledger
    plugins: Plugins | None = None
    base_dir: str = "."
    workdir: str | None = None
    distribution: str | None = None
    version: str | None = None
    executor: Executor = attrs.field(factory=InProcessExecutor)
    workers: int = 1
    on_progress: StageProgress | None = None
    planned_inputs: int | None = None
    shard_folder: str | None = None

    def progress(self, phase: str, done: int | None = None, total: int | None = None) -> None:
        """Say what a long-running stage is doing, for the user to watch:
        ``ctx.progress("hashing documents", 20000)``, ``ctx.progress("verifying
        candidate pairs", 1500, 40000)``. Call it when a phase starts and
        every few thousand items, never per document: ``ingest run`` draws it
        on the terminal (nothing when stderr is not one, or outside a run)."""
        if self.on_progress is not None:
            self.on_progress(self.stage_id, phase, done, total)

    def drop_error(self, doc: Document | str, exc_text: str, *, exc: BaseException | None = None) -> None:
        """Record a document on which the stage raised: the error, the stage,
        and the plugin with its distribution and version, so a broken plugin
        points at itself. With ``exc`` (as caught) the innermost frames of its
        traceback go into ``details["traceback"]`` as ``"file:line in function"``."""
        details: dict[str, Any] = {"error": exc_text}
        if exc is not None:
            frames = error_frames(exc)
            if frames:
                details["traceback"] = frames
        if self.distribution:
            details["plugin_distribution"] = self.distribution
        if self.version:
            details["plugin_version"] = self.version
        self.drop(doc, "error", **details)

    def drop(
        self,
        doc: Document | str,
        reason: str,
        *,
        duplicate_of: str | None = None,
        **details: Any,
    ) -> None:
        """Record that ``doc`` leaves the run here, and why.

        Stream stages call this for every document they do not yield.
        ``doc`` may be an id when there is no document (an unreadable file).
        """
        if isinstance(doc, Document):
            record = DropRecord(
                id=doc.id,
                stage=self.stage_id,
                plugin=self.plugin,
                reason=reason,
                duplicate_of=duplicate_of,
                details=details,
                text=doc.text,
                path=doc.origin.path if doc.origin else None,
                metadata=doc.metadata,
                history=list(doc.history),
            )
        else:
            record = DropRecord(
                id=str(doc),
                stage=self.stage_id,
                plugin=self.plugin,
                reason=reason,
                duplicate_of=duplicate_of,
                details={k: v for k, v in details.items() if k != "path"},
                path=details.get("path"),
            )
        self.ledger.record_drop(record)

    def warn(
        self,
        message: str,
        *,
        doc: Document | None = None,
        line: int | None = None,
    ) -> None:
        """Record a warning that does not drop anything (counted in the report)."""
        self.ledger.record_warning(
            RunWarning(
                stage=self.stage_id,
                message=message,
                doc_id=doc.id if doc else None,
                path=doc.origin.path if doc is not None and doc.origin else None,
                line=line,
            )
        )
