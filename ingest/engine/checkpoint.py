"""Checkpoints, so a run killed mid-way continues where it stopped.

A run whose sink can checkpoint (the ``jsonl`` sink) and whose
``[run] checkpoint_every`` is above 0 keeps, in the sink's output folder:

* ``.ingest-checkpoint.json``: what is done (written atomically);
* the sink's partial files, under fixed names (``.documents.jsonl.partial``);
* ``.ingest-spool-<stage id>.pickle``: the input of the *barrier*, the first
  stage that is not per-document (a corpus-level stage such as ``dedup``),
  spooled there instead of in a temporary folder.

Why a prefix is enough. Per-document stages are lazy generators, and the
worker pool replays outcomes (upstream drops included) in input order, so
the *terminal events* of source items (a kept document written, a drop
written, a document spooled for the barrier) happen in source order. After
the N-th one, the first N source items are fully accounted for and nothing
of the later ones has reached the sink or the ledger: that is the cut. The
runner calls :meth:`Checkpointer.accounted` after each terminal event and
every ``checkpoint_every`` items the checkpoint records N, the sink's
byte offsets (the sink ends a compressed member there, so an uninterrupted
run and a resumed one cut at the same places and write the same bytes),
the spool's offset and the ledger's counts.

Two phases:

* ``stream`` (phase A): reading the source through the per-document stages
  into the sink or the barrier's spool. A resume truncates the partial files
  and the spool to the recorded offsets, restores the counts, skips exactly N
  source items (documents read and inputs the source drops, whose drops and
  warnings are then swallowed) and goes on.
* ``corpus`` (phase B): the spool is complete. The checkpoint records the
  sink's offsets at that moment; a resume truncates the sink back to them,
  does not read the source at all, and runs the barrier (``fit`` and the
  pass) and everything after it again from the spool: deterministic for any
  stage, and only the cheap part is repeated.

A checkpoint names the config it belongs to (a fingerprint of the resolved
config, the plugins and the ingest version; the worker count is not part of
it): a run with another config refuses to resume until told ``restart``.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import re
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from ingest.contract.ledger import SOURCE_STAGE, DropRecord, Ledger
from ingest.engine.atomic import atomic_write
from ingest.engine.spool import Spool

CHECKPOINT_NAME = ".ingest-checkpoint.json"
#: Bump when the checkpoint's layout changes; an older one is not resumed.
FORMAT = 1
STREAM = "stream"
CORPUS = "corpus"


class CheckpointError(Exception):
    """A checkpoint that cannot be used: its files are gone, or the input
    changed since it was written."""


def spool_path(folder: str | os.PathLike[str], stage_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", stage_id)
    return str(Path(folder) / f".ingest-spool-{safe}.pickle")


def _plain(value: Any) -> Any:
    """Options as plain, stable data (no memory addresses)."""
    if attrs.has(type(value)):
        return {f.name: _plain(getattr(value, f.name)) for f in attrs.fields(type(value))}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_plain(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return re.sub(r" at 0x[0-9A-Fa-f]+", "", repr(value))


def describe_config(config: Any, plugins: Any) -> dict[str, Any]:
    """What a checkpoint must match: every setting that can change the
    output. ``[run] workers``, ``executor``, ``ray_address``, ``workdir`` and
    ``keep_drop_records`` are left out (the output is the same for any
    worker count, locally or on Ray)."""
    from ingest.contract.version import __version__

    def stage(cfg: Any) -> dict[str, Any] | None:
        if cfg is None:
            return None
        return {"name": cfg.name, "enabled": cfg.enabled, "options": _plain(cfg.options)}

    described_plugins = {}
    for name, info in sorted(plugins.infos.items()):
        entry: dict[str, Any] = {"version": info.version}
        if info.location and os.path.isfile(info.location) and info.origin not in ("builtin", "entry point"):
            with contextlib.suppress(OSError):
                entry["sha256"] = hashlib.sha256(Path(info.location).read_bytes()).hexdigest()
        described_plugins[name] = entry
    return {
        "ingest_version": __version__,
        "source": stage(config.source),
        "sink": stage(config.sink),
        "pipeline": {cfg.id: stage(cfg) for cfg in config.stages},
        "order": [cfg.id for cfg in config.stages],
        "checkpoint_every": config.run.checkpoint_every,
        "plugins": described_plugins,
    }


def fingerprint(description: dict[str, Any]) -> str:
    canonical = json.dumps(description, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ (``dedup.options.threshold``)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return [prefix or "(config)"] if old != new else []
    found: list[str] = []
    for key in sorted(set(old) | set(new), key=str):
        where = f"{prefix}.{key}" if prefix else str(key)
        if key not in old or key not in new:
            found.append(where)
        else:
            found.extend(differences(old[key], new[key], where))
    return found


def load(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The checkpoint in ``folder``, or None. An unreadable one counts as none."""
    path = Path(folder) / CHECKPOINT_NAME
    try:
        with open(path, encoding="utf-8") as fh:
            state = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"format": None}
    return state if isinstance(state, dict) else {"format": None}


def remove(folder: str | os.PathLike[str], spools: list[str] = ()) -> None:  # type: ignore[assignment]
    """Delete the checkpoint (and any half-written copy a kill left), then
    the spools it refers to."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(Path(folder) / CHECKPOINT_NAME)
    for leftover in Path(folder).glob(f".{CHECKPOINT_NAME}.*.partial"):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
    for path in spools:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def stale_spools(folder: str | os.PathLike[str]) -> list[str]:
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [
        str(folder / n)
        for n in os.listdir(folder)
        if n.startswith(".ingest-spool-") and n.endswith(".pickle")
    ]


def item_signature(item: Any) -> int:
    """What a resume compares of a source item it skips with what the first
    run read: a document's id, length and file modification time; a source
    drop's id and reason. Cheap (no pass over the text), and an edited file
    has a new modification time."""
    if isinstance(item, DropRecord):
        key = f"{item.id}\0drop\0{item.reason}"
    else:
        origin = item.origin
        key = f"{item.id}\0{len(item.text)}\0{origin.mtime if origin is not None else ''}"
    return zlib.crc32(key.encode("utf-8", "surrogatepass"))


class Checkpointer:
    """Counts accounted source items and writes checkpoints for one run.

    ``upstream`` are the ids of the per-document stages before the barrier
    (``barrier``: the first stage that is not per-document, or None), in
    order; ``state`` the checkpoint being resumed, or None.
    """

    def __init__(
        self,
        *,
        folder: str | os.PathLike[str],
        every: int,
        sink: Any,
        ledger: Ledger,
        description: dict[str, Any],
        upstream: list[str],
        barrier: str | None,
        state: dict[str, Any] | None,
    ) -> None:
        self.folder = Path(folder)
        self.every = every
        self.sink = sink
        self.ledger = ledger
        self.description = description
        self.digest = fingerprint(description)
        self.upstream = upstream
        self.barrier = barrier
        self.resumed = state
        self.phase = state["phase"] if state else STREAM
        self.accounted = state["accounted"] if state else 0
        self.last_id: str | None = state.get("last_id") if state else None
        self.saved = state is not None
        #: source items read but not yet accounted, oldest first: (id, signature)
        self.inflight: collections.deque[tuple[str, int]] = collections.deque()
        #: CRC-32 of the signatures of the accounted items, in order (see :func:`item_signature`)
        self.inputs_crc = 0
        self.spool: Spool | None = None
        self.spool_path = spool_path(self.folder, barrier) if barrier else None
        self.spool_complete: tuple[int, int] | None = None

    # -- wiring --------------------------------------------------------------

    def track(self, record: DropRecord) -> None:
        """Ledger tracker: a source drop is a source item, read now."""
        if record.stage == SOURCE_STAGE and self.phase == STREAM:
            self.inflight.append((record.id, item_signature(record)))

    def pulled(self, doc: Any) -> None:
        """The runner read a document from the source."""
        if self.phase == STREAM:
            self.inflight.append((doc.id, item_signature(doc)))

    def on_drop(self, record: DropRecord) -> None:
        """Ledger listener (after the sink's): a drop is a terminal event."""
        if self.phase == STREAM:
            self.accounted_one()

    def on_kept(self) -> None:
        """The sink wrote a kept document."""
        if self.phase == STREAM:
            self.accounted_one()

    def accounted_one(self) -> None:
        if self.inflight:
            self.last_id, signature = self.inflight.popleft()
            self.inputs_crc = zlib.crc32(signature.to_bytes(4, "little"), self.inputs_crc)
        self.accounted += 1
        if self.accounted % self.every == 0:
            self.save()

    # -- resuming --------------------------------------------------------------

    def start_source(self) -> None:
        """Before the first source item: on a phase-A resume, restore the
        counts and skip the items already accounted for."""
        state = self.resumed
        if state is None or state["phase"] != STREAM:
            return
        self.ledger.restore(state["ledger"])
        expected = state.get("last_id")
        expected_crc = state.get("inputs_crc")

        def check(item: Any) -> None:
            self.inputs_crc = zlib.crc32(item_signature(item).to_bytes(4, "little"), self.inputs_crc)
            if self.ledger.source_to_skip > 0:
                return
            if expected is not None and item.id != expected:
                raise CheckpointError(
                    f"the input changed since the interrupted run: source item {state['accounted']} "
                    f"was {expected!r}, now it is {item.id!r}"
                )
            if expected_crc is not None and self.inputs_crc != expected_crc:
                raise CheckpointError(
                    f"the input changed since the interrupted run: of the {state['accounted']} inputs "
                    "already read, at least one was edited, replaced or renamed (its size or "
                    "modification time differs)"
                )

        self.ledger.skip_source(state["accounted"], check)

    def source_exhausted(self) -> None:
        if self.ledger.source_to_skip > 0:
            raise CheckpointError(
                f"the input changed since the interrupted run: it has fewer than "
                f"{self.resumed['accounted'] if self.resumed else '?'} items"
            )

    def open_spool(self) -> Spool:
        """The barrier's spool: new, or reopened at the checkpoint."""
        assert self.spool_path is not None
        resume = None
        if self.resumed is not None and self.resumed.get("spool"):
            saved = self.resumed["spool"]
            resume = (saved["bytes"], saved["count"])
        try:
            self.spool = Spool(path=self.spool_path, resume=resume)
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"the spool of the interrupted run cannot be reopened: {exc}") from exc
        return self.spool

    def completed_spool(self) -> Spool:
        """Phase-B resume: the complete spool, with the counts as they were."""
        assert self.resumed is not None and self.spool_path is not None
        saved = self.resumed["spool"]
        try:
            self.spool = Spool.existing(self.spool_path, saved["bytes"], saved["count"])
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"the spool of the interrupted run cannot be reopened: {exc}") from exc
        self.ledger.restore(self.resumed["ledger"])
        return self.spool

    def finish_spool(self) -> None:
        """Every upstream item is in the barrier's spool: phase B begins."""
        assert self.spool is not None
        self.spool.finish()
        self.save(CORPUS)
        self.phase = CORPUS

    # -- writing ---------------------------------------------------------------

    def _ledger_state(self) -> dict[str, Any]:
        """The ledger as it stands for exactly the first N source items.

        Counts per document stage are derived from the drops (a document
        goes in, and out or dropped): the worker pool merges them a batch at
        a time, so the live numbers can run ahead of the cut."""
        state = self.ledger.state()
        state["input"] = self.accounted
        stages = state["stages"]
        source = stages.get(SOURCE_STAGE)
        remaining = self.accounted
        if source is not None:
            remaining -= sum(source["dropped"].values())
            source["documents_out"] = remaining
        for stage_id in self.upstream:
            stats = stages.get(stage_id)
            if stats is None:
                continue
            stats["documents_in"] = remaining
            remaining -= sum(stats["dropped"].values())
            stats["documents_out"] = remaining
        return state

    def save(self, phase: str = STREAM) -> None:
        state: dict[str, Any] = {
            "format": FORMAT,
            "fingerprint": self.digest,
            "config": self.description,
            "phase": phase,
            "accounted": self.accounted,
            "last_id": self.last_id,
            "inputs_crc": self.inputs_crc,
            "sink": self.sink.checkpoint(),
            "spool": None,
            "ledger": self._ledger_state(),
        }
        if self.spool is not None:
            size, count = self.spool.sync()
            state["spool"] = {"path": os.path.basename(self.spool.path), "bytes": size, "count": count}
        with atomic_write(self.folder / CHECKPOINT_NAME) as fh:
            fh.write(json.dumps(state, default=str, ensure_ascii=False) + "\n")
        self.saved = True

    def finish(self) -> None:
        """The run completed and its output is in place: forget it."""
        if self.spool is not None:
            self.spool.close(delete=False)
        remove(self.folder, [self.spool_path] if self.spool_path else [])

    def suspend(self) -> None:
        """The run stops without completing; keep what a resume needs."""
        if self.spool is not None:
            self.spool.close(delete=False)

    def discard(self) -> None:
        """The run stops and cannot be resumed: delete the checkpoint files
        (also when closing the spool fails, as on a full disk)."""
        try:
            if self.spool is not None:
                self.spool.close(delete=False)
        finally:
            remove(self.folder, [self.spool_path] if self.spool_path else [])


def resume_message(state: dict[str, Any], folder: str | os.PathLike[str]) -> str:
    if state["phase"] == CORPUS:
        return (
            f"resuming the interrupted run in {folder}: all {state['accounted']} inputs were read; "
            f"running the corpus-level stages again from the spool (--restart starts over)"
        )
    return (
        f"resuming the interrupted run in {folder} after {state['accounted']} inputs (--restart starts over)"
    )


OnMessage = Callable[[str], None]
