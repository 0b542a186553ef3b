"""A disk spool so corpus-level stages can read the stream more than once.

Documents are pickled one after another into a file; iterating the spool
re-reads the file from the start, so memory stays flat however large the
corpus is. Pickle (not JSON) because metadata holds typed values such as
dates that must come back as they went in; the file never leaves the run's
scratch directory, or, for a run that can be resumed, its output folder.

A scratch spool given ``memory_bytes`` first holds its documents in memory
and moves them to the file once their estimated size passes that budget: a
small batch (a library call, a test) never pays for pickling every document
twice, a large corpus spills and stays flat.

Documents that come from worker processes already pickled
(:class:`PickledDocument`) are written as those bytes. The spool notes where
each record starts (8 bytes a document), so :meth:`Spool.read_at` can read a
few documents back without unpickling the rest (the dedup stage's LSH
candidates, once their shingle sets no longer fit in memory).

A spool at a fixed ``path`` can be synced (:meth:`Spool.sync`, giving the
byte offset and count a checkpoint records) and reopened after a crash at
such a point (``resume=(offset, count)``): writing goes on from there (such a
spool is read whole: where its earlier records start is not known).
"""

from __future__ import annotations

import array
import os
import pickle
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, NamedTuple

from ingest.contract.document import Document

#: write buffer: one system call per ~200 documents instead of one per document
BUFFER_BYTES = 1 << 20


#: estimated bytes a held document costs besides its text and history lines (object, id, metadata)
_DOC_OVERHEAD = 512
#: estimated bytes of one entry of an event's ``lines`` (a removed line: a small dict and its text)
_LINE_ENTRY = 320


def _estimated_bytes(doc: Document) -> int:
    """About what ``doc`` holds in memory (2,000 cleaned generated pages: 9.9 KB estimated, 10.3 KB
    measured with tracemalloc; non-ASCII text, up to 4 bytes a character, is under-counted)."""
    size = len(doc.text) + _DOC_OVERHEAD
    for event in doc.history:
        lines = event.details.get("lines")
        if isinstance(lines, list):
            size += _LINE_ENTRY * len(lines)
    return size


class PickledDocument(NamedTuple):
    """A document and the pickle a worker process made of it (see
    :func:`ingest.engine.parallel.run_segment`): a spool on disk writes these bytes
    instead of pickling the document again."""

    document: Document
    pickled: bytes


class Spool:
    """A write-once, read-many sequence of documents on disk (held in memory
    while they fit ``memory_bytes``)."""

    def __init__(
        self,
        directory: str | None = None,
        *,
        name: str = "spool",
        path: str | None = None,
        resume: tuple[int, int] | None = None,
        memory_bytes: int = 0,
    ) -> None:
        self._file: IO[bytes]
        # documents held in memory (a scratch spool under its budget); None once on disk
        self._held: list[Document] | None = None
        self._held_bytes = 0
        self._memory_bytes = memory_bytes
        self._directory, self._name = directory, name
        # where each document's pickle starts in the file, for read_at(); None when
        # unknown (a spool resumed after a crash: the records before are not indexed)
        self._offsets: array.array[int] | None = array.array("q")
        self._end = 0  # bytes written
        if path is None:
            self.count = 0
            if memory_bytes > 0:
                self._held = []
                self.path = ""  # no file yet: made when the documents spill
                return
            self._open_scratch()
            return
        self.path = path
        if resume is None:
            self._file = open(path, "wb", buffering=BUFFER_BYTES)  # noqa: SIM115 - closed in finish()/close()
            self.count = 0
            return
        offset, count = resume
        if os.path.getsize(path) < offset:
            raise ValueError(f"{path} is shorter than the checkpoint says ({offset} bytes)")
        self._file = open(path, "r+b", buffering=BUFFER_BYTES)  # noqa: SIM115
        self._file.truncate(offset)
        self._file.seek(offset)
        self.count = count
        self._offsets = None if count else self._offsets
        self._end = offset

    def _open_scratch(self) -> None:
        fd, self.path = tempfile.mkstemp(
            prefix=f"ingest-{self._name}-", suffix=".pickle", dir=self._directory
        )
        self._file = os.fdopen(fd, "wb", buffering=BUFFER_BYTES)

    def write(self, doc: Document | PickledDocument) -> None:
        pickled = None
        if type(doc) is PickledDocument:
            doc, pickled = doc
        assert isinstance(doc, Document)  # for the type checker: unpacked above
        held = self._held
        if held is not None:
            held.append(doc)
            self.count += 1
            self._held_bytes += _estimated_bytes(doc)
            if self._held_bytes > self._memory_bytes:
                self._spill()
            return
        self._append(pickled if pickled is not None else pickle.dumps(doc, protocol=pickle.HIGHEST_PROTOCOL))

    def _append(self, pickled: bytes) -> None:
        # One self-contained pickle per document: a shared pickler would
        # remember every object written, and memory would grow with the corpus.
        self._file.write(pickled)
        if self._offsets is not None:
            self._offsets.append(self._end)
        self._end += len(pickled)
        self.count += 1

    def _spill(self) -> None:
        """Past the memory budget: the held documents go to the file, and so does the rest."""
        held, self._held = self._held or [], None
        self._open_scratch()
        self.count = 0  # counted again as they are written
        dumps, proto = pickle.dumps, pickle.HIGHEST_PROTOCOL
        for doc in held:
            self._append(dumps(doc, protocol=proto))

    @property
    def in_memory(self) -> bool:
        """Whether the documents are held in memory (no file)."""
        return self._held is not None

    def write_all(self, docs: Iterable[Document]) -> None:
        for doc in docs:
            self.write(doc)
        self.finish()

    def finish(self) -> None:
        """Done writing: what was written can be read."""
        if self._held is None:
            self._file.close()

    def sync(self) -> tuple[int, int]:
        """Make what was written durable; return ``(byte offset, count)``."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            return self._file.tell(), self.count
        with open(self.path, "rb+") as fh:
            os.fsync(fh.fileno())
        return os.path.getsize(self.path), self.count

    @classmethod
    def existing(cls, path: str, size: int, count: int) -> Spool:
        """A complete spool left by an interrupted run, for reading."""
        spool = cls(path=path, resume=(size, count))
        spool.finish()
        return spool

    def __iter__(self) -> Iterator[Document]:
        if self._held is not None:
            yield from self._held
            return
        with open(self.path, "rb") as fh:  # (a large read buffer makes pickle.load slower)
            for _ in range(self.count):
                yield pickle.load(fh)

    @property
    def indexed(self) -> bool:
        """Whether :meth:`read_at` can pick documents out (not after a resume)."""
        return self._held is not None or self._offsets is not None

    def read_at(self, positions: Iterable[int]) -> Iterator[Document]:
        """The documents at ``positions`` (0-based, ascending), reading only
        those records: a corpus stage that needs a few documents back (dedup's
        LSH candidates) need not unpickle every one."""
        if self._held is not None:
            held = self._held
            for i in positions:
                yield held[i]
            return
        offsets = self._offsets
        if offsets is None:
            raise ValueError(f"{self.path}: the spool was resumed; its records are not indexed")
        count, end = self.count, self._end
        with open(self.path, "rb", buffering=0) as fh:
            for i in positions:
                start = offsets[i]
                fh.seek(start)
                yield pickle.loads(fh.read((offsets[i + 1] if i + 1 < count else end) - start))

    def save_offsets(self, path: str) -> None:
        """Write where each record starts (8 bytes a document), for a reader in
        another process (:class:`ingest.engine.shards.ShardSpool`)."""
        if self._offsets is None:
            raise ValueError(f"{self.path}: the spool was resumed; its records are not indexed")
        with open(path, "wb") as fh:
            fh.write(self._offsets.tobytes())

    def __len__(self) -> int:
        return self.count

    def close(self, *, delete: bool = True) -> None:
        if self._held is not None:
            self._held = []
            return
        if not self._file.closed:
            try:
                self._file.close()  # closes the file even when the flush fails
            except OSError:
                if not delete:
                    raise
                # being deleted: what could not be flushed (a full disk) does not matter
        if not delete:
            return
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
