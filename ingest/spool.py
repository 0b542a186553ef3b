"""A disk spool so corpus-level stages can read the stream more than once.

Documents are pickled one after another into a temporary file; iterating
the spool re-reads the file from the start, so memory stays flat however
large the corpus is. Pickle (not JSON) because metadata holds typed values
such as dates that must come back as they went in; the file never leaves
the run's scratch directory.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Iterable, Iterator

from ingest.document import Document


class Spool:
    """A write-once, read-many sequence of documents on disk."""

    def __init__(self, directory: str | None = None, *, name: str = "spool") -> None:
        fd, self.path = tempfile.mkstemp(prefix=f"ingest-{name}-", suffix=".pickle", dir=directory)
        self._file = os.fdopen(fd, "wb")
        self.count = 0

    def write_all(self, docs: Iterable[Document]) -> None:
        for doc in docs:
            # One self-contained pickle per document: a shared pickler would
            # remember every object written, and memory would grow with the corpus.
            pickle.dump(doc, self._file, protocol=pickle.HIGHEST_PROTOCOL)
            self.count += 1
        self._file.close()

    def __iter__(self) -> Iterator[Document]:
        with open(self.path, "rb") as fh:
            for _ in range(self.count):
                yield pickle.load(fh)

    def __len__(self) -> int:
        return self.count

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
