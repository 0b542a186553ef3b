"""The component round of a sharded dedup: the documents to resolve, cut by cluster.

After the pair round (:mod:`.pairs`) and the part search (:mod:`.parts`), a
document that no verified pair, exact copy or found part names is alone and kept:
only the named ones need resolving. Every decision the
engine makes about one of them (its cluster, survivor and similarity, a composite
page and the documents it holds) looks only at documents joined to it by those
links: one task of this round joins them into connected components
(:func:`cut_components`, holding a few integers a named document and a verified
pair) and passes each partition of the components to one task of the resolving
round, which resolves its documents as the engine resolves the whole corpus
(:meth:`engine.DedupEngine.add_rows`). A resolving task holds its share of the
duplicates, however large the corpus.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable

import attrs
import numpy as np

from .buckets import VerifiedPairs, tasks_for
from .clusters import UnionFind
from .parts import FoundParts
from .shingles import sorted_unique

#: Planned inputs per task of the resolving round: a task holds ~300 bytes for each
#: document of its share that the rounds name (a cluster's member, a page, a part).
INPUTS_PER_PARTITION = 250_000

#: Links joined from one chunk (their Python ints exist a chunk at a time: ~70 bytes a link).
UNIONS_AT_ONCE = 1 << 16


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


def cut_components(found_parts: Iterable[FoundParts], partitions: int) -> list[ComponentRows]:
    """The documents the rounds name (``found_parts``: what each task of the part
    search passed on, with the pair round's verified pairs; read once) in
    ``partitions`` parts, each connected component whole: its verified pairs, its
    exact copies and their originals, its pages and the parts found in them."""
    # every kind of array gathered as the tasks' outputs are read, each let go once joined
    gathered: dict[str, list[np.ndarray]] = collections.defaultdict(list)
    total, candidates, checked, largest, tasks = None, 0, 0, 0, 0
    for searched in found_parts:
        for found in searched.verified:
            total, tasks = found.total, tasks + 1
            candidates, checked, largest = (
                candidates + found.candidates,
                checked + found.checked,
                max(largest, found.largest),
            )
            gathered["edges"].append(found.edges.ravel())  # (a, b) pairs, one after another
            for name in ("jaccard", "containment", "copies", "firsts", "capped"):
                gathered[name].append(getattr(found, name))
        for name in ("copied", "pages", "parts"):
            gathered[name].append(getattr(searched, name))
    if total is None:
        raise ValueError("the part search passed on no verified pairs")

    def joined(name: str, dtype: type = np.int64) -> np.ndarray:
        return np.concatenate([np.zeros(0, dtype=dtype), *gathered.pop(name)]).astype(dtype, copy=False)

    edges = joined("edges").reshape(-1, 2)
    jaccard, containment = joined("jaccard", np.float64), joined("containment", np.float64)
    copies, firsts = joined("copies"), joined("firsts")
    capped, copied = sorted_unique(joined("capped")), sorted_unique(joined("copied"))
    pages, parts = joined("pages"), joined("parts")
    rows = sorted_unique(np.concatenate((edges.ravel(), copies, firsts, capped, copied, pages, parts)))
    # components over the links, in rows of ``rows``
    components = UnionFind(rows.size)
    for a_rows, b_rows in ((edges[:, 0], edges[:, 1]), (firsts, copies), (pages, parts)):
        for lo in range(0, a_rows.size, UNIONS_AT_ONCE):  # a chunk's Python ints at a time
            a_at = np.searchsorted(rows, a_rows[lo : lo + UNIONS_AT_ONCE]).tolist()
            b_at = np.searchsorted(rows, b_rows[lo : lo + UNIONS_AT_ONCE]).tolist()
            for a, b in zip(a_at, b_at):
                components.union(a, b)
    # a component's partition: its first document's corpus row, modulo
    part_of = rows[components.roots(rows.size)] % partitions
    del components

    def cut(values: np.ndarray, by: np.ndarray) -> list[np.ndarray]:
        """``values`` in partitions, by the partition of the corpus rows ``by``."""
        part = part_of[np.searchsorted(rows, by)]
        order = np.argsort(part, kind="stable")  # in order within a partition
        starts = np.searchsorted(part[order], np.arange(partitions + 1))
        ordered = values[order]
        return [ordered[lo:hi] for lo, hi in zip(starts[:-1].tolist(), starts[1:].tolist())]

    edges_of = cut(edges, edges[:, 0])
    jaccard_of, containment_of = cut(jaccard, edges[:, 0]), cut(containment, edges[:, 0])
    del edges, jaccard, containment
    copies_of, firsts_of = cut(copies, copies), cut(firsts, copies)
    pages_of, parts_of = cut(pages, pages), cut(parts, pages)
    capped_of, copied_of, rows_of = cut(capped, capped), cut(copied, copied), cut(rows, rows)
    out = []
    for p in range(partitions):
        first = p == 0
        mine = VerifiedPairs(
            total,
            edges_of[p],
            jaccard_of[p],
            containment_of[p],
            candidates if first else 0,
            checked if first else 0,
            capped_of[p],
            largest,
            copies_of[p],
            firsts_of[p],
        )
        out.append(
            ComponentRows(rows_of[p], mine, FoundParts(total, copied_of[p], pages_of[p], parts_of[p], []))
        )
    return out
