"""A disk spool so corpus-level stages can read the stream more than once.

Documents are pickled one after another into a file; iterating the spool
re-reads the file from the start, so memory stays flat however large the
corpus is. Pickle (not JSON) because metadata holds typed values such as
dates that must come back as they went in; the file never leaves the run's
scratch directory, or, for a run that can be resumed, its output folder.

A spool at a fixed ``path`` can be synced (:meth:`Spool.sync`, giving the
byte offset and count a checkpoint records) and reopened after a crash at
such a point (``resume=(offset, count)``): writing goes on from there.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO

from ingest.document import Document

#: write buffer: one system call per ~200 documents instead of one per document
BUFFER_BYTES = 1 << 20


class Spool:
    """A write-once, read-many sequence of documents on disk."""

    def __init__(
        self,
        directory: str | None = None,
        *,
        name: str = "spool",
        path: str | None = None,
        resume: tuple[int, int] | None = None,
    ) -> None:
        self._file: IO[bytes]
        if path is None:
            fd, self.path = tempfile.mkstemp(prefix=f"ingest-{name}-", suffix=".pickle", dir=directory)
            self._file = os.fdopen(fd, "wb", buffering=BUFFER_BYTES)
            self.count = 0
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

    def write(self, doc: Document) -> None:
        # One self-contained pickle per document: a shared pickler would
        # remember every object written, and memory would grow with the corpus.
        pickle.dump(doc, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self.count += 1

    def write_all(self, docs: Iterable[Document]) -> None:
        for doc in docs:
            self.write(doc)
        self.finish()

    def finish(self) -> None:
        """Done writing: what was written can be read."""
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
        with open(self.path, "rb") as fh:  # (a large read buffer makes pickle.load slower)
            for _ in range(self.count):
                yield pickle.load(fh)

    def __len__(self) -> int:
        return self.count

    def close(self, *, delete: bool = True) -> None:
        if not self._file.closed:
            self._file.close()
        if not delete:
            return
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
