"""Exact and near-duplicate removal for ``ingest`` (MinHash + LSH, verified).

Runs on cleaned text (after boilerplate removal: page furniture shared by two
unrelated pages of one site is exactly what makes raw pages look alike).

Pipeline (one module per job):

* ``normalize``: NFKC, case-folding (each switchable); whitespace is collapsed
  for the exact key only (word shingles never see it).
* ``shingles``: batches of texts become code-point arrays (ASCII bytes, else
  UCS-2, UCS-4 only for texts with astral characters); ``\\w+`` tokens,
  seeded 64-bit token hashes, k-word shingle hashes and per-document sorted
  unique uint32 shingle sets, all in numpy; the 128-bit exact key per text.
* ``native``: picks the optional C kernels (``_native.c``: the same values in
  one pass per character, also the pair intersections of verification) or
  the numpy code (no extension built, or ``INGEST_NATIVE=0``).
* ``minhash``: signatures (``oph``: one-permutation hashing with optimal
  densification, O(shingles); ``classic``: k multiply-shift permutations).
* ``lsh``: bands/rows from a target threshold (minimising weighted FP/FN
  areas like datasketch / text-dedup), candidate pairs from band buckets.
* ``engine``: candidates whose signatures show they cannot pass are skipped;
  the others verified with the real Jaccard / containment of the shingle sets
  (containment relaxed for short texts by an edit budget: length-aware);
  composite pages (a digest made of other documents, found with the help of
  each document's few smallest shingle hashes) kept out of the others'
  clusters; union-find components, split into star clusters (every duplicate
  verified against the survivor it names: no chains); survivors by policy.
* ``clusters`` (union-find), ``survivors`` (policies), ``story`` (winnowed
  long-shingle fingerprints for same-story ids), ``index`` (file format).

Determinism: no ``hash()``; every hash function is seeded; LSH candidates of a
pair do not depend on other documents; the sweep over documents goes in add
order and ties break by id, so results depend only on the set of documents
(and, for ``first_seen``, on their order, by definition) and never on the
batch size or ``workers``.

Memory: per document the engine keeps a uint32[num_perm] signature (512 B,
one per exact group), a 16-byte exact key, the id and a few integers, no text.
Shingle sets (4 B per distinct shingle) live in one buffer while they fit
``shingle_memory_mb`` (256 MB: about 150k articles); past it they are
dropped, and ``resolve(texts)`` re-reads the texts once to verify the LSH
candidates in a streaming pass that holds a set only until its last pair is
measured (the dedup stage re-reads its spool). ``keep_shingles=False`` never
holds them. About 600 B per document then, ~1.6 KB with the sets of a
400-word article; decisions are the same either way. The persistent index
always stores the shingle sets so that later runs can verify against old
documents without their texts.

Persistent index: see :mod:`.index` (format) and :mod:`.engine` (semantics:
indexed documents were already exported, so they always win; with
``first_seen`` a run against the index drops exactly the documents a combined
run would, because each document is judged only against documents seen before
it).

Public API: :class:`DedupOptions`, :class:`Decision`, :class:`Decisions`, :class:`DedupEngine`,
:class:`IndexFormatError`, :data:`FORMAT_VERSION`.
"""

from .engine import Decision, Decisions, DedupEngine, DedupOptions
from .index import FORMAT_VERSION, IndexFormatError

__all__ = ["FORMAT_VERSION", "Decision", "Decisions", "DedupEngine", "DedupOptions", "IndexFormatError"]
