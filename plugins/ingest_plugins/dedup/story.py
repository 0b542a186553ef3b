"""Same-story grouping: documents that share long verbatim word runs.

Rewrites of one story share little at the 5-shingle level but keep long
verbatim quotes. Each document is reduced to a *winnowed* set of k-word
shingle fingerprints (Schleimer, Wilkerson, Aiken 2003: the minimum hash of
every window of ``w`` consecutive shingles). Winnowing guarantees that any
shared run of at least ``k + w - 1`` words yields a shared fingerprint, while
keeping only about 2/(w+1) of the shingles. Two documents are the same story
when they share at least ``min_shared`` fingerprints; fingerprints found in
more than ``max_df`` documents are stock phrases and ignored.
"""

from __future__ import annotations

import numpy as np

from .shingles import EMPTY_U32, ShingleHasher, Tokens, sorted_unique

_S32 = np.uint64(32)
_LOW32 = np.uint64(0xFFFFFFFF)


def winnow_batch(hasher: ShingleHasher, tok: Tokens, k: int, window: int) -> list[np.ndarray]:
    """Sorted unique uint32 winnowed fingerprints per document of a batch; a
    text shorter than k words has none (it cannot hold a long quote)."""
    n_docs = tok.offsets.size - 1
    h, doc = hasher.windows(tok, k)
    long_enough = np.diff(tok.offsets) >= k
    keep = long_enough[doc] if doc.size else np.zeros(0, dtype=bool)
    h, doc = (h[keep] >> _S32).astype(np.uint32), doc[keep]
    parts_v, parts_d = [], []
    m = h.size - window + 1
    if m > 0:
        win = np.lib.stride_tricks.sliding_window_view(h, window).min(axis=1)
        ok = doc[:m] == doc[window - 1 :]
        parts_v.append(win[ok])
        parts_d.append(doc[:m][ok])
    counts = np.bincount(doc, minlength=n_docs)
    short = np.flatnonzero((counts > 0) & (counts < window))
    if short.size:  # fewer shingles than a window: keep them all
        sel = np.isin(doc, short)
        parts_v.append(h[sel])
        parts_d.append(doc[sel])
    if not parts_v:
        return [EMPTY_U32] * n_docs
    key = sorted_unique(
        (np.concatenate(parts_d).astype(np.uint64) << _S32) | np.concatenate(parts_v).astype(np.uint64)
    )
    d = (key >> _S32).astype(np.int64)
    vals = (key & _LOW32).astype(np.uint32)
    off = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(np.bincount(d, minlength=n_docs), out=off[1:])
    return [vals[off[i] : off[i + 1]] for i in range(n_docs)]


def story_edges(fps: list[np.ndarray], min_shared: int, max_df: int) -> np.ndarray:
    """(M, 2) pairs of row indices sharing >= ``min_shared`` fingerprints."""
    n = len(fps)
    sizes = np.fromiter((f.size for f in fps), dtype=np.int64, count=n)
    if n < 2 or sizes.sum() == 0:
        return np.zeros((0, 2), dtype=np.int64)
    fp = np.concatenate(fps)
    doc = np.repeat(np.arange(n, dtype=np.int64), sizes)
    order = np.lexsort((doc, fp))
    fp, doc = fp[order], doc[order]
    starts = np.flatnonzero(np.concatenate(([True], fp[1:] != fp[:-1])))
    counts = np.diff(np.concatenate((starts, [fp.size])))
    codes = []
    for g in np.flatnonzero((counts >= 2) & (counts <= max_df)).tolist():
        members = doc[starts[g] : starts[g] + counts[g]]
        i, j = np.triu_indices(members.size, k=1)
        codes.append(members[i] * n + members[j])
    if not codes:
        return np.zeros((0, 2), dtype=np.int64)
    u = np.sort(np.concatenate(codes))
    starts = np.flatnonzero(np.concatenate(([True], u[1:] != u[:-1])))
    c = np.diff(np.append(starts, u.size))
    u = u[starts][c >= min_shared]
    return np.stack((u // n, u % n), axis=1)
