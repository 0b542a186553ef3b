"""A column of short strings held as one UTF-8 buffer and where each one ends.

The dedup engine keeps the id of every document it resolves: as a list of
Python strings a 20-character id costs ~80 bytes (the object, its header, the
list's pointer), here ~28 (its bytes and an 8-byte offset). A million ids:
~80 MB against ~28. An entry is decoded when it is asked for.
"""

from __future__ import annotations

import array
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

_ENCODING = "utf-8"
_ERRORS = "surrogatepass"  # ids read from file names may hold lone surrogates


class StringColumn(Sequence[Any]):
    """Strings (and, where ``None`` is appended, Nones) in the order appended:
    ``column[k]`` decodes entry ``k``, a slice is a column of its own."""

    __slots__ = ("_blob", "_ends", "_none")

    def __init__(self, items: Iterable[str | None] = ()) -> None:
        self._blob = bytearray()
        self._ends = array.array("q")
        self._none: bytearray | None = None  # a byte per entry, once a None was appended
        self.extend(items)

    def append(self, item: str | None) -> None:
        """Add ``item`` at the end."""
        if item is None:
            if self._none is None:
                self._none = bytearray(len(self._ends))
            self._none.append(1)
        else:
            self._blob += item.encode(_ENCODING, _ERRORS)
            if self._none is not None:
                self._none.append(0)
        self._ends.append(len(self._blob))

    def extend(self, items: Iterable[str | None]) -> None:
        """Add every one of ``items`` at the end."""
        for item in items:
            self.append(item)

    def __len__(self) -> int:
        return len(self._ends)

    @overload
    def __getitem__(self, k: int) -> Any: ...

    @overload
    def __getitem__(self, k: slice) -> StringColumn: ...

    def __getitem__(self, k: int | slice) -> Any:
        if isinstance(k, slice):
            return self._slice(k)
        n = len(self._ends)
        if k < 0:
            k += n
        if not 0 <= k < n:
            raise IndexError("StringColumn index out of range")
        if self._none is not None and self._none[k]:
            return None
        start = self._ends[k - 1] if k else 0
        return self._blob[start : self._ends[k]].decode(_ENCODING, _ERRORS)

    def _slice(self, k: slice) -> StringColumn:
        lo, hi, step = k.indices(len(self._ends))
        if step != 1:
            return StringColumn(self[i] for i in range(lo, hi, step))
        part = StringColumn()
        if hi <= lo:
            return part
        base = self._ends[lo - 1] if lo else 0
        part._blob = self._blob[base : self._ends[hi - 1]]
        part._ends = array.array("q", (end - base for end in self._ends[lo:hi]))
        if self._none is not None:
            part._none = self._none[lo:hi]
        return part

    def __iter__(self) -> Iterator[Any]:
        blob, none, start = self._blob, self._none, 0
        for k, end in enumerate(self._ends):
            yield None if none is not None and none[k] else blob[start:end].decode(_ENCODING, _ERRORS)
            start = end

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StringColumn):
            return list(self) == list(other)
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = list(self[:5])
        return f"StringColumn({shown}{' ...' if len(self) > 5 else ''}, {len(self)} entries)"

    @property
    def nbytes(self) -> int:
        """Bytes held: the encoded strings and their offsets (and the None marks)."""
        return len(self._blob) + 8 * len(self._ends) + (0 if self._none is None else len(self._none))

    def encoded(self) -> tuple[bytes, array.array]:
        """The UTF-8 buffer and where each entry ends (a Nones' entry ends where it starts)."""
        return bytes(self._blob), array.array("q", self._ends)

    def __getstate__(self) -> tuple[bytearray, bytes, bytearray | None]:
        return self._blob, self._ends.tobytes(), self._none

    def __setstate__(self, state: tuple[bytearray, bytes, bytearray | None]) -> None:
        self._blob, ends, self._none = state
        self._ends = array.array("q")
        self._ends.frombytes(ends)
