"""StringColumn: the dedup engine's ids as one UTF-8 buffer."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ingest_plugins.dedup.strings import StringColumn

ids = st.one_of(st.none(), st.text(alphabet=st.characters(codec="utf-8"), max_size=12), st.just("\udcff.txt"))


@given(st.lists(ids, max_size=40), st.integers(-45, 45), st.integers(-45, 45))
def test_a_column_reads_back_what_a_list_holds(items: list[str | None], lo: int, hi: int) -> None:
    column = StringColumn(items)
    assert len(column) == len(items) and list(column) == items and column == items
    assert [column[k] for k in range(-len(items), len(items))] == items + items
    assert list(column[lo:hi]) == items[lo:hi] and list(column[lo:hi:2]) == items[lo:hi:2]
    assert pickle.loads(pickle.dumps(column)) == items
    tail = column[lo:]
    tail.append("next")  # a slice is a column of its own: the first one does not change
    assert list(tail) == [*items[lo:], "next"] and list(column) == items


def test_entries_out_of_range_are_an_index_error_and_the_buffer_is_compact() -> None:
    column = StringColumn(["00001/a.txt", "00001/b.txt"])
    with pytest.raises(IndexError):
        column[2]
    with pytest.raises(IndexError):
        column[-3]
    assert column.nbytes == 2 * 11 + 2 * 8
    blob, ends = column.encoded()
    assert blob == b"00001/a.txt00001/b.txt" and list(ends) == [11, 22]
    # a lone surrogate (an undecodable file name) goes through as it came
    odd = StringColumn(["caf\udce9"])
    assert odd[0] == "caf\udce9" and odd.encoded()[0] == b"caf\xed\xb3\xa9"
