"""Persistent dedup index: format, versioning, incremental runs."""

from __future__ import annotations

import hashlib
import json
import random
import struct
from pathlib import Path

import pytest
from ingest_plugins.dedup import FORMAT_VERSION, DedupEngine, DedupOptions, IndexFormatError
from test_dedup_engine import generated, story


def batches(docs: dict[str, str], k: int, seed: int = 3) -> list[list[str]]:
    ids = sorted(docs)
    random.Random(seed).shuffle(ids)
    return [ids[i::k] for i in range(k)]


def test_round_trip(tmp_path: Path) -> None:
    docs = generated(40)
    opts = DedupOptions(story_grouping=True)
    eng = DedupEngine(opts)
    for k, v in docs.items():
        eng.add(k, v)
    eng.resolve()
    path = tmp_path / "dedup.idx"
    size = eng.save(path)
    assert path.stat().st_size == size
    assert [p.name for p in tmp_path.iterdir()] == ["dedup.idx"]  # no temp file left behind
    back = DedupEngine.load(path, opts)
    assert back._ids == eng._ids
    n = len(docs)
    assert (back._sigs[back._slot[:n]] == eng._sigs[eng._slot[:n]]).all()
    for row in range(len(docs)):
        assert (back._store.get(row) == eng._store.get(row)).all()
    assert back._kept == eng._kept and back._seq == eng._seq
    assert [back._uf.find(i) for i in range(len(docs))] == [eng._uf.find(i) for i in range(len(docs))]
    # saving the loaded index again gives the same bytes
    assert back.save(tmp_path / "again.idx") == size
    assert (tmp_path / "again.idx").read_bytes() == path.read_bytes()


def test_version_magic_and_parameter_checks(tmp_path: Path) -> None:
    eng = DedupEngine()
    eng.add("a", "some text to index here")
    eng.resolve()
    path = tmp_path / "i.idx"
    eng.save(path)
    raw = bytearray(path.read_bytes())
    struct.pack_into("<I", raw, 8, FORMAT_VERSION + 1)
    (tmp_path / "v.idx").write_bytes(bytes(raw))
    with pytest.raises(
        IndexFormatError, match=f"version {FORMAT_VERSION + 1}.*reads versions 1 to {FORMAT_VERSION}"
    ):
        DedupEngine.load(tmp_path / "v.idx")
    (tmp_path / "m.idx").write_bytes(b"PK\x03\x04" + bytes(raw[4:]))
    with pytest.raises(IndexFormatError, match="bad magic"):
        DedupEngine.load(tmp_path / "m.idx")
    (tmp_path / "t.idx").write_bytes(path.read_bytes()[:-3])
    with pytest.raises(IndexFormatError, match="truncated or corrupt"):
        DedupEngine.load(tmp_path / "t.idx")
    with pytest.raises(IndexFormatError, match="shingle_size=5"):
        DedupEngine.load(path, DedupOptions(shingle_size=4))
    with pytest.raises(IndexFormatError, match="story"):
        DedupEngine.load(path, DedupOptions(story_grouping=True))


def test_a_version_1_index_with_its_blake2b_checksum_still_loads(tmp_path: Path) -> None:
    """Version 2 changed only the checksum (CRC-32 instead of blake2b): older indexes load."""
    eng = DedupEngine()
    for doc_id, text in generated(40, seed=5).items():
        eng.add(doc_id, text)
    eng.resolve()
    path = tmp_path / "v2.idx"
    eng.save(path)
    raw = path.read_bytes()
    _, version, hlen = struct.unpack_from("<8sIQ", raw)
    assert version == FORMAT_VERSION == 2
    header = json.loads(raw[20 : 20 + hlen])
    body = raw[20 + hlen :]
    header["checksum"] = hashlib.blake2b(body, digest_size=16).hexdigest()
    head = json.dumps(header).encode()
    old = tmp_path / "v1.idx"
    old.write_bytes(struct.pack("<8sIQ", b"INGDDUP\0", 1, len(head)) + head + body)
    back = DedupEngine.load(old)
    assert back.save(tmp_path / "again.idx") == len(raw)
    assert (tmp_path / "again.idx").read_bytes() == raw  # rewritten as version 2, same content
    corrupt = bytearray(old.read_bytes())
    corrupt[-1] ^= 1
    old.write_bytes(bytes(corrupt))
    with pytest.raises(IndexFormatError, match="checksum mismatch"):
        DedupEngine.load(old)


@pytest.mark.parametrize("n_batches", [2, 3])
def test_incremental_equals_combined_first_seen(tmp_path: Path, n_batches: int) -> None:
    docs = generated(100, seed=21)
    parts = batches(docs, n_batches)
    order = [k for part in parts for k in part]
    opts = DedupOptions(survivor="first_seen", story_grouping=True)

    combined = DedupEngine(opts)
    for k in order:
        combined.add(k, docs[k])
    want = combined.resolve()

    path = tmp_path / "daily.idx"
    got = {}
    for i, part in enumerate(parts):
        eng = DedupEngine(attrs_evolve(opts, index_path=str(path), save_index=str(path)))
        assert len(eng._ids) == sum(len(p) for p in parts[:i])  # loaded the earlier days
        for k in part:
            eng.add(k, docs[k])
        got.update(eng.resolve())
    # A survivor decided on an earlier day got no cluster_id then (its copies came
    # later), so compare what is dropped and to what; that is the contract.
    strip = lambda d: {k: (v.keep, v.duplicate_of, v.method, v.similarity) for k, v in d.items()}  # noqa: E731
    assert strip(got) == strip(want)
    assert sum(not v.keep for v in got.values()) > 50
    # the same story groups as the combined run (labels may differ: a story
    # keeps the label it was first exported with)
    assert partition(got) == partition(want)


def partition(d: dict) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for k, v in d.items():
        groups.setdefault(v.story_id, set()).add(k)
    return {frozenset(g) for g in groups.values()}


def test_indexed_documents_always_win(tmp_path: Path) -> None:
    paras = story(random.Random(9), paragraphs=5)
    old = DedupEngine(DedupOptions(survivor="longest"))
    old.add("old", "\n".join(paras))
    old.resolve()
    old.save(tmp_path / "i.idx")
    new = DedupEngine.load(tmp_path / "i.idx", DedupOptions(survivor="longest"))
    new.add("new-longer", "\n".join(paras + ["and an extra closing paragraph of several words."]))
    new.add("unrelated", "\n".join(story(random.Random(10), paragraphs=5)))
    d = new.resolve()
    assert set(d) == {"new-longer", "unrelated"}  # decisions only for this run's documents
    assert d["new-longer"].duplicate_of == "old" and not d["new-longer"].keep
    assert d["unrelated"].keep


def test_resolve_twice_is_incremental() -> None:
    docs = generated(30)
    ids = sorted(docs)
    eng = DedupEngine(DedupOptions(survivor="first_seen"))
    for k in ids[:40]:
        eng.add(k, docs[k])
    first = eng.resolve()
    for k in ids[40:]:
        eng.add(k, docs[k])
    second = eng.resolve()
    assert set(first) == set(ids[:40]) and set(second) == set(ids[40:])
    ref = DedupEngine(DedupOptions(survivor="first_seen"))
    for k in ids:
        ref.add(k, docs[k])
    want = ref.resolve()
    key = lambda d: {k: (v.keep, v.duplicate_of, v.method, v.similarity) for k, v in d.items()}  # noqa: E731
    assert key({**first, **second}) == key(want)


def attrs_evolve(opts: DedupOptions, **kw: object) -> DedupOptions:
    import attrs

    return attrs.evolve(opts, **kw)


def test_reread_mode_can_save_an_index(tmp_path: Path) -> None:
    docs = generated(30)
    path = tmp_path / "r.idx"
    eng = DedupEngine(DedupOptions(keep_shingles=False, save_index=str(path)))
    for k, v in docs.items():
        eng.add(k, v)
    eng.resolve(lambda: iter(docs.items()))
    ref = DedupEngine()
    for k, v in docs.items():
        ref.add(k, v)
    ref.resolve()
    assert path.read_bytes() == _saved(ref, tmp_path / "ref.idx")


def _saved(eng: DedupEngine, path: Path) -> bytes:
    eng.save(path)
    return path.read_bytes()
