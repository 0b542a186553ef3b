"""MinHash signatures of shingle sets, computed for a batch at once.

Two schemes, both seeded and deterministic, both giving uint32 signatures
whose positions collide with probability ~ Jaccard (so LSH banding applies):

``oph`` (default): one-permutation hashing with optimal densification (Li,
Owen, Zhang 2012; Shrivastava 2017). Each shingle is hashed once; the top bits
pick one of ``num_perm`` bins, the low 32 bits are the value, and each bin
keeps its minimum. Empty bins (short texts) borrow the value of the bin chosen
by a fixed seeded probe sequence, which keeps collision probability equal to
Jaccard. Cost is O(shingles) instead of O(shingles x num_perm): this is where
the speed over classic MinHash comes from.

``classic``: ``num_perm`` independent multiply-shift permutations
h_i(x) = ((a_i*x + b_i) mod 2**64) >> 32 (strongly universal for 32-bit
keys), the textbook estimator, ~10x slower.
"""

from __future__ import annotations

import numpy as np

from . import native
from .shingles import mix64

EMPTY_VALUE = np.uint32(0xFFFFFFFF)
_S32 = np.uint64(32)
_LOW32 = np.uint64(0xFFFFFFFF)
_PROBES = 64


class MinHasher:
    """uint32[num_perm] signatures for shingle sets (see module docstring)."""

    def __init__(self, num_perm: int, seed: int, scheme: str = "oph") -> None:
        if scheme not in ("oph", "classic"):
            raise ValueError(f"unknown minhash scheme {scheme!r}; expected 'oph' or 'classic'")
        rng = np.random.Generator(np.random.PCG64([seed, 0x4D48]))
        self.num_perm = num_perm
        self.scheme = scheme
        self.a = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        self.b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2)
        self._salt = rng.integers(0, 2**63, dtype=np.uint64)
        # densification probe sequence: for empty bin j, try bins probe[j, 0], probe[j, 1], ...
        self._probe = rng.integers(0, num_perm, size=(num_perm, _PROBES), dtype=np.int64)

    def signatures(self, sets: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """(n_docs, num_perm) uint32 for the concatenated sorted sets of a batch;
        an empty set gives all 0xFFFFFFFF."""
        n_docs = offsets.size - 1
        if self.scheme == "classic":
            out = np.empty((n_docs, self.num_perm), dtype=np.uint32)
            for d in range(n_docs):
                out[d] = self._classic(sets[offsets[d] : offsets[d + 1]])
            return out
        if native.lib is not None:
            return self._oph_native(sets, offsets)
        return self._oph(sets, offsets)

    def _oph_native(self, sets: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """:meth:`_oph` by the C kernel (the same values)."""
        raw = native.lib.oph(
            np.ascontiguousarray(sets, dtype=np.uint32),
            np.ascontiguousarray(offsets, dtype=np.int64),
            int(self._salt),
            self.num_perm,
            np.ascontiguousarray(self._probe, dtype=np.int64),
        )
        return np.frombuffer(raw, dtype=np.uint32).reshape(offsets.size - 1, self.num_perm)

    def _classic(self, x32: np.ndarray, chunk: int = 2048) -> np.ndarray:
        if x32.size == 0:
            return np.full(self.num_perm, EMPTY_VALUE, dtype=np.uint32)
        x = x32.astype(np.uint64)[:, None]
        sig = None
        for start in range(0, x.shape[0], chunk):  # bounds the temporary to chunk*num_perm*8 bytes
            h = x[start : start + chunk] * self.a
            h += self.b
            h >>= _S32
            m = h.min(axis=0)
            sig = m if sig is None else np.minimum(sig, m)
        return sig.astype(np.uint32)

    def _oph(self, sets: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        n_docs, p = offsets.size - 1, self.num_perm
        sig = np.full((n_docs, p), EMPTY_VALUE, dtype=np.uint32)
        if sets.size == 0:
            return sig
        h = mix64(sets.astype(np.uint64) ^ self._salt)
        bins = (((h >> _S32) * np.uint64(p)) >> _S32).astype(np.int64)  # multiply-high: any num_perm
        doc = np.repeat(np.arange(n_docs, dtype=np.int64), np.diff(offsets))
        cell = doc * p + bins
        flat = sig.reshape(-1)
        np.minimum.at(flat, cell, (h & _LOW32).astype(np.uint32))  # per-bin minimum
        filled = np.zeros(n_docs * p, dtype=bool)
        filled[cell] = True
        filled = filled.reshape(n_docs, p)
        # densify: empty bins of non-empty documents copy a filled bin of the same document
        nonempty = np.diff(offsets) > 0
        todo_d, todo_j = np.nonzero(~filled & nonempty[:, None])
        orig = sig.copy()
        for t in range(_PROBES):
            if todo_d.size == 0:
                break
            src = self._probe[todo_j, t]
            hit = filled[todo_d, src]
            sig[todo_d[hit], todo_j[hit]] = orig[todo_d[hit], src[hit]]
            todo_d, todo_j = todo_d[~hit], todo_j[~hit]
        if todo_d.size:  # probes exhausted (very short texts): first filled bin, still deterministic
            first_bin = filled.argmax(axis=1)
            sig[todo_d, todo_j] = orig[todo_d, first_bin[todo_d]]
        return sig
