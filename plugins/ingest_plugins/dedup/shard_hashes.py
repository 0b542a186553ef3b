"""What a shard's task hashes for the dedup stage, and the files the tasks that
resolve read back.

A sharded run hashes each shard in its own task (:func:`engine.hash_shard`), finds
the candidate pairs and exact copies in partitions of the band and exact keys
(:mod:`.buckets`), verifies the pairs in partitions of the pairs (:mod:`.pairs`),
searches composite pages for their parts in partitions of the smallest shingle
hashes (:mod:`.parts`), and resolves the documents all of that names in partitions
of their connected components (:mod:`.components`,
:meth:`engine.DedupEngine.add_rows`). A task that resolves holds a few columns (id,
rank, set size) of its documents only, read from a file each shard's task writes
(:func:`write_documents`, :class:`ShardDocuments`). One engine given every shard's
hashes (:meth:`engine.DedupEngine.add_shards`: story grouping, small inputs) holds
them for every document; with the bucketing round's finds only (pairs not verified
yet), the signatures (512 bytes a document at 128 positions) go to a scratch folder and
are read back only for the candidate pairs the prefilter looks at. Shingle sets
never travel: verification re-reads the candidates' texts.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import attrs
import numpy as np

from . import native

#: bytes of an exact key (of the whitespace-normalised text)
KEY_BYTES = 16
# ids read from file names may hold lone surrogates
_ID_ENCODING, _ID_ERRORS = "utf-8", "surrogatepass"


def read_rows(fd: int, rows: np.ndarray, out: np.ndarray) -> None:
    """Rows ``rows`` (int64) of the file open as ``fd``, each ``out``'s row size,
    into ``out`` (C-contiguous, one row each), by pread (the compiled ``read_rows``
    when it is built)."""
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    if not rows.size:
        return
    row_bytes = out.nbytes // rows.size
    if native.lib is not None:
        native.lib.read_rows(fd, row_bytes, rows, out)
        return
    view = memoryview(out).cast("B")
    for i, row in enumerate(rows.tolist()):
        if os.preadv(fd, [view[i * row_bytes : (i + 1) * row_bytes]], row * row_bytes) != row_bytes:
            raise ValueError(f"read_rows: row {row} lies past the end of the file")


@attrs.define(eq=False)
class ShardHashes:
    """A shard's documents hashed for dedup, in the order the stage saw them
    (one row each): everything :class:`~engine.DedupEngine` keeps of a document
    but its shingle set."""

    ids: list[str]
    #: rank under the survivor policy (smaller survives)
    ranks: np.ndarray
    #: exact key of the whitespace-normalised text, (n, 16) uint8
    keys: np.ndarray
    #: MinHash signatures, (n, num_perm) uint32
    signatures: np.ndarray
    #: shingle-set sizes
    sizes: np.ndarray
    #: the smallest shingle hashes of each set, (n, k) uint32
    bottom: np.ndarray
    #: story fingerprints (story grouping on), else None
    fingerprints: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.ids)


class SignatureScratch:
    """The representatives' signatures in a temporary folder (removed by :meth:`close`).

    ``append`` takes signatures in slot order; then :meth:`signatures` reads some
    of them back."""

    def __init__(self, total: int, num_perm: int, folder: str | None = None) -> None:
        self.total, self.num_perm = total, num_perm
        self.folder = Path(tempfile.mkdtemp(prefix="ingest-dedup-", dir=folder))
        self.count = 0
        self._sig_path = self.folder / "signatures.u32"
        self._sig_file = open(self._sig_path, "wb")  # noqa: SIM115 (closed by finish or close)
        self._reader: int | None = None  # a descriptor of the file, for signatures()

    def append(self, signatures: np.ndarray) -> None:
        """Signatures of the next representatives (rows in slot order)."""
        if not len(signatures):
            return
        np.ascontiguousarray(signatures, dtype=np.uint32).tofile(self._sig_file)
        self.count += len(signatures)

    def finish(self) -> None:
        """Every representative appended: close the file for reading."""
        self._sig_file.close()
        if self.count != self.total:
            raise ValueError(f"{self.count} signatures written, {self.total} expected")

    def signatures(self, slots: np.ndarray) -> np.ndarray:
        """The signatures in ``slots`` (a copy), each distinct one read once. Read, not
        mapped: a mapping of the file shows in the process's RSS as whole large folios
        around every row it reads (the whole file, for a few thousand random rows)."""
        slots = np.asarray(slots, dtype=np.int64)
        if slots.size and (slots.min() < 0 or slots.max() >= self.count):
            raise IndexError(f"signature slots outside 0..{self.count - 1}")
        unique, inverse = np.unique(slots, return_inverse=True)
        out = np.empty((unique.size, self.num_perm), dtype=np.uint32)
        if self._reader is None:
            self._reader = os.open(self._sig_path, os.O_RDONLY)
        read_rows(self._reader, unique, out)
        return out[inverse.reshape(slots.shape)]

    def close(self) -> None:
        """Remove the folder (also after a failure)."""
        self._sig_file.close()
        if self._reader is not None:
            os.close(self._reader)
            self._reader = None
        shutil.rmtree(self.folder, ignore_errors=True)


#: in a shard's folder: its documents' ids, ranks and set sizes, for the tasks that resolve
DOCUMENTS_NAME = "dedup-documents.npz"


def write_documents(folder: str | os.PathLike[str], hashes: ShardHashes) -> None:
    """Write a shard's document columns (ids, ranks, set sizes) into ``folder``: the
    tasks that resolve read those of the documents they need (:class:`ShardDocuments`)."""
    encoded = [doc_id.encode(_ID_ENCODING, _ID_ERRORS) for doc_id in hashes.ids]
    ends = np.cumsum([len(e) for e in encoded], dtype=np.int64)
    with open(Path(folder) / DOCUMENTS_NAME, "wb") as fh:
        np.savez(
            fh,
            ranks=np.asarray(hashes.ranks, dtype=np.int64),
            sizes=np.asarray(hashes.sizes, dtype=np.int64),
            id_ends=ends,
            id_bytes=np.frombuffer(b"".join(encoded), dtype=np.uint8),
        )


class ShardDocuments:
    """The shards' document columns by row of the corpus (shards in order), a shard's
    file read at a time: a task that resolves keeps only the rows it asks for."""

    def __init__(self, folders: Sequence[str | os.PathLike[str]], starts: Sequence[int]) -> None:
        self.paths = [Path(folder) / DOCUMENTS_NAME for folder in folders]
        self.starts = np.asarray(starts, dtype=np.int64)  # each shard's first row, then the total

    def read(self, rows: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(ids, ranks, set sizes) of ``rows`` (sorted, distinct)."""
        rows = np.asarray(rows, dtype=np.int64)
        ids: list[str] = []
        ranks, sizes = np.empty(rows.size, dtype=np.int64), np.empty(rows.size, dtype=np.int64)
        shard_of = np.searchsorted(self.starts, rows, "right") - 1
        bounds = np.flatnonzero(np.diff(shard_of, prepend=-1, append=-1))
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            shard = int(shard_of[lo])
            local = rows[lo:hi] - self.starts[shard]
            with np.load(self.paths[shard], allow_pickle=False) as columns:
                ranks[lo:hi] = columns["ranks"][local]
                sizes[lo:hi] = columns["sizes"][local]
                ends, blob = columns["id_ends"], columns["id_bytes"].tobytes()
            begins = np.concatenate(([0], ends[:-1]))
            ids.extend(
                blob[a:b].decode(_ID_ENCODING, _ID_ERRORS)
                for a, b in zip(begins[local].tolist(), ends[local].tolist())
            )
        return ids, ranks, sizes
