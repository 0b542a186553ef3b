"""Versioned on-disk format of the dedup index, written atomically.

Layout (little-endian)::

    8 bytes   magic  b"INGDDUP\\0"
    4 bytes   uint32 format version (FORMAT_VERSION)
    8 bytes   uint64 length H of the JSON header
    H bytes   JSON header: parameters, counters, and for each array its
              name, dtype, shape and offset into the data section, plus a
              checksum of the data section (version 2: CRC-32, as zip and
              gzip use, ~4x cheaper to compute than version 1's blake2b;
              both versions are read)
    ...       data section: raw array bytes, each 8-byte aligned

Writing goes to a temporary file in the same directory, is fsync'ed and then
``os.replace``d over the target, so a crash leaves either the old or the new
index, never a torn one.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

MAGIC = b"INGDDUP\0"
FORMAT_VERSION = 2
#: versions this code reads: 1 (blake2b-128 checksum), 2 (CRC-32 checksum); same layout otherwise
READABLE_VERSIONS = (1, 2)
_PREFIX = struct.Struct("<8sIQ")


class IndexFormatError(ValueError):
    """The file is not a dedup index, is corrupt, or has another version."""


def write_index(
    path: str | os.PathLike[str], header: dict[str, Any], arrays: dict[str, np.ndarray | list[np.ndarray]]
) -> int:
    """Atomically write ``header`` and ``arrays``; returns the file size.

    A list value is written as the 1-D concatenation of its parts, without
    building it in memory (the shingle sets of a large index are big).
    Arrays are hashed and written through memoryviews: no copies.
    """
    path = Path(path)
    specs, offset = [], 0
    crc = 0
    layout: list[tuple[list[memoryview], int]] = []
    for name, value in arrays.items():
        parts = value if isinstance(value, list) else [value]
        parts = [np.ascontiguousarray(p) for p in parts]
        if isinstance(value, list):
            dtype = parts[0].dtype if parts else np.dtype(np.uint32)
            shape = [sum(p.size for p in parts)]
        else:
            dtype, shape = parts[0].dtype, list(parts[0].shape)
        views = [memoryview(p).cast("B") for p in parts if p.size]
        nbytes = sum(v.nbytes for v in views)
        pad = (-nbytes) % 8
        specs.append({"name": name, "dtype": dtype.str, "shape": shape, "offset": offset})
        for v in views:
            crc = zlib.crc32(v, crc)
        crc = zlib.crc32(b"\0" * pad, crc)
        layout.append((views, pad))
        offset += nbytes + pad
    head = json.dumps({**header, "arrays": specs, "data_bytes": offset, "checksum": f"{crc:08x}"}).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_PREFIX.pack(MAGIC, FORMAT_VERSION, len(head)))
            f.write(head)
            for views, pad in layout:
                for v in views:
                    f.write(v)
                f.write(b"\0" * pad)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return _PREFIX.size + len(head) + offset


def _checksum(body: bytes, version: int) -> str:
    if version == 1:
        return hashlib.blake2b(body, digest_size=16).hexdigest()
    return f"{zlib.crc32(body):08x}"


def read_index(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read an index written by :func:`write_index`; raises IndexFormatError."""
    data = Path(path).read_bytes()
    if len(data) < _PREFIX.size or data[:8] != MAGIC:
        raise IndexFormatError(f"{path}: not an ingest dedup index (bad magic)")
    _, version, hlen = _PREFIX.unpack_from(data)
    if version not in READABLE_VERSIONS:
        raise IndexFormatError(
            f"{path}: dedup index format version {version}, this ingest reads versions "
            f"{READABLE_VERSIONS[0]} to {READABLE_VERSIONS[-1]}; rebuild the index with this version"
        )
    try:
        header = json.loads(data[_PREFIX.size : _PREFIX.size + hlen])
    except ValueError as exc:
        raise IndexFormatError(f"{path}: corrupt header: {exc}") from None
    base = _PREFIX.size + hlen
    body = data[base:]
    if len(body) != header["data_bytes"] or _checksum(body, version) != header["checksum"]:
        raise IndexFormatError(f"{path}: truncated or corrupt data section (checksum mismatch)")
    arrays = {}
    for spec in header.pop("arrays"):
        dtype = np.dtype(spec["dtype"])
        count = int(np.prod(spec["shape"], dtype=np.int64))
        arr = np.frombuffer(body, dtype=dtype, count=count, offset=spec["offset"])
        arrays[spec["name"]] = arr.reshape(spec["shape"])
    return header, arrays
