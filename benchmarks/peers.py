"""Peer tools as the benchmarks run them, shared so every script measures the same thing."""

from __future__ import annotations

from typing import Any


def datasketch_dedup(texts: dict[str, str]) -> tuple[dict[str, str | None], Any]:
    """datasketch MinHashLSH (5-word shingles, 128 permutations, threshold 0.8),
    greedy in id order: query, then insert; a hit makes the document a
    duplicate of the smallest id it hit. Returns ``(duplicate_of, lsh)``."""
    from datasketch import MinHash, MinHashLSH
    from ingest_plugins.dedup.normalize import normalize_text, tokenize

    k = 5
    proto = MinHash(num_perm=128, seed=1)
    perms, scheme = proto.permutations, proto.scheme  # shared: not regenerated per document
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    dup_of: dict[str, str | None] = {}
    for doc_id in sorted(texts):
        toks = tokenize(normalize_text(texts[doc_id]))
        sh = {" ".join(toks[i : i + k]) for i in range(max(1, len(toks) - k + 1))}
        m = MinHash(num_perm=128, permutations=perms, scheme=scheme)
        m.update_batch([s.encode("utf-8") for s in sh])
        hits = lsh.query(m)
        dup_of[doc_id] = min(hits) if hits else None
        lsh.insert(doc_id, m)
    return dup_of, lsh
