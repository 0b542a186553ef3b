"""The Ray executor: ``[run] executor = "ray"``.

What runs where:

* Per-document stages: the driver (this process) reads the source, cuts the
  stream into batches, and runs each batch as a Ray task, keeping a bounded
  number in flight (so memory stays flat) and taking results back in input
  order. A task rebuilds the pipeline from its recipe (the raw config
  mapping, the base directory and any in-process plugin objects, shipped
  once through the object store with Ray's cloudpickle), once per Ray
  worker process, and runs the segment's stages exactly as a local worker
  does; the driver replays drops and warnings into its ledger document by
  document, so the sink, the ledger and every hook see what a
  single-process run produces.
* Corpus-level stages: spooled and fitted in the driver, as locally; their
  ``fit`` may send work to Ray through ``ctx.executor`` (the dedup stage
  hashes documents and groups LSH buckets in Ray tasks).
* Source and sink: in the driver.

Ray workers import ``ingest`` and the plugins themselves, so on a remote
cluster they must be installed there too. For a local instance started here
the workers get this process's ``sys.path``, so plugins importable here are
importable there.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import socket
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

import ray

from ingest.contract.document import Document
from ingest.contract.errors import RunError, error_text
from ingest.contract.executor import IN_FLIGHT_PER_WORKER, ordered_map
from ingest.engine.parallel import IN_FLIGHT_PER_WORKER as BATCHES_PER_WORKER
from ingest.engine.parallel import BatchResult, SubmitBatch, _WorkerState

T = TypeVar("T")


class Recipe(Protocol):
    """What a Ray task rebuilds the driver's pipeline from
    (:class:`ingest.runner.PipelineRecipe`): picklable, and ``build()``
    gives an object whose ``segment_stages(stage_ids, workdir)`` are the
    per-document stages as a worker runs them."""

    def build(self) -> Any: ...


# Segments built in this Ray worker process, by (run token, stage ids): a
# worker serves many batches of a run and builds its stages once.
_BUILT: dict[tuple[str, tuple[str, ...]], _WorkerState] = {}
_BUILT_MAX = 8


def _segment_state(
    token: str, recipe_box: list[Any], stage_ids: tuple[str, ...], workdir: str
) -> _WorkerState:
    key = (token, stage_ids)
    state = _BUILT.get(key)
    if state is None:
        try:
            # The recipe comes in a list so Ray does not fetch it for every task.
            pipeline = ray.get(recipe_box[0]).build()
            state = _WorkerState(pipeline.segment_stages(stage_ids, workdir))
        except Exception as exc:
            raise RuntimeError(f"the Ray worker could not start its stages: {error_text(exc)}") from exc
        if len(_BUILT) >= _BUILT_MAX:
            _BUILT.clear()
        _BUILT[key] = state
    return state


def _run_batch(
    token: str, recipe_box: list[Any], stage_ids: tuple[str, ...], workdir: str, docs: list[Document]
) -> BatchResult:
    """A Ray task: one batch through the segment (see parallel._WorkerState)."""
    return _segment_state(token, recipe_box, stage_ids, workdir).run_batch(docs)


#: How long to wait for a TCP connection to a given ``ray_address``.
REACH_TIMEOUT_S = 5.0


def _check_reachable(address: str) -> None:
    """Fail in seconds, not after Ray's own minutes of retries, when
    ``host:port`` (or ``ray://host:port``) does not accept connections.
    ``auto`` and other forms are left to Ray."""
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=REACH_TIMEOUT_S).close()
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise ConnectionError(f"nothing answers at {host}:{port} ({reason})") from exc


class RayExecutor:
    """Runs work as Ray tasks; see the module docstring.

    Build it with :meth:`connect`. It shuts down only a Ray instance it
    started itself; one that was already initialised in this process (an
    ETL job's own) is used and left running.
    """

    kind = "ray"

    def __init__(self, parallelism: int, *, owned: bool) -> None:
        self.parallelism = max(1, parallelism)
        self._owned = owned
        self._remote: dict[Callable[..., Any], Any] = {}

    @classmethod
    def connect(cls, address: str = "", *, num_cpus: int = 0, where: str = "[run]") -> RayExecutor:
        """Use the Ray instance this process already has, else connect to
        ``address`` (``auto``, ``ray://host:10001``), else (empty) start a
        local one with ``num_cpus`` CPUs (0 = all). ``where`` names the config
        in the error raised when that fails."""
        owned = False
        if not ray.is_initialized():
            try:
                if address:
                    _check_reachable(address)
                    ray.init(address=address)
                else:
                    # The workers get this process's import path, so plugins
                    # importable here (a test module, a local package) are
                    # importable there.
                    python_path = os.pathsep.join(p for p in sys.path if p)
                    ray.init(
                        num_cpus=num_cpus or None,
                        include_dashboard=False,
                        logging_level=logging.WARNING,  # not Ray's INFO start-up lines on the run's stderr
                        runtime_env={"env_vars": {"PYTHONPATH": python_path}},
                    )
            except Exception as exc:
                target = f"ray_address {address!r}" if address else "a local Ray instance"
                raise RunError(f"{where}: cannot start or reach {target}: {error_text(exc)}") from exc
            owned = True
        return cls(int(ray.cluster_resources().get("CPU", 1)), owned=owned)

    def _remote_fn(self, fn: Callable[..., Any]) -> Any:
        # One remote function per callable: ray.remote exports the function
        # to the cluster each time it is called.
        remote = self._remote.get(fn)
        if remote is None:
            remote = self._remote[fn] = ray.remote(fn)
        return remote

    def submit(self, fn: Callable[..., T], /, *args: Any) -> concurrent.futures.Future[T]:
        """Run ``fn(*args)`` as a Ray task."""
        return self._remote_fn(fn).remote(*args).future()

    def map(
        self, fn: Callable[[Any], T], items: Iterable[Any], *, in_flight: int | None = None
    ) -> Iterator[T]:
        """``fn(item)`` as Ray tasks, results in input order, bounded."""
        return ordered_map(self.submit, fn, items, in_flight or IN_FLIGHT_PER_WORKER * self.parallelism)

    @contextlib.contextmanager
    def segment_backend(
        self, recipe: Recipe, stage_ids: Sequence[str], workdir: str
    ) -> Iterator[tuple[SubmitBatch, int]]:
        """Where :func:`ingest.engine.parallel.run_segment` sends batches: Ray tasks
        that build the stages ``stage_ids`` of ``recipe``'s pipeline."""
        token = uuid.uuid4().hex
        recipe_box = [ray.put(recipe)]
        ids = tuple(stage_ids)
        remote = self._remote_fn(_run_batch)

        def submit(docs: list[Document]) -> Callable[[], BatchResult]:
            ref = remote.remote(token, recipe_box, ids, workdir, docs)

            def wait() -> BatchResult:
                try:
                    return ray.get(ref)
                except Exception as exc:
                    cause = getattr(exc, "cause", None) or exc  # a RayTaskError wraps the task's exception
                    raise RunError(f"a Ray task failed: {error_text(cause)}") from exc

            return wait

        yield submit, self.parallelism * BATCHES_PER_WORKER

    def shutdown(self, *, cancel: bool = False) -> None:
        """Shut Ray down if this executor started or connected it (which ends its
        tasks, ``cancel`` or not)."""
        if self._owned and ray.is_initialized():
            ray.shutdown()
        self._owned = False
