"""Sharded runs: the input cut into shards, each one a task that reads its own
inputs, runs the stages and writes its own output files.

A shard is fixed by the input alone (the source's :meth:`plan`: so many files
in their reading order), never by the number of workers, so a run writes the
same files for any worker count and executor. The coordinator plans, hands
the shards to the executor, adds up their ledgers and combines what the
corpus-level stages learnt from each shard; it reads no input.

While a run is going, each shard works in a folder of its own inside the
output folder::

    .ingest-shards/plan.json                    what was planned (config fingerprint, inputs)
    .ingest-shards/parts.pickle                 the source's parts (read a part at a time)
    .ingest-shards/combined-0.json              a corpus-level stage combined (after phase 0)
    .ingest-shards/models-0-0003.pickle         a partitioned stage's models from partition 3
                                                (after phase 0), every shard's, packed
    .ingest-shards/00000/p0/                    phase 0's files: drop records, the spool for
                                                the next corpus-level stage, its part and model
    .ingest-shards/00000/p0.json                phase 0's completion record, written last
    .ingest-shards/00000/p0/stage-files/        files the corpus-level stage wrote of its own in
                                                the shard (dedup's signature rows), kept as long
                                                as the spool
    .ingest-shards/00000/p2/documents.jsonl     the last phase's files (the sink's shard writer's)
    .ingest-shards/round-1-0-0002.pickle        a stage combined in rounds: what task 2 of round 0
                                                (after phase 1) passes to each task of the next round
    .ingest-shards/scratch-1-0000/              a partition task's temporary files, removed
                                                when the task ends

A stage combined in partitions (:func:`partitions_of`) keeps a piece of its
part per partition, all in one file of the shard's (``pieces.pickle``), and
gets a model from each partition's task, each task writing every shard's in
one file (``models-N-PPPP.pickle``; see :mod:`ingest.engine.packed`): the tasks,
one per partition, run on the executor once every shard has passed the phase
(:func:`run_partition`), so the coordinator touches none of what the stage
learns. A stage may combine in several *rounds* of partition tasks
(:func:`rounds_of`): each round's task gets its piece of every shard and what
each task of the round before passed it (``round-N-R-TTTT.pickle``), and the
last round makes the models.

A pipeline with corpus-level stages runs in phases. Phase 0 reads the shard's
inputs and runs the per-document stages up to the first corpus-level stage,
whose input it spools in the shard's folder while the stage's ``shard_pass``
looks at it (the lexicon's fingerprints, dedup's signatures), keeping what it
returns (the shard's *part*). The coordinator then hands every shard's part, in
shard order, to the stage's ``combine``, which returns what each shard needs to
apply the stage (its *model*: the lexicon's lines of the shard's sites, dedup's
decisions on the shard's documents). Phase 1 reads the spool, applies the stage
with the model, runs the next per-document stages, and so on; the last phase
writes the output. Each phase of a shard leaves its own completion record
(``p0.json``, ``p1.json``, ...; the combine of a stage ``combined-N.json``), so a
run killed halfway and started again with the same config and input redoes only
what is unfinished. When the run completes, the sink moves the last phase's
files into place (``documents-00000.jsonl``, ...), the report last, and the
folder goes.
"""

from __future__ import annotations

import array
import bisect
import contextlib
import hashlib
import itertools
import json
import os
import pickle
import shutil
import time
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, cast

import attrs

from ingest.contract.context import StageContext
from ingest.contract.document import Document
from ingest.contract.errors import UnwritableDocument
from ingest.contract.ledger import SOURCE_STAGE, DropRecord, Ledger
from ingest.engine.atomic import atomic_write
from ingest.engine.document_stage import apply_document_stage, error_text
from ingest.engine.packed import read_item, read_items, write_packed
from ingest.engine.parallel import SegmentStage
from ingest.engine.run_support import release_memory, steady_heap
from ingest.engine.spool import Spool
from ingest.engine.stream_stage import run_stream_stage

#: The folder, inside the output folder, where shards work until the run completes.
SHARDS_FOLDER = ".ingest-shards"
#: In a phase's folder: the documents spooled for the next corpus-level stage,
#: where each one starts, what the stage's ``shard_pass`` returned, and the model
#: its ``combine`` made for the shard.
SPOOL_NAME = "spool.pickle"
OFFSETS_NAME = "spool.offsets"
PART_NAME = "part.pickle"
MODEL_NAME = "model.pickle"
#: A partitioned stage's (see :func:`partitions_of`): in a phase's folder, the
#: shard's piece for each partition, packed; in the shards folder, the models
#: partition ``p``'s task made after phase ``n`` for every shard, packed.
PIECES_NAME = "pieces.pickle"
#: In a phase's folder: the folder for files the corpus-level stage writes of its own
#: (``ctx.shard_folder`` during its ``shard_pass``)
STAGE_FILES_NAME = "stage-files"
MODELS_NAME = "models-{}-{:04d}.pickle"
#: A stage combined in rounds: in the shards folder, what task ``t`` of round ``r``
#: after phase ``n`` passes on, one item for each task of the next round, packed.
ROUND_NAME = "round-{}-{}-{:04d}.pickle"
#: Documents a shard's task takes through the per-document stages together, stage
#: after stage (see :func:`_per_document`).
STAGE_BATCH = 64
#: in the shards' folder: a partition task's scratch folder (its phase, its partition;
#: in a round before the last, its phase and round)
SCRATCH_NAME = "scratch-{}-{:04d}"
ROUND_SCRATCH_NAME = "scratch-{}-r{}-{:04d}"
#: What the run planned: a later run resumes the shards only if it plans the same.
PLAN_NAME = "plan.json"
#: The source's parts, packed (see :class:`PlannedParts`).
PARTS_NAME = "parts.pickle"
#: Version of the completion records and of what the shards keep beside them (5: plans
#: that end in smaller shards, their digest written first part last, as of 2026-12-07);
#: others are not resumed.
FORMAT = 5


@attrs.frozen
class Phase:
    """What one phase of every shard runs: the corpus-level stage it applies first
    (``None`` in phase 0, which reads the source), the per-document stages after
    it, and the corpus-level stage whose input it spools (``None`` in the last
    phase, which writes the output)."""

    number: int
    apply: str | None
    stage_ids: tuple[str, ...]
    spool_for: str | None

    @property
    def last(self) -> bool:
        return self.spool_for is None

    @property
    def stages(self) -> list[str]:
        """The ids of the stages the phase runs, in order (a corpus-level stage at
        either end: the one it applies, the one whose first pass it makes)."""
        return [s for s in (self.apply, *self.stage_ids, self.spool_for) if s is not None]


def phases_of(stages: Sequence[tuple[str, bool]]) -> list[Phase]:
    """The phases of a pipeline given as ``(stage id, per-document)`` pairs: a
    new phase after each corpus-level stage."""
    phases: list[Phase] = []
    apply: str | None = None
    segment: list[str] = []
    for stage_id, per_document in stages:
        if per_document:
            segment.append(stage_id)
            continue
        phases.append(Phase(len(phases), apply, tuple(segment), stage_id))
        apply, segment = stage_id, []
    phases.append(Phase(len(phases), apply, tuple(segment), None))
    return phases


@attrs.frozen
class ShardTask:
    """What one phase of one shard needs: the source's part of the input
    (from its ``plan``), the shard's folder, the sink's shard writer for the
    phase's files (see :class:`~ingest.contract.specs.Sink`), the phase, and
    the files of the shard's earlier phases' drop records, which the last
    phase's files take in first."""

    index: int
    part: Any
    folder: str
    writer: Any
    phase: Phase
    workdir: str | None = None
    carry: tuple[tuple[str, str], ...] = ()
    #: how many inputs the run planned (see StageContext.planned_inputs)
    planned_inputs: int | None = None


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

    def corpus_stage(
        self, stage_id: str, ledger: Ledger, *, planned_inputs: int | None = None
    ) -> tuple[Any, StageContext]:
        """The corpus-level stage ``stage_id``, built with a context recording into
        ``ledger`` (and telling it how many inputs the run planned)."""
        ...


def shard_folder(root: str | os.PathLike[str], index: int) -> Path:
    """The working folder of shard ``index`` under ``root`` (the shards folder)."""
    return Path(root) / f"{index:05d}"


def phase_folder(folder: str | os.PathLike[str], number: int) -> Path:
    """Where phase ``number`` of a shard keeps its files."""
    return Path(folder) / f"p{number}"


def record_path(folder: str | os.PathLike[str], number: int) -> Path:
    """The completion record of phase ``number`` of a shard."""
    return Path(folder) / f"p{number}.json"


def run_shard(task: ShardTask, host: ShardHost) -> dict[str, Any]:
    """Run one phase of one shard: read its inputs (phase 0: the source's part;
    later: the spool the phase before wrote, through the corpus-level stage it
    applies, with the model the coordinator wrote for the shard), run the
    per-document stages, and either spool what is left for the next
    corpus-level stage (keeping what its ``shard_pass`` returns) or write it
    through the sink's shard writer. Then the phase's completion record: the
    files written, the spool, and the phase's ledger (:meth:`Ledger.state`),
    which it also returns.

    A document a stage raises on is recorded as that stage's error, as in any
    run; an error reading the input or writing the files fails the task (and
    the run), and leaves no completion record."""
    phase = task.phase
    work = phase_folder(task.folder, phase.number)
    if work.exists():
        shutil.rmtree(work)  # what an interrupted attempt left
    work.mkdir(parents=True)
    ledger = Ledger(keep_records=False)
    writer = task.writer
    writer.open(list(task.carry))
    spool: Spool | None = None
    record: dict[str, Any] = {"format": FORMAT, "index": task.index, "phase": phase.number}
    try:
        ledger.listeners.append(writer.write_dropped)
        ledger.listeners.extend(host.drop_listeners())
        docs = _phase_input(task, host, ledger)
        stages = []
        for stage in host.segment_stages(phase.stage_ids, task.workdir):
            ctx = stage.make_context(ledger)
            stats = ledger.stage_stats(stage.stage_id, ctx.stage_name)
            stages.append((stage.factory(stage.options, ctx), ctx, stats))
        kept = _per_document(docs, stages, ledger)
        if phase.spool_for is not None:
            spool = Spool(path=str(work / SPOOL_NAME))
            stage, ctx = host.corpus_stage(phase.spool_for, ledger, planned_inputs=task.planned_inputs)
            ctx.shard_folder = str(work / STAGE_FILES_NAME)  # for files of the stage's own
            (work / STAGE_FILES_NAME).mkdir()
            stats = ledger.stages[phase.spool_for]
            part = _shard_pass(stage, ctx, stats, kept, spool)
            spool.finish()
            record["parts"] = _write_parts(work, part, stage, ctx)
            cut = pieces_cut(stage)
            if cut is not None:
                record["pieces"] = cut
            spool.save_offsets(str(work / OFFSETS_NAME))
            record["spool"] = {"count": spool.count, "bytes": os.path.getsize(spool.path)}
        else:
            sink_ctx = host.sink_context(ledger)
            for doc in kept:
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
        if spool is not None:
            spool.close(delete=False)
        raise
    record["files"] = files
    record["ledger"] = ledger.state()
    with atomic_write(record_path(task.folder, phase.number)) as fh:
        fh.write(json.dumps(record, default=str))
    if phase.number > 0:
        _release_input(task.folder, phase.number - 1)
    return record


def _phase_input(task: ShardTask, host: ShardHost, ledger: Ledger) -> Iterator[Document]:
    """The documents a phase starts from: the source's (counted as the run's
    input) in phase 0, else the previous phase's spool through the corpus-level
    stage this phase applies."""
    phase = task.phase
    if phase.apply is None:
        source = host.shard_source(ledger)
        if callable(getattr(source, "shard_keys", None)):  # ids checked across the shards first
            return _counted(iter(source.read_shard(task.part, read_taken(task.folder))), ledger)
        return _counted(iter(source.read_shard(task.part)), ledger)
    earlier = phase_folder(task.folder, phase.number - 1)
    stage, ctx = host.corpus_stage(phase.apply, ledger, planned_inputs=task.planned_inputs)
    partitions = partitions_of(stage)
    if partitions is None:
        stage.use_shard(read_model(earlier))
    else:
        stage.use_shard(read_model_pieces(Path(task.folder).parent, phase.number - 1, partitions, task.index))
    spooled = ShardSpool(str(earlier)).documents()
    return run_stream_stage(stage, ctx, ledger.stages[phase.apply], spooled)


def partitions_of(stage: Any) -> int | None:
    """How many partitions a corpus-level stage combines its shards in (its
    ``shard_partitions()``; with rounds, the last round's), the models each shard
    gets, or None for a stage that combines them in one ``combine`` in the
    coordinator (see docs/hooks.md)."""
    rounds = rounds_of(stage)
    return None if rounds is None else rounds[-1]


def rounds_of(stage: Any) -> tuple[int, ...] | None:
    """How many partition tasks each round of a partitioned stage's combine has:
    its ``shard_rounds()`` (the last round's tasks make the models), or one round
    of ``shard_partitions()``; None for a stage combined in the coordinator."""
    rounds = getattr(stage, "shard_rounds", None)
    if rounds is not None:
        counts = tuple(int(c) for c in (rounds() if callable(rounds) else rounds))
        if not counts or min(counts) < 1:
            raise ValueError(f"shard_rounds() gave {list(counts)}: a task or more in each round")
        return counts
    count = getattr(stage, "shard_partitions", None)
    return None if count is None else (int(count() if callable(count) else count),)


def in_rounds(stage: Any) -> bool:
    """Whether the stage declares rounds (``shard_rounds``): its ``shard_pass`` returns
    a list of pieces per round, and its tasks get what the round before passed on."""
    return getattr(stage, "shard_rounds", None) is not None


def pieces_cut(stage: Any) -> int | list[int] | None:
    """What a shard's completion record says its pieces were cut for: the partitions,
    or each round's (a resumed run checks that the stage still cuts them so)."""
    rounds = rounds_of(stage)
    if rounds is None:
        return None
    return list(rounds) if in_rounds(stage) else rounds[0]


def _write_parts(work: Path, part: Any, stage: Any, ctx: StageContext) -> list[str]:
    """Keep what ``shard_pass`` returned: one file, or the pieces for each partition
    (of each round) packed in one."""
    rounds = rounds_of(stage)
    if rounds is None:
        with atomic_write(work / PART_NAME, "wb") as fh:
            pickle.dump(part, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return [PART_NAME]
    where = f"stage {ctx.stage_id!r} ({ctx.stage_name}, plugin {ctx.plugin}): shard_pass returned"
    if in_rounds(stage):
        if not isinstance(part, (list, tuple)) or len(part) != len(rounds):
            got = f"{len(part)} lists" if isinstance(part, (list, tuple)) else type(part).__name__
            raise RuntimeError(f"{where} {got} for {len(rounds)} rounds (shard_rounds(): {list(rounds)})")
        for number, (pieces, count) in enumerate(zip(part, rounds)):
            if not isinstance(pieces, (list, tuple)) or len(pieces) != count:
                got = f"{len(pieces)} pieces" if isinstance(pieces, (list, tuple)) else type(pieces).__name__
                raise RuntimeError(f"{where} {got} for round {number}'s {count} partitions (shard_rounds())")
        write_packed(work / PIECES_NAME, (piece for pieces in part for piece in pieces))
        return [PIECES_NAME]
    if not isinstance(part, (list, tuple)) or len(part) != rounds[0]:
        got = f"{len(part)} pieces" if isinstance(part, (list, tuple)) else type(part).__name__
        raise RuntimeError(f"{where} {got} for {rounds[0]} partitions (shard_partitions())")
    write_packed(work / PIECES_NAME, part)
    return [PIECES_NAME]


def read_model(folder: str | os.PathLike[str]) -> Any:
    """What the combine made for a shard, in the folder of the phase before."""
    with open(Path(folder) / MODEL_NAME, "rb") as fh:
        return pickle.load(fh)


def read_model_pieces(root: str | os.PathLike[str], number: int, partitions: int, index: int) -> list[Any]:
    """What each partition's task made for shard ``index`` after phase ``number``, in partition order."""
    return [read_item(Path(root) / MODELS_NAME.format(number, p), index) for p in range(partitions)]


@attrs.frozen
class PartitionTask:
    """One partition of a partitioned corpus-level stage's combine (see
    :func:`run_partition`): the stage, the phase whose shards' pieces it takes,
    the partition, the shards' folders and how many documents each spooled; for a
    stage combined in rounds, the round and every round's task count."""

    stage_id: str
    number: int
    index: int
    folders: tuple[str, ...]
    spooled: tuple[int, ...]
    planned_inputs: int | None = None
    round: int = 0
    rounds: tuple[int, ...] | None = None


def run_partition(task: PartitionTask, host: ShardHost) -> dict[str, Any]:
    """Run a partitioned stage's ``combine_partition`` over piece ``task.index`` of
    every shard (in shard order), write the models it makes, one per shard, into
    the partition's file in the shards folder as they come (a generator of them
    keeps one in memory), and return its summary and its ledger
    (:meth:`Ledger.state`: the stage's time and statistics).

    For a stage combined in rounds (``task.rounds``), a task of a round before the
    last calls ``exchange_partition`` instead and writes what it passes to each
    task of the next round; a task of any round after the first also gets what
    every task of the round before passed it (``earlier``)."""
    # the task's phases do not leave their freed arrays in the worker's memory
    with steady_heap():
        return _run_partition(task, host)


def _run_partition(task: PartitionTask, host: ShardHost) -> dict[str, Any]:
    ledger = Ledger(keep_records=False)
    stage, ctx = host.corpus_stage(task.stage_id, ledger, planned_inputs=task.planned_inputs)
    stats = ledger.stages[task.stage_id]
    root = Path(task.folders[0]).parent
    rounds = task.rounds
    last = rounds is None or task.round == len(rounds) - 1
    # beside the shards, on the output's disk (the system's temporary folder may be small)
    name = SCRATCH_NAME.format(task.number, task.index)
    scratch = root / (name if last else ROUND_SCRATCH_NAME.format(task.number, task.round, task.index))
    corpus = ShardedCorpus(task.folders, task.number, _Finished(task.spooled), scratch=scratch)
    first = 0 if rounds is None else sum(rounds[: task.round])  # this round's pieces in a shard's file
    pieces = _pieces_of(task.folders, task.number, first + task.index)
    where = f"partition {task.index}" if rounds is None else f"round {task.round}, partition {task.index}"
    if last:
        target, expected = root / MODELS_NAME.format(task.number, task.index), len(task.folders)
    else:
        assert rounds is not None
        target, expected = (
            root / ROUND_NAME.format(task.number, task.round, task.index),
            rounds[task.round + 1],
        )
    earlier = (
        _passed_to(root, task.number, task.round - 1, rounds[task.round - 1], task.index)
        if rounds is not None and task.round > 0
        else _ItemOfEach([], task.index)  # round 0: nothing passed on yet
    )

    start = time.perf_counter()
    summary = None
    try:
        scratch.mkdir(exist_ok=True)
        if rounds is None:
            made, summary = stage.combine_partition(task.index, pieces, corpus)
        elif last:
            made, summary = stage.combine_partition(task.index, pieces, corpus, earlier)
        else:
            made = stage.exchange_partition(task.round, task.index, pieces, earlier, corpus)
        count = write_packed(target, made)
    except Exception as exc:
        raise RuntimeError(
            f"stage {ctx.stage_id!r} ({ctx.stage_name}, plugin {ctx.plugin}) failed while combining its "
            f"shards ({where}): {error_text(exc)}"
        ) from exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if count != expected:
        os.unlink(target)
        made_what = f"{count} models for {expected} shards"
        if not last:
            made_what = f"{count} outputs for the next round's {expected} partitions"
        method = "combine_partition" if last else "exchange_partition"
        raise RuntimeError(
            f"stage {ctx.stage_id!r} ({ctx.stage_name}, plugin {ctx.plugin}): {method} returned {made_what} ({where})"
        )
    stats.seconds += time.perf_counter() - start
    del made, stage
    release_memory()
    return {"index": task.index, "round": task.round, "summary": summary, "ledger": ledger.state()}


class _ItemOfEach:
    """Item ``index`` of each packed file of ``paths``, in order, read each time it is
    iterated (one in memory at a time): a partition's piece of every shard, or what
    each task of the round before passed to a task."""

    def __init__(self, paths: Sequence[Path], index: int) -> None:
        self.paths = list(paths)
        self.index = index

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[Any]:
        for path in self.paths:
            yield read_item(path, self.index)


def _pieces_of(folders: Sequence[str], number: int, index: int) -> _ItemOfEach:
    """Piece ``index`` of every shard's pieces after phase ``number``, in shard order."""
    return _ItemOfEach([phase_folder(folder, number) / PIECES_NAME for folder in folders], index)


def _passed_to(root: Path, number: int, previous: int, tasks: int, index: int) -> _ItemOfEach:
    """What each of the ``tasks`` tasks of round ``previous`` passed to task ``index`` of the next."""
    return _ItemOfEach([root / ROUND_NAME.format(number, previous, task) for task in range(tasks)], index)


def remove_rounds(root: str | os.PathLike[str], number: int, rounds: Sequence[int]) -> None:
    """Delete what the rounds before the last passed on, once the models are written."""
    for previous, tasks in enumerate(rounds[:-1]):
        for task in range(tasks):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(Path(root) / ROUND_NAME.format(number, previous, task))


class _Finished:
    """The spool counts of a phase whose shards have all finished, as
    :class:`ShardedCorpus` asks for them (a partition's task gets them)."""

    def __init__(self, spooled: Sequence[int]) -> None:
        self.taken = [{"spool": {"count": count}} for count in spooled]

    def get(self, index: int) -> dict[str, Any]:
        return self.taken[index]

    def finish(self) -> list[dict[str, Any]]:
        return self.taken


#: A source that checks its records' ids across shards (its ``shard_keys``) has them
#: split in this many partitions by a checksum, a task each.
KEY_PARTITIONS = 8
#: In a shard's folder: its ids by partition, and those an earlier record has.
KEYS_FOLDER = "keys"
KEYS_PIECE_NAME = "keys-{:04d}.pickle"
TAKEN_PIECE_NAME = "taken-{:04d}.pickle"
#: In the shards folder: the ids were checked (the shards' taken files are complete).
KEYS_RECORD = "keys.json"


@attrs.frozen
class KeysTask:
    """Read one shard's ids (the source's ``shard_keys`` of its part)."""

    index: int
    part: Any
    folder: str


def run_keys(task: KeysTask, host: ShardHost) -> int:
    """Split the ids the shard's records claim, in reading order, by partition into the
    shard's folder; returns how many. Nothing is recorded: phase 0 reads the shard again."""
    source = host.shard_source(Ledger(keep_records=False))
    pieces: list[list[tuple[str, str]]] = [[] for _ in range(KEY_PARTITIONS)]
    crc32 = zlib.crc32
    for key, where in source.shard_keys(task.part):
        pieces[crc32(key.encode("utf-8", "surrogatepass")) % KEY_PARTITIONS].append((key, where))
    work = Path(task.folder) / KEYS_FOLDER
    work.mkdir(parents=True, exist_ok=True)
    for index, piece in enumerate(pieces):
        with atomic_write(work / KEYS_PIECE_NAME.format(index), "wb") as fh:
            pickle.dump(piece, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return sum(map(len, pieces))


@attrs.frozen
class KeyPartitionTask:
    """Find the ids of one partition that an earlier record has, over every shard."""

    index: int
    folders: tuple[str, ...]


def run_key_partition(task: KeyPartitionTask) -> int:
    """Go through the partition's ids of every shard in shard order: the first record
    with an id keeps it, each later one is taken (``where`` -> where the first is),
    written into its shard's folder. Returns how many were taken."""
    first: dict[str, str] = {}
    count = 0
    for folder in task.folders:
        work = Path(folder) / KEYS_FOLDER
        with open(work / KEYS_PIECE_NAME.format(task.index), "rb") as fh:
            piece = pickle.load(fh)
        taken: dict[str, str] = {}
        for key, where in piece:
            earlier = first.get(key)
            if earlier is None:
                first[key] = where
            else:
                taken[where] = earlier
        count += len(taken)
        with atomic_write(work / TAKEN_PIECE_NAME.format(task.index), "wb") as fh:
            pickle.dump(taken, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return count


def read_taken(folder: str | os.PathLike[str]) -> dict[str, str]:
    """The records of a shard whose id an earlier record has (see :func:`run_key_partition`)."""
    taken: dict[str, str] = {}
    for index in range(KEY_PARTITIONS):
        with open(Path(folder) / KEYS_FOLDER / TAKEN_PIECE_NAME.format(index), "rb") as fh:
            taken.update(pickle.load(fh))
    return taken


def keys_found(root: str | os.PathLike[str], folders: Sequence[Path]) -> bool:
    """Whether an interrupted run checked the ids (its record and every taken file are there)."""
    if not (Path(root) / KEYS_RECORD).is_file():
        return False
    names = [TAKEN_PIECE_NAME.format(index) for index in range(KEY_PARTITIONS)]
    return all((Path(folder) / KEYS_FOLDER / name).is_file() for folder in folders for name in names)


def write_keys_found(root: str | os.PathLike[str], folders: Sequence[Path], taken: int) -> None:
    """Record that the ids were checked, and delete the ids themselves."""
    with atomic_write(Path(root) / KEYS_RECORD) as fh:
        fh.write(json.dumps({"format": FORMAT, "taken": taken}))
    for folder in folders:
        for index in range(KEY_PARTITIONS):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(Path(folder) / KEYS_FOLDER / KEYS_PIECE_NAME.format(index))


def _counted(docs: Iterator[Document], ledger: Ledger) -> Iterator[Document]:
    stats = ledger.stages[SOURCE_STAGE]
    clock = time.perf_counter
    while True:
        start = clock()
        doc = next(docs, None)
        stats.seconds += clock() - start
        if doc is None:
            return
        ledger.input_count += 1
        stats.documents_out += 1
        yield doc


def _per_document(
    docs: Iterator[Document], stages: list[tuple[Any, StageContext, Any]], ledger: Ledger
) -> Iterator[Document]:
    """The documents through the per-document stages, :data:`STAGE_BATCH` at a time,
    stage after stage: each stage's code and data stay in the processor's caches for
    the batch. What reading a document and each stage record (drops, warnings) is
    held and replayed in the order one document at a time makes it, so the files
    and the report are the same."""
    if not stages:
        yield from docs
        return
    while True:
        pulled: list[tuple[list[tuple[str, Any]], Document | None]] = []
        while len(pulled) < STAGE_BATCH:
            with ledger.holding() as before:  # the source's drops and warnings before this document
                doc = next(docs, None)
            pulled.append((before, doc))
            if doc is None:
                break
        current = [doc for _, doc in pulled if doc is not None]
        events: list[list[tuple[str, Any]]] = [[] for _ in current]
        alive = list(range(len(current)))
        for fn, ctx, stats in stages:
            passed = []
            for i in alive:
                with ledger.holding() as held:
                    result = apply_document_stage(fn, ctx, stats, current[i])
                events[i] += held
                if result is not None:
                    current[i] = result
                    passed.append(i)
            alive = passed
        kept = set(alive)
        for i, (before, doc) in enumerate(pulled):
            ledger.replay(before)
            if doc is None:
                return
            ledger.replay(events[i])
            if i in kept:
                yield current[i]


def _shard_pass(stage: Any, ctx: StageContext, stats: Any, docs: Iterator[Document], spool: Spool) -> Any:
    """The stage's ``shard_pass`` over the documents, each spooled as the stage
    takes it (the rest spooled after, should the stage stop early); its time
    goes to the stage."""
    clock = time.perf_counter
    outside = 0.0  # fetching a document (upstream's time) and spooling it

    def spooled() -> Iterator[Document]:
        nonlocal outside
        it = iter(docs)
        while True:
            start = clock()
            doc = next(it, None)
            if doc is not None:
                spool.write(doc)
            outside += clock() - start
            if doc is None:
                return
            yield doc

    feed = spooled()
    start = clock()
    try:
        part = stage.shard_pass(feed)
    except Exception as exc:
        raise RuntimeError(
            f"stage {ctx.stage_id!r} ({ctx.stage_name}, plugin {ctx.plugin}) failed while reading the corpus: "
            f"{error_text(exc)}"
        ) from exc
    stats.seconds += clock() - start - outside
    for _doc in feed:
        pass
    return part


class TaskFailed(Exception):
    """A shard's task failed while a corpus-level stage's ``combine`` was reading
    the parts of the shards before it: carries the task's error through the stage."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(str(original))
        self.original = original


class PhaseRecords:
    """The completion records of one phase's tasks, in shard order, taken as the
    tasks finish (``on_record`` is called with each, once, in order): a combine
    reads the first shards' parts while the others still run."""

    def __init__(
        self, records: Iterator[dict[str, Any]], count: int, on_record: Callable[[dict[str, Any]], None]
    ) -> None:
        self._records = records
        self._on_record = on_record
        self.count = count
        self.taken: list[dict[str, Any]] = []
        #: seconds spent waiting for tasks (and taking their records) in :meth:`get`
        self.waited = 0.0

    def get(self, index: int) -> dict[str, Any]:
        """The record of shard ``index`` (waiting for its task, and those before it)."""
        while len(self.taken) <= index:
            start = time.perf_counter()
            try:
                record = next(self._records)
                self.taken.append(record)
                self._on_record(record)
            except StopIteration:
                raise IndexError(f"no shard {index}: the phase has {len(self.taken)}") from None
            except Exception as exc:
                raise TaskFailed(exc) from exc
            finally:
                self.waited += time.perf_counter() - start
        return self.taken[index]

    def finish(self) -> list[dict[str, Any]]:
        """Every record (waiting for every task)."""
        if self.count:
            self.get(self.count - 1)
        return self.taken


class ShardSpool:
    """The documents a shard's phase spooled for the next corpus-level stage:
    read whole, or a few at given positions."""

    def __init__(self, folder: str, count: int | None = None) -> None:
        self.folder = folder
        if count is None:
            with open(Path(folder).parent / f"{Path(folder).name}.json", encoding="utf-8") as fh:
                count = int(json.load(fh)["spool"]["count"])
        self.count = count

    def documents(self) -> Iterator[Document]:
        with open(os.path.join(self.folder, SPOOL_NAME), "rb") as fh:
            for _ in range(self.count):
                yield pickle.load(fh)

    def read_at(self, positions: Sequence[int]) -> Iterator[Document]:
        """The documents at ``positions`` (0-based in this spool, ascending)."""
        offsets = array.array("q")
        with open(os.path.join(self.folder, OFFSETS_NAME), "rb") as fh:
            offsets.frombytes(fh.read())
        end = os.path.getsize(os.path.join(self.folder, SPOOL_NAME))
        with open(os.path.join(self.folder, SPOOL_NAME), "rb", buffering=0) as fh:
            for i in positions:
                start = offsets[i]
                fh.seek(start)
                yield pickle.loads(fh.read((offsets[i + 1] if i + 1 < len(offsets) else end) - start))


class ShardedCorpus:
    """What a corpus-level stage's ``combine`` may read: the documents that
    reached the stage, in every shard, in shard order, as the unsharded run's
    spool offers them (iterable again and again, ``len``, and ``read_at`` for a
    few documents at given positions). Each shard's spool is there once its
    task has finished: iterating waits for the shards in turn, ``len`` and
    ``read_at`` for all of them."""

    indexed = True

    def __init__(
        self,
        folders: Sequence[str | os.PathLike[str]],
        number: int,
        records: PhaseRecords | _Finished,
        scratch: Path | None = None,
    ) -> None:
        self.folders = [phase_folder(folder, number) for folder in folders]
        self.records = records
        #: in a ``combine_partition`` task: a folder for the task's temporary files,
        #: beside the shards (on the output's disk), removed when the task ends
        self.scratch = scratch

    def stage_folder(self, shard: int) -> Path:
        """The folder where the stage's ``shard_pass`` wrote files of its own in
        shard ``shard`` (its ``ctx.shard_folder`` there)."""
        return self.folders[shard] / STAGE_FILES_NAME

    def starts(self) -> list[int]:
        """The position of each shard's first document, then how many there are
        (waiting for every shard)."""
        return self._starts()

    def spool(self, shard: int) -> ShardSpool:
        return ShardSpool(str(self.folders[shard]), self.records.get(shard)["spool"]["count"])

    def _starts(self) -> list[int]:
        counts = (record["spool"]["count"] for record in self.records.finish())
        return list(itertools.accumulate(counts, initial=0))

    def __len__(self) -> int:
        return self._starts()[-1]

    def __iter__(self) -> Iterator[Document]:
        for shard in range(len(self.folders)):
            yield from self.spool(shard).documents()

    def read_at(self, positions: Iterable[int]) -> Iterator[Document]:
        """The documents at ``positions`` (0-based over all shards, ascending)."""
        starts = self._starts()
        by_shard: dict[int, list[int]] = {}
        for position in positions:
            shard = bisect.bisect_right(starts, position) - 1
            by_shard.setdefault(shard, []).append(position - starts[shard])
        for shard, local in by_shard.items():
            yield from self.spool(shard).read_at(local)

    def parts(self) -> Iterator[Any]:
        """What the stage's ``shard_pass`` returned in each shard, in shard order,
        each as soon as its shard (and those before it) finished."""
        for shard, folder in enumerate(self.folders):
            self.records.get(shard)
            with open(folder / PART_NAME, "rb") as fh:
                yield pickle.load(fh)


def completed(
    folder: str | os.PathLike[str], index: int, number: int, *, spool: bool = False
) -> dict[str, Any] | None:
    """The completion record of phase ``number`` of shard ``index`` in ``folder``, if
    the phase finished (its record is there, readable, of this format, and its
    files are all there; with ``spool``, what it spooled for the next phase too)."""
    try:
        with open(record_path(folder, number), encoding="utf-8") as fh:
            record = json.load(fh)
    except (OSError, ValueError):
        return None
    if (
        not isinstance(record, dict)
        or record.get("format") != FORMAT
        or record.get("index") != index
        or record.get("phase") != number
    ):
        return None
    files = record.get("files")
    work = phase_folder(folder, number)
    if not isinstance(files, dict) or not all(
        isinstance(name, str) and (work / name).is_file() for name in files.values()
    ):
        return None
    parts = record.get("parts", [PART_NAME])
    if (
        spool
        and "spool" in record
        and not all((work / name).is_file() for name in (SPOOL_NAME, OFFSETS_NAME, *parts))
    ):
        return None
    return record


def _release_input(folder: str | os.PathLike[str], number: int) -> None:
    """Delete what phase ``number`` of a shard passed on to the next phase (its
    spool, its part, the model), once the next phase is complete: a sharded run
    keeps one generation of spools on disk, not one per corpus-level stage. The
    phase's drop records stay (the last phase takes them in)."""
    work = phase_folder(folder, number)
    for path in (work / name for name in (SPOOL_NAME, OFFSETS_NAME, PART_NAME, PIECES_NAME, MODEL_NAME)):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    shutil.rmtree(work / STAGE_FILES_NAME, ignore_errors=True)


def write_model(folder: str | os.PathLike[str], number: int, model: Any) -> None:
    """What the shard needs to apply the corpus-level stage after phase ``number``."""
    with atomic_write(phase_folder(folder, number) / MODEL_NAME, "wb") as fh:
        pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)


def plan_digest(parts: Sequence[Any]) -> str:
    """A checksum of the planned parts (their ``repr``: the sources' parts are attrs
    classes): of the first part, then of the rest (a plan written as it is listed
    knows its first part last; see :meth:`PlannedParts.write`)."""
    if isinstance(parts, PlannedParts):
        return parts.digest
    rest = hashlib.sha256()
    for part in itertools.islice(parts, 1, None):
        _note_part(rest, part)
    return _plan_digest(parts[0] if len(parts) else _NO_PART, rest)


#: what :func:`_plan_digest` is given for the first part of a plan without parts
_NO_PART = object()


def _plan_digest(first: Any, rest: Any) -> str:
    digest = hashlib.sha256()
    if first is not _NO_PART:
        _note_part(digest, first)
    digest.update(rest.hexdigest().encode("ascii"))
    return digest.hexdigest()


def _note_part(digest: Any, part: Any) -> None:
    digest.update(repr(part).encode("utf-8", "surrogatepass"))
    digest.update(b"\0")


def planned_list(plan: Iterable[Any]) -> list[Any]:
    """A source's plan as a list: its parts, the first replaced by what a generator
    returns at its end, if anything (see :meth:`PlannedParts.write`)."""
    end: list[Any] = []
    parts = list(_parts_then_end(plan, end))
    if end[0] is not None and parts:
        parts[0] = end[0]
    return parts


def _parts_then_end(plan: Iterable[Any], end: list[Any]) -> Iterator[Any]:
    """The parts of ``plan``, one at a time; then what a generator returned at its end
    (None for any other iterable) is appended to ``end``."""
    # a generator's ``return`` value is what ``yield from`` gives; a list's iterator gives None
    end.append((yield from cast(Generator[Any, None, Any], iter(plan))))


class PlannedParts(Sequence[Any]):
    """The source's parts of a sharded run (its plan) in a packed file instead of in
    memory: written as the source lists them, a part read when its shard's first task
    is handed out. A million files' plan held ~18 MB in the ``ingest run`` process
    while it was made, and in every worker process forked from it.

    The first part is written last (the file holds parts 1, 2, ..., then part 0): a
    source's plan may be a generator that gives back (``return``) its first part completed
    once the listing ends (``text_files``: with what the folder walk could not read,
    which only the end of the walk tells), so that no part waits in memory but that one."""

    def __init__(self, path: str, count: int, digest: str, *, temporary: bool = False) -> None:
        self.path, self.size, self.digest = path, count, digest
        #: written where the run's output folder is not yet known (see :meth:`move`)
        self.temporary = temporary

    @classmethod
    def write(
        cls, path: str | os.PathLike[str], parts: Iterable[Any], *, temporary: bool = False
    ) -> PlannedParts:
        """Keep ``parts`` in ``path`` (and their :func:`plan_digest`), one in memory at a
        time but the first; a generator may return a completed first part at its end."""
        rest = hashlib.sha256()
        first: list[Any] = []
        end: list[Any] = []
        count = 0

        # the parts after the first go to the file as they come; the first waits
        def written() -> Iterator[Any]:
            nonlocal count
            for part in _parts_then_end(parts, end):
                count += 1
                if count == 1:
                    first.append(part)
                    continue
                _note_part(rest, part)
                yield part
            if first:
                if end[0] is not None:
                    first[0] = end[0]
                yield first[0]

        write_packed(path, written())
        return cls(str(path), count, _plan_digest(first[0] if first else _NO_PART, rest), temporary=temporary)

    def move(self, path: str | os.PathLike[str]) -> None:
        """Move the file to ``path`` (the shards folder, once the run knows it)."""
        shutil.move(self.path, path)
        self.path, self.temporary = str(path), False

    def discard(self) -> None:
        """Remove the file if it is still where it was first written (temporary)."""
        if self.temporary:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            self.temporary = False

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[k] for k in range(*index.indices(self.size))]
        if index < 0:
            index += self.size
        if not 0 <= index < self.size:
            raise IndexError(f"{self.path}: no part {index} (the plan has {self.size})")
        return read_item(self.path, (index - 1) % self.size)  # part 0 is the file's last

    def __iter__(self) -> Iterator[Any]:
        if not self.size:
            return
        yield self[0]
        yield from itertools.islice(read_items(self.path), self.size - 1)


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


def write_combined(root: str | os.PathLike[str], number: int, record: dict[str, Any]) -> None:
    """Record that the corpus-level stage after phase ``number`` was combined (its
    models are in the shards' folders, or with ``record["partitions"]``, in the
    partitions' files in ``root``): its seconds and its statistics."""
    with atomic_write(Path(root) / f"combined-{number}.json") as fh:
        fh.write(json.dumps({"format": FORMAT, **record}, default=str))


def completed_work(
    root: str | os.PathLike[str], count: int, phases: int
) -> tuple[dict[tuple[int, int], dict[str, Any]], dict[int, dict[str, Any]]]:
    """What an interrupted run finished in ``root``: the completion record of each
    shard's phase, by ``(phase, shard)``, and of each combine whose models are all
    there, by the phase before it. A phase counts only when the phases before it
    count too (and their combines)."""
    done: dict[tuple[int, int], dict[str, Any]] = {}
    combined: dict[int, dict[str, Any]] = {}
    folders = [shard_folder(root, index) for index in range(count)]
    # a shard whose next phase is complete no longer needs what this one passed on
    passed_on = {
        (number, index): completed(folder, index, number + 1) is not None
        for number in range(phases - 1)
        for index, folder in enumerate(folders)
    }
    for number in range(phases):
        if number > 0:
            needed = [folder for index, folder in enumerate(folders) if not passed_on[(number - 1, index)]]
            record = _combined(root, number - 1, needed)
            if record is None:
                break
            combined[number - 1] = record
        for index, folder in enumerate(folders):
            if number > 0 and (number - 1, index) not in done:
                continue
            spool = number < phases - 1 and not passed_on[(number, index)]
            record = completed(folder, index, number, spool=spool)
            if record is not None:
                done[(number, index)] = record
        if any((number, index) not in done for index in range(count)):
            break  # the next combine needs every shard's part
    return done, combined


def _combined(root: str | os.PathLike[str], number: int, folders: list[Path]) -> dict[str, Any] | None:
    """The record of the combine after phase ``number``, if it is there and the
    shards in ``folders`` (those that still need it) have their models."""
    try:
        with open(Path(root) / f"combined-{number}.json", encoding="utf-8") as fh:
            record = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        return None
    partitions = record.get("partitions")
    if partitions is not None:
        names = [Path(root) / MODELS_NAME.format(number, p) for p in range(int(partitions))]
        return record if all(path.is_file() for path in names) else None
    if not all((phase_folder(folder, number) / MODEL_NAME).is_file() for folder in folders):
        return None
    return record
