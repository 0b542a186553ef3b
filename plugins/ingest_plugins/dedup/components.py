"""The component round of a sharded dedup: the documents to resolve, cut by cluster.

After the pair round (:mod:`.pairs`) and the part search (:mod:`.parts`), a
document that no verified pair, exact copy or found part names is alone and kept:
only the named ones need resolving. Every decision the
engine makes about one of them (its cluster, survivor and similarity, a composite
page and the documents it holds) looks only at documents joined to it by those
links: one task of this round joins them into connected components
(:func:`cut_components`) and passes each partition of the components to one task
of the resolving round, which resolves its documents as the engine resolves the
whole corpus (:meth:`engine.DedupEngine.add_rows`). A resolving task holds its
share of the duplicates, however large the corpus.

The component task reads what the part search passed on three times, a task's
output at a time: for the rows the links name (4 bytes a row while the corpus has
fewer than 2**32 documents), for the links, joined into components as they come,
then to cut each output by partition into files of its scratch folder, which each
partition's output is read back from. It holds ~20 bytes a named document, not
the links.
"""

from __future__ import annotations

import contextlib
import pickle
from collections.abc import Iterable, Iterator
from pathlib import Path

import attrs
import numpy as np

from .buckets import VerifiedPairs, grouped_by_partition, tasks_for
from .clusters import UnionFind
from .parts import FoundParts
from .shingles import sorted_unique

#: Planned inputs per task of the resolving round: a task holds ~300 bytes for each
#: document of its share that the rounds name (a cluster's member, a page, a part);
#: about 45% of a generated news corpus's documents are named.
INPUTS_PER_PARTITION = 125_000

#: Links joined from one chunk (their Python ints exist a chunk at a time: ~70 bytes a link).
UNIONS_AT_ONCE = 1 << 16

#: Rows named by the tasks' outputs read since the last join, at least, before they are
#: joined with the rest (as many as are joined already, past this).
ROWS_JOINED_AFTER = 1 << 16

#: A partition's share of the component task's outputs, in its scratch folder.
_PARTITION_FILE = "components-{:04d}.pickle"


def partitions_for(planned: int | None) -> int:
    """How many tasks the resolving round has for ``planned`` inputs."""
    return tasks_for(planned, INPUTS_PER_PARTITION)


@attrs.define(eq=False)
class ComponentRows:
    """What the component task passes to one task of the resolving round: its
    documents and the links among them, in rows of the whole corpus."""

    #: the documents (corpus rows, ascending)
    rows: np.ndarray
    #: the verified pairs, exact copies and capped texts among them (the counts of
    #: candidates for the whole corpus in the first partition, 0 in the others)
    verified: VerifiedPairs
    #: the pages and the parts the part search found among them
    found: FoundParts


def cut_components(
    found_parts: Iterable[FoundParts], partitions: int, scratch: Path
) -> Iterator[ComponentRows]:
    """The documents the rounds name (``found_parts``: what each task of the part
    search passed on, with the pair round's verified pairs; iterated three times) in
    ``partitions`` parts, each connected component whole: its verified pairs, its
    exact copies and their originals, its pages and the parts found in them. The
    parts come one at a time; until then they wait in files in ``scratch``."""
    rows = _named_rows(found_parts)
    part_of = _partition_of(found_parts, rows, partitions)
    counts = _cut_into_files(found_parts, rows, part_of, partitions, scratch)
    for p in range(partitions):
        yield _partition(p, rows[part_of == p].astype(np.int64), counts, scratch)


@attrs.define(eq=False)
class _Counts:
    """The figures of the pair round for the whole corpus."""

    total: int
    candidates: int = 0
    checked: int = 0
    largest: int = 0


def _links(searched: FoundParts) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The links one task of the part search passed on, as arrays of corpus rows
    (``a[k]`` joined to ``b[k]``): verified pairs, copies and their originals, pages
    and the parts found in them."""
    narrow = _row_type(searched.total)
    for found in searched.verified:
        edges = found.edges.reshape(-1, 2)
        yield edges[:, 0].astype(narrow), edges[:, 1].astype(narrow)
        yield found.firsts.astype(narrow), found.copies.astype(narrow)
    yield searched.pages.astype(narrow), searched.parts.astype(narrow)


def _named_rows(found_parts: Iterable[FoundParts]) -> np.ndarray:
    """Every row the links name, and the capped texts and the pages a document is a
    copy of, sorted, distinct: joined a task's output at a time, so that the rows are
    held (up to three times over while they are joined), not the links."""
    rows = np.zeros(0, dtype=np.uint32)
    waiting: list[np.ndarray] = []
    held, any_pairs = 0, False
    for searched in found_parts:
        any_pairs = any_pairs or bool(searched.verified)
        narrow = _row_type(searched.total)
        ends = [end for pair in _links(searched) for end in pair]
        ends += [found.capped.astype(narrow) for found in searched.verified]
        waiting.append(sorted_unique(np.concatenate([*ends, searched.copied.astype(narrow)])))
        held += waiting[-1].size
        if held > max(rows.size, ROWS_JOINED_AFTER):  # joined when as many wait as are joined
            rows, waiting, held = sorted_unique(np.concatenate([rows, *waiting])), [], 0
    if not any_pairs:
        raise ValueError("the part search passed on no verified pairs")
    return sorted_unique(np.concatenate([rows, *waiting])) if waiting else rows


def _partition_of(found_parts: Iterable[FoundParts], rows: np.ndarray, partitions: int) -> np.ndarray:
    """The partition of each of ``rows``: its component's first row, modulo (the links
    read again, a task's output at a time)."""
    components = UnionFind(rows.size, compact=True)
    for searched in found_parts:
        for a_rows, b_rows in _links(searched):
            for lo in range(0, a_rows.size, UNIONS_AT_ONCE):  # a chunk's Python ints at a time
                a_at = np.searchsorted(rows, a_rows[lo : lo + UNIONS_AT_ONCE]).tolist()
                b_at = np.searchsorted(rows, b_rows[lo : lo + UNIONS_AT_ONCE]).tolist()
                for a, b in zip(a_at, b_at):
                    components.union(a, b)
    roots = components.roots(rows.size)
    del components
    return (rows[roots] % partitions).astype(np.int32)


def _row_type(total: int) -> type:
    """Rows in 4 bytes while the corpus has fewer than 2**32 documents."""
    return np.uint32 if total < 2**32 else np.int64


def _cut_into_files(
    found_parts: Iterable[FoundParts], rows: np.ndarray, part_of: np.ndarray, partitions: int, scratch: Path
) -> _Counts:
    """Each task's output cut by partition (the partition of a link's first end),
    appended to a file per partition in ``scratch``, in the order read."""
    counts: _Counts | None = None

    def cut(by: np.ndarray, *values: np.ndarray) -> list[list[np.ndarray]]:
        """``values`` in partitions, by the partition of the rows ``by`` (in order
        within a partition)."""
        starts, order = grouped_by_partition(
            part_of[np.searchsorted(rows, by.astype(rows.dtype))], partitions
        )
        ordered = [v[order] for v in values]
        bounds = starts.tolist()
        return [[v[lo:hi] for v in ordered] for lo, hi in zip(bounds[:-1], bounds[1:])]

    with contextlib.ExitStack() as stack:
        files = [
            stack.enter_context(open(scratch / _PARTITION_FILE.format(p), "wb")) for p in range(partitions)
        ]
        for searched in found_parts:
            for found in searched.verified:
                if counts is None:
                    counts = _Counts(found.total)
                counts.candidates += found.candidates
                counts.checked += found.checked
                counts.largest = max(counts.largest, found.largest)
                edges = found.edges.reshape(-1, 2)
                pairs = cut(edges[:, 0], edges, found.jaccard, found.containment)
                copies = cut(found.copies, found.copies, found.firsts)
                capped = cut(found.capped, found.capped)
                for p, out in enumerate(files):
                    pickle.dump(("verified", *pairs[p], *copies[p], *capped[p]), out, pickle.HIGHEST_PROTOCOL)
            pages = cut(searched.pages, searched.pages, searched.parts)
            copied = cut(searched.copied, searched.copied)
            for p, out in enumerate(files):
                pickle.dump(("found", *pages[p], *copied[p]), out, pickle.HIGHEST_PROTOCOL)
    assert counts is not None  # _named_rows found verified pairs
    return counts


def _partition(p: int, rows: np.ndarray, counts: _Counts, scratch: Path) -> ComponentRows:
    """Partition ``p``'s documents (``rows``) and its links, read back from its file."""
    names = ("edges", "jaccard", "containment", "copies", "firsts", "capped", "pages", "parts", "copied")
    gathered: dict[str, list[np.ndarray]] = {name: [] for name in names}
    path = scratch / _PARTITION_FILE.format(p)
    with open(path, "rb") as fh:
        while True:
            try:
                kind, *arrays = pickle.load(fh)
            except EOFError:
                break
            for name, array in zip(names[:6] if kind == "verified" else names[6:], arrays):
                gathered[name].append(array)
    path.unlink()

    def joined(name: str, dtype: type = np.int64) -> np.ndarray:
        return np.concatenate([np.zeros(0, dtype=dtype), *gathered.pop(name)]).astype(dtype, copy=False)

    edges = np.concatenate([np.zeros((0, 2), dtype=np.int64), *gathered.pop("edges")]).astype(
        np.int64, copy=False
    )
    first = p == 0
    mine = VerifiedPairs(
        counts.total,
        edges,
        joined("jaccard", np.float64),
        joined("containment", np.float64),
        counts.candidates if first else 0,
        counts.checked if first else 0,
        sorted_unique(joined("capped")),
        counts.largest,
        joined("copies"),
        joined("firsts"),
    )
    found = FoundParts(counts.total, sorted_unique(joined("copied")), joined("pages"), joined("parts"), [])
    return ComponentRows(rows, mine, found)
