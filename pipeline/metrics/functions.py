"""Metric functions, in the style of microsoft/recommenders (`ndcg_at_k(truth, preds, k=10)`).

Ranking metrics take `truth`: user -> the set of relevant items (the user's holdout items), and
`preds`: user -> items ranked best first. They average over the users of `truth` that have at
least one relevant item; a user with no prediction counts as a miss (0), never as absent.
Relevance is binary.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence

import numpy as np

Truth = Mapping[Hashable, Iterable[Hashable]]
Preds = Mapping[Hashable, Sequence[Hashable]]


def _users(truth: Truth) -> list[tuple[Hashable, set[Hashable]]]:
    return [(user, set(items)) for user, items in truth.items() if items]


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else 0.0


def recall_at_k(truth: Truth, preds: Preds, k: int = 10) -> float:
    """Mean over users of |top-k ∩ relevant| / |relevant|."""
    return _mean([len(set(preds.get(u, [])[:k]) & rel) / len(rel) for u, rel in _users(truth)])


def hit_rate_at_k(truth: Truth, preds: Preds, k: int = 10) -> float:
    """Share of users with at least one relevant item in their top k."""
    return _mean([float(bool(set(preds.get(u, [])[:k]) & rel)) for u, rel in _users(truth)])


def ndcg_at_k(truth: Truth, preds: Preds, k: int = 10) -> float:
    """Mean over users of DCG@k / IDCG@k, with DCG@k = sum over hits at rank r (1-based) of
    1 / log2(r + 1), and IDCG@k the DCG of min(|relevant|, k) hits at the top."""
    scores = []
    for user, rel in _users(truth):
        ranked = preds.get(user, [])[:k]
        dcg = sum(1.0 / math.log2(r + 2) for r, item in enumerate(ranked) if item in rel)
        idcg = sum(1.0 / math.log2(r + 2) for r in range(min(len(rel), k)))
        scores.append(dcg / idcg)
    return _mean(scores)


def map_at_k(truth: Truth, preds: Preds, k: int = 10) -> float:
    """Mean over users of average precision at k: the sum of precision@r over the ranks r of the
    hits in the top k, divided by min(|relevant|, k)."""
    scores = []
    for user, rel in _users(truth):
        hits, total = 0, 0.0
        for r, item in enumerate(preds.get(user, [])[:k], start=1):
            if item in rel:
                hits += 1
                total += hits / r
        scores.append(total / min(len(rel), k))
    return _mean(scores)


def coverage_at_k(preds: Preds, catalogue_size: int, k: int = 10) -> float:
    """Distinct items in all top-k lists / the number of recommendable items."""
    if catalogue_size <= 0:
        return 0.0
    shown = {item for items in preds.values() for item in items[:k]}
    return len(shown) / catalogue_size


def rmse(truth: Sequence[float], predicted: Sequence[float]) -> float:
    """sqrt(mean((truth - predicted)^2)); nan when there is nothing to compare."""
    t, p = np.asarray(truth, dtype=float), np.asarray(predicted, dtype=float)
    return float(np.sqrt(np.mean((t - p) ** 2))) if len(t) else float("nan")


def mae(truth: Sequence[float], predicted: Sequence[float]) -> float:
    """mean(|truth - predicted|); nan when there is nothing to compare."""
    t, p = np.asarray(truth, dtype=float), np.asarray(predicted, dtype=float)
    return float(np.mean(np.abs(t - p))) if len(t) else float("nan")


def auc(positive_scores: Sequence[float], negative_scores: Sequence[float]) -> float:
    """P(score of a random positive > score of a random negative), ties counting 1/2 (ROC AUC,
    computed by scikit-learn); nan when either side is empty."""
    from sklearn.metrics import roc_auc_score

    pos, neg = np.asarray(positive_scores, float), np.asarray(negative_scores, float)
    if not len(pos) or not len(neg):
        return float("nan")
    labels = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    return float(roc_auc_score(labels, np.concatenate([pos, neg])))
