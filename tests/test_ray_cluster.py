"""`ingest run` on a two-node Ray cluster (``ray.cluster_utils.Cluster``): the
per-document batches run as Ray tasks on both nodes, the corpus stages'
passes as Ray tasks on the cluster, and the output is the local run's, byte
for byte (starts a Ray cluster: slow)."""

from __future__ import annotations

import collections
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

ray = pytest.importorskip("ray")

from ray.cluster_utils import Cluster

from ingest.testing import run_cli, write_config

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
DOCS = 320  # five batches of 64 for the per-document stages
STORE_BYTES = 150 * 2**20  # per node: two object stores on a small machine

# A stage that keeps every document as it is and notes, in a file per process
# under its `record` folder, the Ray node it ran on ("local" outside Ray) and
# the document's id: where the work went, without changing the output compared.
# Its `pause` stands for a real stage's per-document work: without it the head
# node's worker (started with the head, already warm) finishes all batches of
# this small corpus while the second node still starts its first worker.
WHERE_PLUGIN = """
import os
import time

import attrs
import ray

from ingest import StageKind, StageSpec, hookimpl


@attrs.define
class WhereOptions:
    record: str = ""
    pause: float = 0.0


def where(options, ctx):
    node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"
    path = os.path.join(options.record, f"{os.getpid()}.txt")

    def process(doc):
        time.sleep(options.pause)
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{node} {doc.id}\\n")
        return doc

    return process


@hookimpl
def ingest_stages():
    summary = "keeps every document; notes the Ray node it ran on"
    return [StageSpec("where", StageKind.TRANSFORM, where, WhereOptions, summary, per_document=True)]
"""

#: The Ray tasks of the corpus stages' passes (their functions' names).
CORPUS_TASKS = {
    "boilerplate": {"_fingerprints", "_clean_batch"},  # its two passes
    "dedup": {"_hash_batch", "_map_band_keys", "_reduce_pairs"},  # hashing, the LSH shuffle
}
BATCH_TASK = "_run_batch"  # ingest.executors.ray: a batch through the per-document stages


@attrs.frozen
class Run:
    out: Path
    ran: dict[str, str]  # document id -> the node the `where` stage ran on


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """Two Ray nodes (processes on this machine) of one CPU each. This
    process does not connect to it: the run connects by its address, as
    ``ingest run`` on a cluster's machine does, and disconnects after."""
    if ray.is_initialized():  # left by another module: the run must make its own connection
        ray.shutdown()
    nodes = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "object_store_memory": STORE_BYTES},
    )
    try:
        nodes.add_node(num_cpus=1, object_store_memory=STORE_BYTES)
        nodes.wait_for_nodes()
        yield nodes
    finally:
        if ray.is_initialized():
            ray.shutdown()
        nodes.shutdown()


def _records(folder: Path) -> dict[str, str]:
    ran: dict[str, str] = {}
    for file in folder.glob("*.txt"):
        for line in file.read_text(encoding="utf-8").splitlines():
            node, doc_id = line.split(" ", 1)
            assert doc_id not in ran, doc_id  # each document once
            ran[doc_id] = node
    return ran


@pytest.fixture(scope="module")
def runs(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory, corpus_generator) -> dict[str, Run]:
    """One config (the default pipeline, with `where` after the header
    stage) run locally with one worker, then on the cluster."""
    folder = tmp_path_factory.mktemp("cluster_runs")
    corpus = folder / "corpus"
    corpus_generator.generate(corpus, DOCS, seed=11)
    (folder / "where_plugin.py").write_text(WHERE_PLUGIN)
    config = write_config(
        folder / "config.toml",
        {
            "plugins": {"paths": ["where_plugin.py"]},
            "source": {"type": "text_files", "path": str(corpus), "include": ["**/*.txt"]},
            "pipeline": [
                {"stage": "header"},
                {"stage": "where", "pause": 0.008},
                {"stage": "boilerplate"},
                {"stage": "dedup"},
            ],
        },
    )
    return _run_locally_and_on(cluster, folder, config)


def _run_locally_and_on(cluster: Cluster, folder: Path, config: Path) -> dict[str, Run]:
    """``config`` run with one local worker, then on the cluster, each into a
    folder of its own, with where its `where` stage ran."""
    results = {}
    for executor, args in (
        ("local", ("--workers", "1")),
        ("ray", ("--executor", "ray", "--ray-address", cluster.address)),
    ):
        record = folder / f"where-{executor}"
        record.mkdir()
        out = folder / executor
        # The record folder is an option, not part of the output compared.
        result = run_cli(
            "run", "-c", config, "--output", out, "--set", f"where.record={json.dumps(str(record))}", *args
        )
        assert result.exit_code == 0, result.stderr
        assert not ray.is_initialized()  # the run disconnected; the cluster stays up
        results[executor] = Run(out, _records(record))
    return results


def test_a_run_on_the_cluster_writes_what_a_local_run_writes(runs):
    for name in ("documents.jsonl", "dropped.jsonl"):
        assert (runs["ray"].out / name).read_bytes() == (runs["local"].out / name).read_bytes(), name
    assert (runs["ray"].out / "dropped.jsonl").read_bytes()  # dedup found duplicates to drop


def test_the_per_document_batches_ran_on_both_nodes(runs, cluster):
    local, on_ray = runs["local"].ran, runs["ray"].ran
    assert len(local) == DOCS and set(local.values()) == {"local"}
    assert set(on_ray) == set(local)
    nodes = collections.Counter(on_ray.values())
    assert set(nodes) == {node.node_id for node in cluster.list_all_nodes()}, nodes


def _task_nodes() -> dict[str, collections.Counter[str]]:
    """Function name -> node id -> how many of its tasks ran there, from the
    task events Ray keeps in its GCS. The public ``ray.util.state`` asks Ray's
    dashboard, which this cluster does not run (no ``ray[default]``), so this
    reads them as ``ray.timeline()`` does: a private API, skipped where it moved."""
    try:
        from ray._private.state import state

        events = state._get_all_task_events()
    except (ImportError, AttributeError, RuntimeError) as exc:
        pytest.skip(f"this Ray does not give its task events here: {exc}")
    names, nodes = {}, {}
    # A task's events come in parts: its function from its owner, its node from its worker.
    for event in events:
        if event.HasField("task_info"):
            names[event.task_id] = event.task_info.func_or_class_name
        if event.HasField("state_updates") and event.state_updates.node_id:
            nodes[event.task_id] = event.state_updates.node_id.hex()
    by_name: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for task, node in nodes.items():
        by_name[names.get(task, "?")][node] += 1
    return by_name


def test_ray_tasks_ran_the_batches_and_the_corpus_stages_on_the_cluster(runs, cluster):
    cluster_nodes = {node.node_id for node in cluster.list_all_nodes()}
    wanted = set().union(*CORPUS_TASKS.values())
    ray.init(address=cluster.address, logging_level=logging.WARNING)
    try:
        deadline = time.monotonic() + 15  # workers send their task events every second
        tasks = _task_nodes()
        while not (wanted <= set(tasks) and set(tasks[BATCH_TASK]) == cluster_nodes):
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
            tasks = _task_nodes()
    finally:
        ray.shutdown()
    assert wanted <= set(tasks), dict(tasks)
    assert all(set(tasks[name]) <= cluster_nodes for name in wanted), dict(tasks)
    # The per-document batches as Ray counted them: on both nodes, as the `where` stage saw.
    assert set(tasks[BATCH_TASK]) == cluster_nodes == set(runs["ray"].ran.values()), dict(tasks)


@pytest.fixture(scope="module")
def sharded_runs(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory, corpus_generator
) -> dict[str, Run]:
    """The default pipeline (with `where` after the header stage) over 8 shards
    of 40 files, run locally with one worker, then on the cluster: each phase of
    each shard is one Ray task (reading the shard's files, or its spool), the
    driver combines the corpus stages' parts between phases."""
    folder = tmp_path_factory.mktemp("cluster_sharded")
    corpus = folder / "corpus"
    corpus_generator.generate(corpus, DOCS, seed=12)
    (folder / "where_plugin.py").write_text(WHERE_PLUGIN)
    config = write_config(
        folder / "config.toml",
        {
            "plugins": {"paths": ["where_plugin.py"]},
            "source": {"type": "text_files", "path": str(corpus), "include": ["**/*.txt"]},
            "run": {"shard_files": 40},
            "pipeline": [
                {"stage": "header"},
                {"stage": "where", "pause": 0.008},
                {"stage": "boilerplate"},
                {"stage": "dedup"},
            ],
        },
    )
    return _run_locally_and_on(cluster, folder, config)


def test_a_sharded_run_on_the_cluster_writes_the_local_runs_files_from_both_nodes(sharded_runs, cluster):
    local, on_ray = sharded_runs["local"], sharded_runs["ray"]
    report = json.loads((on_ray.out / "report.json").read_text(encoding="utf-8"))
    # 8 shards of 40, the last two's 80 files cut anew into 40, 20, 10 and 10
    assert report["shards"]["count"] == DOCS // 40 + 2 and report["shards"]["phases"] == 3
    assert report["dropped_by_stage_and_reason"].get("dedup:near_duplicate", 0) > 0
    names = sorted(p.name for p in local.out.glob("*.jsonl"))
    assert names == sorted(p.name for p in on_ray.out.glob("*.jsonl"))
    assert "documents-00007.jsonl" in names
    for name in names:
        assert (on_ray.out / name).read_bytes() == (local.out / name).read_bytes(), name
    # every document read once, by a shard task, on both nodes
    assert set(on_ray.ran) == set(local.ran) and len(on_ray.ran) == DOCS
    assert set(on_ray.ran.values()) == {node.node_id for node in cluster.list_all_nodes()}
