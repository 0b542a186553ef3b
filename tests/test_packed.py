"""Packed files: many pickles in one file, each read back on its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.engine.packed import packed_count, read_item, read_items, write_packed


def test_each_object_reads_back_on_its_own_and_all_in_order(tmp_path: Path) -> None:
    path = tmp_path / "pieces.pickle"
    items = [{"a": 1}, [], "x" * 10_000, None, (3, b"\x00\xff"), {"nested": [1.5, {"k": None}]}]
    assert write_packed(path, iter(items)) == len(items)
    assert packed_count(path) == len(items)
    assert [read_item(path, k) for k in range(len(items))] == items
    assert [read_item(path, k) for k in reversed(range(len(items)))] == items[::-1]
    assert list(read_items(path)) == items


def test_an_empty_packed_file_holds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "none.pickle"
    assert write_packed(path, []) == 0
    assert packed_count(path) == 0 and list(read_items(path)) == []
    with pytest.raises(IndexError, match=r"no object 0 \(it holds 0\)"):
        read_item(path, 0)


def test_an_index_out_of_range_and_a_file_that_is_not_packed_are_named(tmp_path: Path) -> None:
    path = tmp_path / "two.pickle"
    write_packed(path, ["a", "b"])
    with pytest.raises(IndexError, match=r"two.pickle: no object 2 \(it holds 2\)"):
        read_item(path, 2)
    with pytest.raises(IndexError):
        read_item(path, -1)
    short = tmp_path / "short.pickle"
    short.write_bytes(b"abc")
    with pytest.raises(ValueError, match=r"short.pickle: not a packed file \(too short\)"):
        packed_count(short)
    cut = tmp_path / "cut.pickle"
    cut.write_bytes(path.read_bytes()[-20:])  # the count says more than the file can hold
    with pytest.raises(ValueError, match=r"cut.pickle: not a packed file"):
        read_item(cut, 0)


def test_a_failure_while_writing_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "models.pickle"

    def models():
        yield {"shard": 0}
        raise RuntimeError("the partition failed")

    with pytest.raises(RuntimeError, match="the partition failed"):
        write_packed(path, models())
    assert list(tmp_path.iterdir()) == []
    write_packed(path, [1, 2])
    with pytest.raises(RuntimeError):
        write_packed(path, models())
    assert [read_item(path, k) for k in range(2)] == [1, 2]  # the earlier file stays whole


def test_a_plan_kept_on_disk_reads_back_its_parts_and_their_digest(tmp_path: Path) -> None:
    from ingest.engine.shards import PlannedParts, plan_digest

    parts = [("a.txt", "b.txt"), ("c.txt",), ("d\udcff.txt",)]
    planned = PlannedParts.write(tmp_path / "plan.pickle", iter(parts))
    assert len(planned) == 3 and list(planned) == parts
    assert [planned[k] for k in (2, 0, -1, -3)] == [parts[2], parts[0], parts[2], parts[0]]
    assert planned[1:] == parts[1:]
    assert planned.digest == plan_digest(parts) == plan_digest(planned)
    with pytest.raises(IndexError):
        planned[3]
