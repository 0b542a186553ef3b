"""Duplicate-detection metrics shared by the benchmarks (see shared/corpus/dev/README.md).

Pairwise precision, recall and F1 over predicted clusters (each dropped
document joins the cluster its ``duplicate_of`` chain ends in), hard
negatives merged into the cluster they imitate, and kept versus expected.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any


def score(
    dup_of: dict[str, str | None], labels: dict[str, dict[str, Any]], ids: list[str] | None = None
) -> dict[str, Any]:
    """Pairwise P/R/F1 over ``ids`` (default: every id in ``dup_of``); a
    missing id is its own cluster."""
    if ids is None:
        ids = list(dup_of)

    def root(d: str) -> str:
        seen = set()
        while dup_of.get(d) is not None and d not in seen:
            seen.add(d)
            d = dup_of[d]  # type: ignore[assignment]
        return d

    pred = {d: root(d) for d in ids}
    gold = {d: labels[d]["cluster"] for d in ids}

    def pairs(c: Counter) -> int:
        return sum(v * (v - 1) // 2 for v in c.values())

    pp, gp = pairs(Counter(pred.values())), pairs(Counter(gold.values()))
    tp = pairs(Counter((pred[d], gold[d]) for d in ids))
    p = tp / pp if pp else 1.0
    r = tp / gp if gp else 1.0
    by_cluster: dict[str, set[str]] = defaultdict(set)
    for d in ids:
        by_cluster[gold[d]].add(pred[d])
    negs = [d for d in ids if labels[d].get("negative_of")]
    return {
        "P": p,
        "R": r,
        "F1": 2 * p * r / (p + r) if p + r else 0.0,
        "hard_neg_merged": sum(1 for d in negs if pred[d] in by_cluster.get(labels[d]["negative_of"], ())),
        "hard_negs": len(negs),
        "kept": len(set(pred.values())),
        "expected": len(set(gold.values())),
    }
