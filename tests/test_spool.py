"""The spool of corpus-level stages: in memory under its budget, on disk past it."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from ingest import Document, Pipeline
from ingest.engine.spool import PickledDocument, Spool

ROOT = Path(__file__).resolve().parent.parent


def _docs(n: int, size: int = 100) -> list[Document]:
    return [Document(id=f"d{i:04d}", text=f"{i} " + "x" * size, metadata={"n": i}) for i in range(n)]


def test_a_small_spool_stays_in_memory_and_reads_back_twice(tmp_path):
    spool = Spool(str(tmp_path), memory_bytes=1 << 20)
    docs = _docs(50)
    spool.write_all(docs)
    assert spool.in_memory and len(spool) == 50
    assert os.listdir(tmp_path) == []  # no file was made
    assert [d.id for d in spool] == [d.id for d in docs]
    assert [d.metadata for d in spool] == [d.metadata for d in docs]
    spool.close()


def test_past_its_budget_the_spool_moves_to_disk_in_order(tmp_path):
    spool = Spool(str(tmp_path), memory_bytes=20_000)
    docs = _docs(200, size=300)  # ~160 KB estimated: spills after a few dozen
    for doc in docs:
        spool.write(doc)
    spool.finish()
    assert not spool.in_memory
    assert os.path.exists(spool.path) and os.path.dirname(spool.path) == str(tmp_path)
    back = list(spool)
    assert [d.id for d in back] == [d.id for d in docs] and [d.text for d in back] == [d.text for d in docs]
    assert [d.id for d in spool] == [d.id for d in docs]  # read-many
    spool.close()
    assert os.listdir(tmp_path) == []


def test_budget_zero_is_always_on_disk(tmp_path):
    spool = Spool(str(tmp_path), memory_bytes=0)
    spool.write_all(_docs(3))
    assert not spool.in_memory and os.path.getsize(spool.path) > 0
    assert [d.id for d in spool] == ["d0000", "d0001", "d0002"]
    spool.close()


def test_a_document_pickled_by_a_worker_is_written_as_it_came(tmp_path):
    docs = _docs(5)
    on_disk = Spool(str(tmp_path), memory_bytes=0)
    in_memory = Spool(str(tmp_path), memory_bytes=1 << 20)
    for i, doc in enumerate(docs):
        item = PickledDocument(doc, pickle.dumps(doc, protocol=pickle.HIGHEST_PROTOCOL)) if i % 2 else doc
        on_disk.write(item)
        in_memory.write(item)
    on_disk.finish()
    in_memory.finish()
    expected = b"".join(pickle.dumps(doc, protocol=pickle.HIGHEST_PROTOCOL) for doc in docs)
    assert Path(on_disk.path).read_bytes() == expected
    assert list(on_disk) == docs == list(in_memory)
    assert all(type(doc) is Document for doc in in_memory)
    on_disk.close()
    in_memory.close()


def test_read_at_picks_documents_out_on_disk_in_memory_and_after_a_spill(tmp_path):
    docs = _docs(120, size=300)
    for budget in (0, 1 << 20, 20_000):  # on disk, in memory, spilled part way
        spool = Spool(str(tmp_path), memory_bytes=budget)
        for i, doc in enumerate(docs):
            spool.write(PickledDocument(doc, pickle.dumps(doc)) if i % 3 == 0 else doc)
        spool.finish()
        assert spool.indexed
        assert [d.id for d in spool.read_at([0, 1, 57, 119])] == ["d0000", "d0001", "d0057", "d0119"]
        assert list(spool.read_at([])) == []
        assert [d.id for d in spool] == [d.id for d in docs]
        spool.close()


def test_a_resumed_spool_is_not_indexed(tmp_path):
    path = str(tmp_path / "barrier.pickle")
    spool = Spool(path=path)
    for doc in _docs(3):
        spool.write(doc)
    offset, count = spool.sync()
    spool.finish()
    again = Spool.existing(path, offset, count)
    assert not again.indexed and [d.id for d in again] == ["d0000", "d0001", "d0002"]
    with pytest.raises(ValueError, match="not indexed"):
        list(again.read_at([0]))


def test_dedup_decides_the_same_with_the_spool_in_memory_or_on_disk(tmp_path):
    seeds = sorted((ROOT / "samples" / "seeds").glob("*.txt"))
    texts = [path.read_text(encoding="utf-8") for path in seeds]
    docs = [Document(id=f"s{i}", text=t) for i, t in enumerate(texts)]
    docs += [Document(id=f"t{i}", text=t.replace("  ", " ")) for i, t in enumerate(texts)]  # copies
    outcomes = []
    for mb in (0, 64):
        workdir = tmp_path / f"work{mb}"
        p = Pipeline.from_dict(
            {
                "run": {"workers": 1, "spool_memory_mb": mb, "workdir": str(workdir)},
                "pipeline": [{"stage": "header"}, {"stage": "boilerplate"}, {"stage": "dedup"}],
            }
        )
        files: list[list[str]] = []
        real_write = Spool.write

        def watching_write(self, doc, files=files, workdir=workdir, real_write=real_write):
            real_write(self, doc)
            files.append(os.listdir(workdir))  # the spool's file, if any, while the stream is spooled

        Spool.write = watching_write  # type: ignore[method-assign]
        try:
            kept = [(d.id, d.text) for d in p.process(docs)]
        finally:
            Spool.write = real_write  # type: ignore[method-assign]
        assert any(files) == (mb == 0)  # a file in the workdir only when the budget is 0
        outcomes.append((kept, sorted((r.id, r.duplicate_of) for r in p.ledger.records)))
    assert outcomes[0] == outcomes[1]
    assert len(outcomes[0][1]) >= len(seeds)  # every copy (and seed 003) dropped as a duplicate


def test_a_negative_spool_budget_is_a_config_error():
    with pytest.raises(Exception, match="spool_memory_mb"):
        Pipeline.from_dict({"run": {"spool_memory_mb": -1}, "pipeline": [{"stage": "dedup"}]})
