"""Tokenising and shingle hashing of many documents at once, in numpy.

Per-token Python work (``re.findall`` plus a hash per token) costs more than
everything else together, so a batch of normalised texts is joined, decoded
to one UTF-32 code-point array and processed with array operations:

* word characters: a lookup table equal to Python's ``\\w`` (``isalnum()`` or
  ``_``), so tokens are exactly ``re.findall(r"\\w+", text)``;
* token hash: a polynomial over code points with a seeded odd 64-bit base
  (mod 2**64, from one prefix sum per batch), finished with the seeded
  splitmix64 mixer; deterministic across processes, unlike ``hash()``;
* k-word shingle hash: polynomial over token hashes, mixed; a window is kept
  only when its k tokens are in the same document; a text shorter than k
  tokens yields one shingle of all its tokens.

When the C extension is built (:mod:`.native`), ``tokens``, ``shingle_sets``
and ``pair_similarities`` call its kernels instead, which compute the same
values in one pass per character; the numpy code here is the reference and
the fallback (``INGEST_NATIVE=0``).

The shingle *set* of a document is its sorted unique uint32 shingle hashes: the
compact form used for exact Jaccard/containment verification (4 bytes per
distinct shingle; two 500-shingle documents share a false hash with
probability ~6e-5).
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np

from . import native

_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
_P = np.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31, _S32 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(32)
_LOW32 = np.uint64(0xFFFFFFFF)

EMPTY_U32 = np.zeros(0, dtype=np.uint32)
# bytes.translate table: ASCII \\w characters -> 1, everything else -> 0
_ASCII_WORD = bytes(1 if (chr(c).isalnum() or c == 0x5F) and c < 128 else 0 for c in range(256))
# ... and whitespace as str.split() sees it (str.isspace)
_ASCII_SPACE = bytes(1 if chr(c).isspace() and c < 128 else 0 for c in range(256))
# ... ASCII whitespace -> " ", everything else unchanged
_ASCII_TO_SPACE = bytes(32 if chr(c).isspace() and c < 128 else c for c in range(256))
EMPTY_U64 = np.zeros(0, dtype=np.uint64)
_POWERS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def exact_key_bytes(data: bytes) -> bytes:
    """128-bit content key (blake2b: stable across runs, unlike ``hash()``;
    128 bits make accidental collisions negligible)."""
    return hashlib.blake2b(data, digest_size=16).digest()


def sorted_unique(a: np.ndarray) -> np.ndarray:
    """np.unique for 1-D integer arrays without its overhead (numpy 2's
    hash-based unique is ~30x slower than a plain sort here)."""
    if a.size < 2:
        return a.copy()
    a = np.sort(a)
    keep = np.empty(a.size, dtype=bool)
    keep[0] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (wraps modulo 2**64)."""
    x = x ^ (x >> _S30)
    x = x * _C1
    x = x ^ (x >> _S27)
    x = x * _C2
    return x ^ (x >> _S31)


@functools.lru_cache(maxsize=1)
def _bmp_space_table() -> np.ndarray:
    """bool[65536]: is the BMP code point whitespace (``str.isspace``)."""
    return np.fromiter((chr(c).isspace() for c in range(0x10000)), dtype=bool, count=0x10000)


@functools.lru_cache(maxsize=1)
def _bmp_word_table() -> np.ndarray:
    """bool[65536]: is the BMP code point a ``\\w`` character."""
    return np.fromiter(((chr(c).isalnum() or c == 0x5F) for c in range(0x10000)), dtype=bool, count=0x10000)


@functools.lru_cache(maxsize=1)
def _bmp_class_table() -> np.ndarray:
    """uint8[65536]: 1 for a ``\\w`` code point, 2 for whitespace, 0 otherwise
    (one gather classifies a batch)."""
    table = np.zeros(0x10000, dtype=np.uint8)
    table[_bmp_word_table()] = 1
    table[_bmp_space_table()] = 2
    return table


class Tokens:
    """Token hashes of a batch: ``hashes[offsets[d]:offsets[d+1]]`` are
    document d's tokens in order."""

    __slots__ = ("hashes", "keys", "offsets")

    def __init__(self, hashes: np.ndarray, offsets: np.ndarray, keys: list[bytes]) -> None:
        self.hashes = hashes
        self.offsets = offsets
        self.keys = keys  # exact-duplicate key per document

    def doc(self, d: int) -> np.ndarray:
        return self.hashes[self.offsets[d] : self.offsets[d + 1]]


class ShingleHasher:
    """Seeded tokeniser + shingler for batches of normalised texts."""

    def __init__(self, seed: int, shingle_size: int) -> None:
        rng = np.random.Generator(np.random.PCG64([seed, 0x5348]))
        self.k = shingle_size
        self._base = int(rng.integers(0, 2**62, dtype=np.uint64)) * 2 + 1  # odd: invertible mod 2**64
        self._salt = rng.integers(0, 2**63, dtype=np.uint64)
        self.whitespace = True

    def _powers(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """base**i and base**-i (mod 2**64) for i < n; cached per base for the
        process, grown by doubling (16 bytes per character of the largest batch)."""
        pw, ipw = _POWERS.get(self._base, (EMPTY_U64, EMPTY_U64))
        if pw.size < n:
            size = max(n, 2 * pw.size, 1 << 16)
            inv = pow(self._base, -1, 2**64)
            pw = np.cumprod(np.full(size, self._base, dtype=np.uint64)) * np.uint64(inv)
            ipw = np.cumprod(np.full(size, inv, dtype=np.uint64)) * np.uint64(self._base)
            _POWERS[self._base] = (pw, ipw)
        return pw, ipw

    def tokens(self, texts: list[str], keys: bool = True) -> Tokens:
        """Token hashes and exact keys of a batch of normalised texts (the C
        kernel when built, else numpy: the same values). ``keys`` False: the
        exact keys may be left out (texts re-read for their shingles only)."""
        if native.lib is not None:
            return self._tokens_native(texts, keys)
        return self._tokens_numpy(texts)

    def _tokens_native(self, texts: list[str], keys: bool = True) -> Tokens:
        """:meth:`tokens` by the C kernel: it returns the exact-key input of
        each document (collapsed, narrowest width); hashlib hashes it."""
        h, off, raw = native.lib.tokens(texts, self._base, int(self._salt), self.whitespace)
        digests = [hashlib.blake2b(r, digest_size=16).digest() for r in raw] if keys else []
        return Tokens(np.frombuffer(h, dtype=np.uint64), np.frombuffer(off, dtype=np.int64), digests)

    def _tokens_numpy(self, texts: list[str]) -> Tokens:
        """:meth:`tokens` in numpy (the reference).

        ASCII texts (the common case, and an O(1) check in CPython) go through
        a bytes fast path; the others through UTF-32 code points. The two
        groups are merged back into document order with one gather.
        """
        n = len(texts)
        is_ascii = np.fromiter((t.isascii() for t in texts), dtype=bool, count=n)
        if is_ascii.all() or not is_ascii.any():
            return Tokens(*self._tokens_of(texts, bool(n) and bool(is_ascii[0])))
        groups = (np.flatnonzero(is_ascii), np.flatnonzero(~is_ascii))
        hs, starts, counts = [], np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        keys: list[bytes] = [b""] * n
        base = 0
        for ascii_group, idx in zip((True, False), groups):
            h, off, kk = self._tokens_of([texts[i] for i in idx.tolist()], ascii_group)
            hs.append(h)
            starts[idx] = base + off[:-1]
            counts[idx] = np.diff(off)
            base += h.size
            for i, k in zip(idx.tolist(), kk):
                keys[i] = k
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return Tokens(np.concatenate(hs)[concat_ranges(starts, counts)], offsets, keys)

    def _exact_keys(
        self,
        cp: np.ndarray,
        space: np.ndarray,
        lens: np.ndarray,
        spaced: np.ndarray | None = None,
        nul_free: bool = False,
    ) -> list[bytes]:
        """blake2b-128 of each document with whitespace runs collapsed to one
        space and the ends stripped (same as ``" ".join(text.split())``).

        The key hashes the narrowest encoding that holds the document (ASCII,
        UCS-2, UCS-4), so it depends only on the text, not on which code-point
        width its batch was processed in. ``spaced``: ``cp`` with every
        whitespace character already replaced by a space, if the caller has it;
        ``nul_free``: no text contains "\\0" (the separator), so documents
        end where the separators are."""
        bounds = np.zeros(lens.size + 1, dtype=np.int64)
        np.cumsum(lens + 1, out=bounds[1:])
        if not self.whitespace:
            if cp.itemsize == 1:
                raw = cp.tobytes()
                return [exact_key_bytes(raw[a : a + n]) for a, n in zip(bounds[:-1].tolist(), lens.tolist())]
            # index format 1 keys a text kept as is by its ASCII bytes, or its
            # UCS-4 bytes when it is not ASCII (a batch mixes both)
            ascii_doc = np.ones(lens.size, dtype=bool)
            if cp.size:
                top = np.maximum.reduceat(cp, np.minimum(bounds[:-1], cp.size - 1))
                ascii_doc = (top < 128) | (lens == 0)
            ucs4 = cp.astype(np.uint32, copy=False).tobytes() if not ascii_doc.all() else b""
            raw8 = cp.astype(np.uint8).tobytes() if ascii_doc.any() else b""
            return [
                exact_key_bytes(raw8[a : a + n] if asc else ucs4[4 * a : 4 * (a + n)])
                for a, n, asc in zip(bounds[:-1].tolist(), lens.tolist(), ascii_doc.tolist())
            ]
        else:
            keep = np.empty(space.size, dtype=bool)  # all but the 2nd, 3rd, ... of a whitespace run
            keep[:1] = True
            np.logical_and(space[1:], space[:-1], out=keep[1:])
            np.logical_not(keep[1:], out=keep[1:])
            if spaced is None:
                spaced = np.where(space, np.asarray(32, dtype=cp.dtype), cp)
            out = spaced[keep]
            if nul_free:  # the kept "\0" separators mark where each document ends
                lo = np.zeros(lens.size, dtype=np.int64)
                hi = np.full(lens.size, out.size, dtype=np.int64)
                sep = np.flatnonzero(out == 0)
                hi[:-1] = sep
                lo[1:] = sep + 1
            else:
                # kept characters per document (with its separator); not reduceat,
                # which fails when the last document is empty (it starts past the end)
                running = np.zeros(keep.size + 1, dtype=np.int64)
                np.cumsum(keep, out=running[1:])
                per_doc = (
                    running[np.minimum(bounds[1:], keep.size)] - running[np.minimum(bounds[:-1], keep.size)]
                )
                cut = np.zeros(lens.size + 1, dtype=np.int64)
                np.cumsum(per_doc, out=cut[1:])
                lo, hi = cut[:-1].copy(), cut[1:].copy()
                hi[:-1] -= 1  # the "\0" separator after each document but the last
            hi = np.maximum(hi, lo)
            # strip one collapsed space at either end
            if out.size:
                lo = lo + ((hi > lo) & (out[np.minimum(lo, out.size - 1)] == 32))
                hi = hi - ((hi > lo) & (out[np.maximum(hi - 1, 0)] == 32))
        raw = out.tobytes()
        size = out.itemsize
        if size == 1:  # ASCII batch
            return [exact_key_bytes(raw[a:b]) for a, b in zip(lo.tolist(), hi.tolist())]
        # narrowest width per document: 0 ASCII, 1 UCS-2, 2 UCS-4
        width = np.zeros(lens.size, dtype=np.int64)
        if out.size:
            for level, limit in ((1, 128), (2, 0x10000)):
                if level == 2 and size == 2:
                    break
                wide = np.flatnonzero(out >= limit)
                if wide.size:
                    width[np.searchsorted(hi, wide, side="right")] = level
        # each width's bytes made once for the whole batch (mixed batches are
        # mostly ASCII documents: one cast instead of one per document)
        dtypes = (np.uint8, np.uint16, np.uint32)
        raws = [raw if np.dtype(dt).itemsize == size else b"" for dt in dtypes]
        present = set(width.tolist())
        for w in present:
            if not raws[w]:
                raws[w] = out.astype(dtypes[w]).tobytes()
        keys = []
        for a, b, w in zip(lo.tolist(), hi.tolist(), width.tolist()):
            step = 1 << w
            keys.append(exact_key_bytes(raws[w][step * a : step * b]))
        return keys

    def _tokens_of(self, texts: list[str], ascii_only: bool) -> tuple[np.ndarray, np.ndarray, list[bytes]]:
        n = len(texts)
        lens = np.fromiter((len(t) for t in texts), dtype=np.int64, count=n)
        # "\0" between documents is not a word character, so tokens never span two texts
        joined = "\0".join(texts)
        if ascii_only:
            raw = joined.encode("ascii")
            cp = np.frombuffer(raw, dtype=np.uint8)
            word = np.frombuffer(raw.translate(_ASCII_WORD), dtype=bool)  # C-speed table lookup
            space = np.frombuffer(raw.translate(_ASCII_SPACE), dtype=bool)
            spaced = np.frombuffer(raw.translate(_ASCII_TO_SPACE), dtype=np.uint8)
        else:
            b16 = joined.encode("utf-16-le", "surrogatepass")
            if len(b16) == 2 * len(joined):  # no astral characters: UCS-2 (half the bytes of UTF-32)
                cp = np.frombuffer(b16, dtype=np.uint16)
                cls = np.take(_bmp_class_table(), cp.astype(np.intp))
            else:
                cp = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
                cls = np.take(_bmp_class_table(), np.minimum(cp, 0xFFFF).astype(np.intp))
                astral = np.flatnonzero(cp > 0xFFFF)  # rare: decide the few distinct ones in Python
                vals = np.unique(cp[astral])
                ok = np.array([chr(int(v)).isalnum() for v in vals], dtype=np.uint8)  # no astral whitespace
                cls[astral] = ok[np.searchsorted(vals, cp[astral])]
            word = cls == 1
            space = cls == 2
            spaced = None
        nul_free = not any("\0" in t for t in texts)
        keys = self._exact_keys(cp, space, lens, spaced, nul_free)
        # token boundaries: word/non-word transitions alternate begin, end, begin, ...
        edge = np.empty(word.size + 1, dtype=bool)
        edge[0] = word[0] if word.size else False
        edge[-1] = word[-1] if word.size else False
        np.not_equal(word[1:], word[:-1], out=edge[1:-1])
        cuts = np.flatnonzero(edge)
        if cuts.size == 0:
            return EMPTY_U64, np.zeros(n + 1, dtype=np.int64), keys
        starts = cuts[0::2]
        ends = cuts[1::2] - 1  # last character of each token
        # polynomial hash sum(c_j * base**(j - start)) from one prefix sum with
        # global powers, then one inverse power per token (a token's span holds
        # word characters only, so the others need no masking)
        pw, ipw = self._powers(cp.size)
        csum = np.multiply(cp, pw[: cp.size], dtype=np.uint64)
        np.cumsum(csum, out=csum)
        h = csum[ends]
        before = np.zeros_like(h)  # prefix sum just before each token (0 for a token at 0)
        before[1:] = csum[starts[1:] - 1]
        if starts[0] > 0:
            before[0] = csum[starts[0] - 1]
        h -= before
        h *= ipw[starts]
        h = mix64(h ^ ((ends - starts + 1).astype(np.uint64) * _P) ^ self._salt)
        doc_start = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lens + 1, out=doc_start[1:])
        offsets = np.searchsorted(starts, doc_start)  # tokens starting before each document
        offsets[-1] = starts.size
        return h, offsets, keys

    @staticmethod
    def windows(tok: Tokens, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(64-bit hashes, document index) of every in-document k-token window,
        plus one all-token shingle per document shorter than k tokens."""
        h, off = tok.hashes, tok.offsets
        n_docs = off.size - 1
        counts = np.diff(off)
        out_h, out_d = [], []
        m = h.size - k + 1
        if m > 0:
            s = h[:m].copy()
            for j in range(1, k):
                s *= _P
                s += h[j : j + m]
            doc = np.repeat(np.arange(n_docs), counts)
            ok = doc[:m] == doc[k - 1 :]
            out_h.append(mix64(s[ok] + np.uint64(k)))
            out_d.append(doc[:m][ok])
        for d in np.flatnonzero((counts > 0) & (counts < k)).tolist():
            t = h[off[d] : off[d + 1]]
            acc = 0
            for x in t.tolist():  # same polynomial as above, in Python ints (no overflow warnings)
                acc = (acc * int(_P) + x) & 0xFFFFFFFFFFFFFFFF
            acc = (acc + t.size) & 0xFFFFFFFFFFFFFFFF
            out_h.append(mix64(np.array([acc], dtype=np.uint64)))
            out_d.append(np.array([d]))
        if not out_h:
            return EMPTY_U64, np.zeros(0, dtype=np.int64)
        return np.concatenate(out_h), np.concatenate(out_d)

    def shingle_sets(self, tok: Tokens, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Concatenated sorted unique uint32 shingle sets and (n+1) offsets
        (the C kernel when built, else numpy: the same values)."""
        k = k or self.k
        if native.lib is not None:
            sets, off = native.lib.shingle_sets(
                np.ascontiguousarray(tok.hashes, dtype=np.uint64),
                np.ascontiguousarray(tok.offsets, dtype=np.int64),
                k,
            )
            return np.frombuffer(sets, dtype=np.uint32), np.frombuffer(off, dtype=np.int64)
        return self._shingle_sets_numpy(tok, k)

    def _shingle_sets_numpy(self, tok: Tokens, k: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`shingle_sets` in numpy (the reference)."""
        n_docs = tok.offsets.size - 1
        h, d = self.windows(tok, k)
        key = sorted_unique((d.astype(np.uint64) << _S32) | (h >> _S32))
        doc = (key >> _S32).astype(np.int64)
        offsets = np.zeros(n_docs + 1, dtype=np.int64)
        np.cumsum(np.bincount(doc, minlength=n_docs), out=offsets[1:])
        return (key & _LOW32).astype(np.uint32), offsets


def concat_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Indices of the concatenated ranges [starts[i], starts[i] + counts[i])."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    return np.arange(total, dtype=np.int64) + np.repeat(starts - (ends - counts), counts)


class ShingleStore:
    """Shingle sets of many rows in one uint32 buffer (grown by doubling).

    Row r's set is ``data[start[r] : start[r] + size[r]]``; ``start[r] = -1``
    means not held. One buffer instead of an array object per row: 12 bytes
    of bookkeeping per row instead of ~110, and pairs are gathered with array
    arithmetic instead of a Python loop. Exact copies share their
    representative's range.
    """

    def __init__(self) -> None:
        self.data = EMPTY_U32
        self.used = 0
        self.dead = 0  # values of dropped rows still in the buffer (compacted away when many)
        self.limit = 0  # if set, the buffer grows by doubling only up to this many values
        self.start = np.full(0, -1, dtype=np.int64)
        self.size = np.zeros(0, dtype=np.int32)

    def __len__(self) -> int:
        return self.start.size

    @property
    def nbytes(self) -> int:
        """Bytes of shingle values held (the buffer's used part)."""
        return 4 * self.used

    def grow(self, rows: int) -> None:
        """Room for ``rows`` rows (new rows hold nothing)."""
        if rows > self.start.size:
            cap = max(rows, 2 * self.start.size, 1024)
            self.start = np.concatenate((self.start, np.full(cap - self.start.size, -1, dtype=np.int64)))
            self.size = np.concatenate((self.size, np.zeros(cap - self.size.size, dtype=np.int32)))

    def put(self, rows: np.ndarray, sets: np.ndarray, offsets: np.ndarray, docs: np.ndarray) -> None:
        """Store the sets of batch documents ``docs`` (indices into the
        batch's concatenated ``sets``/``offsets``) as rows ``rows``."""
        if not len(docs):
            return
        counts = (offsets[docs + 1] - offsets[docs]).astype(np.int64)
        values = sets[concat_ranges(offsets[docs], counts)]
        need = self.used + values.size
        if need > self.data.size:
            cap = max(need, 2 * self.data.size, 1 << 16)
            if self.limit:  # doubling past a memory budget would hold twice the budget
                cap = max(need, min(cap, self.limit))
            grown = np.empty(cap, dtype=np.uint32)
            grown[: self.used] = self.data[: self.used]
            self.data = grown
        self.data[self.used : need] = values
        self.grow(int(rows.max()) + 1)
        self.start[rows] = self.used + np.cumsum(counts) - counts
        self.size[rows] = counts
        self.used = need

    def share(self, rows: np.ndarray, sources: np.ndarray) -> None:
        """Rows ``rows`` hold the same set as ``sources`` (exact copies)."""
        self.grow(int(rows.max(initial=-1)) + 1)
        self.start[rows] = self.start[sources]
        self.size[rows] = self.size[sources]

    def held(self, rows: np.ndarray) -> np.ndarray:
        """Which of ``rows`` have their set in memory."""
        rows = np.asarray(rows, dtype=np.int64)
        ok = rows < self.start.size
        ok[ok] = self.start[rows[ok]] >= 0
        return ok

    def get(self, row: int) -> np.ndarray:
        s = int(self.start[row])
        if s < 0:
            raise KeyError(row)
        return self.data[s : s + int(self.size[row])]

    def gather(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(concatenated sets, counts) of ``rows``, all of which must be held."""
        counts = self.size[rows].astype(np.int64)
        return self.data[concat_ranges(self.start[rows], counts)], counts

    def clear(self) -> None:
        """Forget every set (the bookkeeping arrays keep their size)."""
        self.data = EMPTY_U32
        self.used = self.dead = 0
        self.start[:] = -1

    def drop(self, rows: np.ndarray) -> None:
        """Forget the sets of ``rows`` (none of them shared with a row that
        stays); the buffer is compacted once most of it is dropped sets."""
        rows = rows[self.start[rows] >= 0]
        self.dead += int(self.size[rows].sum())
        self.start[rows] = -1
        if self.dead > max(self.used // 2, 1 << 18):
            self._compact()

    def _compact(self) -> None:
        live = np.flatnonzero(self.start >= 0)
        starts, inverse = np.unique(self.start[live], return_inverse=True)  # shared ranges stay shared
        sizes = np.zeros(starts.size, dtype=np.int64)
        sizes[inverse] = self.size[live]
        self.data = self.data[concat_ranges(starts, sizes)]
        self.start[live] = (np.cumsum(sizes) - sizes)[inverse]
        self.used, self.dead = self.data.size, 0


def pair_similarities(
    store: ShingleStore, pairs: np.ndarray, chunk_elems: int = 1 << 19
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Jaccard, containment and min set size for many (i, j) row pairs at
    once: both sets of every pair are tagged with the pair number, sorted
    together, and equal neighbours counted (a sort instead of one
    intersect1d call per pair). Works in chunks of about ``chunk_elems``
    shingles; every row of ``pairs`` must be held by ``store``."""
    m = pairs.shape[0]
    jac, con = np.zeros(m), np.zeros(m)
    small = np.zeros(m, dtype=np.int64)
    if m == 0:
        return jac, con, small
    sa = store.size[pairs[:, 0]].astype(np.int64)
    sb = store.size[pairs[:, 1]].astype(np.int64)
    if native.lib is not None:  # a merge per pair in C, no sort; the same counts and formulas
        raw = native.lib.intersections(
            store.data[: store.used],
            np.ascontiguousarray(store.start[pairs[:, 0]]),
            sa,
            np.ascontiguousarray(store.start[pairs[:, 1]]),
            sb,
        )
        _similarities(np.frombuffer(raw, dtype=np.int64), sa, sb, jac, con, small)
        return jac, con, small
    cum = np.cumsum(sa + sb)
    start = 0
    while start < m:
        stop = max(int(np.searchsorted(cum, (cum[start - 1] if start else 0) + chunk_elems)), start + 1)
        stop = min(stop, m)
        k = stop - start
        vals, counts = store.gather(np.concatenate((pairs[start:stop, 0], pairs[start:stop, 1])))
        key = vals.astype(np.uint64)
        key |= np.repeat(np.tile(np.arange(k, dtype=np.uint64) << _S32, 2), counts)  # pair number on top
        # the A parts then the B parts: two sorted runs, which a stable sort (timsort) merges in linear time
        key.sort(kind="stable")
        # within a pair each set is unique: equal neighbours = shared shingle;
        # pair p's values are one block of the sorted keys, so its count is a
        # sum over that block (empty blocks: 0)
        eq = np.zeros(key.size, dtype=bool)
        np.equal(key[1:], key[:-1], out=eq[:-1])
        a, b = sa[start:stop], sb[start:stop]
        lens = a + b
        inter = np.zeros(k, dtype=np.int64)
        if key.size:
            blocks = np.minimum(np.cumsum(lens) - lens, key.size - 1)
            inter = np.add.reduceat(eq, blocks, dtype=np.int64)
            inter[lens == 0] = 0
        _similarities(inter, a, b, jac[start:stop], con[start:stop], small[start:stop])
        start = stop
    return jac, con, small


def _similarities(
    inter: np.ndarray, a: np.ndarray, b: np.ndarray, jac: np.ndarray, con: np.ndarray, small: np.ndarray
) -> None:
    """Jaccard, containment and min size into ``jac``, ``con``, ``small``
    from intersection counts and set sizes (two empty sets: 1.0, 1.0)."""
    union = a + b - inter
    both_empty = union == 0
    jac[:] = np.where(both_empty, 1.0, inter / np.maximum(union, 1))
    mn = np.minimum(a, b)
    con[:] = np.where(both_empty, 1.0, inter / np.maximum(mn, 1))
    small[:] = mn
