"""The component round of a sharded dedup: the documents to resolve, cut by cluster.

After the pair round (:mod:`.pairs`) and the part search (:mod:`.parts`), a
document that no verified pair, exact copy or found part names is alone and kept:
only the named ones need resolving (:func:`rows_to_resolve`). Every decision the
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

from collections.abc import Sequence

import attrs
import numpy as np

from .buckets import VerifiedPairs
from .clusters import UnionFind
from .parts import FoundParts
from .shingles import sorted_unique

#: Planned inputs per task of the resolving round: a task holds ~300 bytes for each
#: document of its share that the rounds name (a cluster's member, a page, a part).
INPUTS_PER_PARTITION = 250_000

#: Links joined from one chunk (their Python ints exist a chunk at a time: ~70 bytes a link).
UNIONS_AT_ONCE = 1 << 16

_NO_ROWS = np.zeros(0, dtype=np.int64)


def partitions_for(planned: int | None) -> int:
    """How many tasks the resolving round has for ``planned`` inputs."""
    return max(1, -(-int(planned or 0) // INPUTS_PER_PARTITION))


def rows_to_resolve(verified: Sequence[VerifiedPairs], found_parts: Sequence[FoundParts]) -> np.ndarray:
    """The corpus rows the resolving round needs (sorted): the ends of the verified
    pairs, the exact copies and their originals, the texts of capped buckets, the
    pages and parts the part search found."""
    named = [_NO_ROWS]
    for found in verified:
        named += [found.edges.ravel(), found.copies, found.firsts, found.capped]
    for searched in found_parts:
        named += [searched.copied, searched.pages, searched.parts]
    return sorted_unique(np.concatenate(named).astype(np.int64))


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


def cut_components(found_parts: Sequence[FoundParts], partitions: int) -> list[ComponentRows]:
    """The documents the rounds name (``found_parts``: what each task of the part
    search passed on, with the pair round's verified pairs) in ``partitions`` parts,
    each connected component whole: its verified pairs, its exact copies and
    their originals, its pages and the parts found in them."""
    verified = [v for found in found_parts for v in found.verified]
    if not verified:
        raise ValueError("the part search passed on no verified pairs")
    total = verified[0].total
    rows = rows_to_resolve(verified, found_parts)
    edges = np.concatenate([v.edges.reshape(-1, 2) for v in verified]).astype(np.int64)
    jaccard = np.concatenate([v.jaccard for v in verified])
    containment = np.concatenate([v.containment for v in verified])
    copies = np.concatenate([_NO_ROWS, *(v.copies for v in verified)]).astype(np.int64)
    firsts = np.concatenate([_NO_ROWS, *(v.firsts for v in verified)]).astype(np.int64)
    capped = sorted_unique(np.concatenate([_NO_ROWS, *(v.capped for v in verified)]).astype(np.int64))
    copied = sorted_unique(np.concatenate([_NO_ROWS, *(f.copied for f in found_parts)]).astype(np.int64))
    pages = np.concatenate([_NO_ROWS, *(f.pages for f in found_parts)]).astype(np.int64)
    parts = np.concatenate([_NO_ROWS, *(f.parts for f in found_parts)]).astype(np.int64)
    # components over the links, in rows of ``rows``
    links = np.concatenate((edges, np.stack((firsts, copies), axis=1), np.stack((pages, parts), axis=1)))
    links = np.searchsorted(rows, links)
    components = UnionFind(rows.size)
    for lo in range(0, links.shape[0], UNIONS_AT_ONCE):  # a chunk's Python ints at a time
        chunk = links[lo : lo + UNIONS_AT_ONCE]
        for a, b in zip(chunk[:, 0].tolist(), chunk[:, 1].tolist()):
            components.union(a, b)
    del links
    # a component's partition: its first document's corpus row, modulo
    part_of = rows[components.roots(rows.size)] % partitions
    del components

    def of(corpus_rows: np.ndarray) -> np.ndarray:
        return part_of[np.searchsorted(rows, corpus_rows)]

    edge_part, copy_part = of(edges[:, 0]), of(copies)
    capped_part, copied_part, page_part = of(capped), of(copied), of(pages)
    out = []
    for p in range(partitions):
        first = p == 0
        mine = VerifiedPairs(
            total,
            edges[edge_part == p],
            jaccard[edge_part == p],
            containment[edge_part == p],
            sum(v.candidates for v in verified) if first else 0,
            sum(v.checked for v in verified) if first else 0,
            capped[capped_part == p],
            max(v.largest for v in verified),
            copies[copy_part == p],
            firsts[copy_part == p],
        )
        searched = FoundParts(
            total, copied[copied_part == p], pages[page_part == p], parts[page_part == p], []
        )
        out.append(ComponentRows(rows[part_of == p], mine, searched))
    return out
