"""Many pickled objects in one file, each read back on its own.

A partitioned corpus-level stage passes a piece of each shard to each partition
and a model from each partition to each shard: as a file each, that is shards x
partitions small files, each written with its own flush to disk (a million
documents in 500 shards and 80 partitions: 40,000 of them each way). A packed
file holds them all for one shard (its pieces) or one partition (its models):
the pickles one after another, then where each starts, then how many there are::

    pickle 0 | pickle 1 | ... | offsets (count + 1 little-endian int64) | count (int64)

It is written once, atomically (see :mod:`ingest.engine.atomic`), from an
iterable of objects of which only one is in memory at a time; a reader takes
the one it needs (:func:`read_item`) without unpickling the others.
"""

from __future__ import annotations

import array
import os
import pickle
import struct
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from ingest.engine.atomic import atomic_write

_COUNT = struct.Struct("<q")


def write_packed(path: str | os.PathLike[str], items: Iterable[Any]) -> int:
    """Write ``items`` (pickled one at a time) into ``path``, atomically; returns how many."""
    offsets = array.array("q", [0])
    with atomic_write(path, "wb") as fh:
        for item in items:
            data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
            fh.write(data)
            offsets.append(offsets[-1] + len(data))
        count = len(offsets) - 1
        fh.write(_little_endian(offsets))
        fh.write(_COUNT.pack(count))
    return count


def packed_count(path: str | os.PathLike[str]) -> int:
    """How many objects ``path`` holds (its last 8 bytes)."""
    with open(path, "rb") as fh:
        return _count_of(fh, path)[0]


def read_item(path: str | os.PathLike[str], index: int) -> Any:
    """Object ``index`` of the packed file ``path``."""
    with open(path, "rb", buffering=0) as fh:
        count, table = _count_of(fh, path)
        if not 0 <= index < count:
            raise IndexError(f"{path}: no object {index} (it holds {count})")
        fh.seek(table + 8 * index)
        start, stop = struct.unpack("<qq", fh.read(16))
        fh.seek(start)
        return pickle.loads(fh.read(stop - start))


def read_items(path: str | os.PathLike[str]) -> Iterator[Any]:
    """Every object of ``path``, in order, one in memory at a time."""
    with open(path, "rb", buffering=0) as fh:
        count, table = _count_of(fh, path)
        fh.seek(table)
        offsets = array.array("q")
        offsets.frombytes(fh.read(8 * (count + 1)))
        if sys.byteorder != "little":
            offsets.byteswap()
        for k in range(count):
            fh.seek(offsets[k])
            yield pickle.loads(fh.read(offsets[k + 1] - offsets[k]))


def _count_of(fh: Any, path: str | os.PathLike[str]) -> tuple[int, int]:
    """How many objects the open packed file holds, and where its offsets table starts."""
    size = fh.seek(0, os.SEEK_END)
    if size < 16:
        raise ValueError(f"{path}: not a packed file (too short)")
    fh.seek(size - 8)
    (count,) = _COUNT.unpack(fh.read(8))
    if count < 0 or 8 * (count + 2) > size:
        raise ValueError(f"{path}: not a packed file (it says it holds {count} objects)")
    return int(count), int(size) - 8 - 8 * (int(count) + 1)


def _little_endian(offsets: array.array) -> bytes:
    if sys.byteorder == "little":
        return offsets.tobytes()
    swapped = array.array("q", offsets)
    swapped.byteswap()
    return swapped.tobytes()
