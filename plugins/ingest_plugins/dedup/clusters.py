"""Union-find over document row indices."""

from __future__ import annotations

import array

import numpy as np


class UnionFind:
    """Disjoint sets; the root of a set is always its smallest index, so the
    result does not depend on the order of unions."""

    def __init__(self, n: int = 0, *, compact: bool = False) -> None:
        # machine integers: 8 bytes per element instead of a Python int object each;
        # ``compact``: 4 bytes, for a set of fewer than 2**31 elements that never grows past it
        typecode = "i" if compact and n < 2**31 else "q"
        self.parent: array.array[int] | list[int] = array.array(typecode, range(n))

    def grow(self, n: int) -> None:
        self.parent.extend(range(len(self.parent), n))

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]  # path halving
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        if rb < ra:
            ra, rb = rb, ra
        self.parent[rb] = ra
        return True

    def roots(self, n: int | None = None) -> np.ndarray:
        """Root of each of the first ``n`` elements, all at once (pointer
        jumping in numpy: a parent is never larger than its child, so the
        first ``n`` elements only point among themselves)."""
        compact = isinstance(self.parent, array.array) and self.parent.itemsize == 4
        p = np.array(
            self.parent[: len(self.parent) if n is None else n], dtype=np.int32 if compact else np.int64
        )
        while True:
            pp = p[p]
            if (pp == p).all():
                return p
            p = pp
