"""Every metric against a hand-computed example."""

from __future__ import annotations

import math

import pytest

from pipeline.metrics.functions import (
    auc,
    coverage_at_k,
    hit_rate_at_k,
    mae,
    map_at_k,
    ndcg_at_k,
    recall_at_k,
    rmse,
)

# user a: relevant {1, 2}, ranked [1, 3, 2] -> hits at ranks 1 and 3
# user b: relevant {4},    ranked [5, 6, 7] -> no hit
# user c: relevant {8},    no prediction at all -> a miss, not skipped
# user d: no relevant item -> not counted
TRUTH = {"a": {1, 2}, "b": {4}, "c": {8}, "d": set()}
PREDS = {"a": [1, 3, 2], "b": [5, 6, 7], "d": [9]}


def test_recall_at_k() -> None:
    assert recall_at_k(TRUTH, PREDS, k=3) == pytest.approx((2 / 2 + 0 + 0) / 3)
    assert recall_at_k(TRUTH, PREDS, k=2) == pytest.approx((1 / 2) / 3)


def test_hit_rate_at_k() -> None:
    assert hit_rate_at_k(TRUTH, PREDS, k=1) == pytest.approx(1 / 3)
    assert hit_rate_at_k({"b": {4}}, PREDS, k=3) == 0.0


def test_ndcg_at_k() -> None:
    dcg_a = 1 / math.log2(2) + 1 / math.log2(4)  # hits at ranks 1 and 3
    idcg_a = 1 / math.log2(2) + 1 / math.log2(3)  # two hits at ranks 1 and 2
    assert ndcg_at_k(TRUTH, PREDS, k=3) == pytest.approx((dcg_a / idcg_a) / 3)
    assert ndcg_at_k({"x": {1}}, {"x": [1]}, k=10) == 1.0


def test_map_at_k() -> None:
    ap_a = (1 / 1 + 2 / 3) / 2  # precision at each hit, over min(|relevant|, k)
    assert map_at_k(TRUTH, PREDS, k=3) == pytest.approx(ap_a / 3)
    assert map_at_k({"x": {1, 2, 3}}, {"x": [1]}, k=1) == 1.0


def test_coverage_at_k() -> None:
    assert coverage_at_k(PREDS, catalogue_size=10, k=2) == pytest.approx(5 / 10)  # {1,3,5,6,9}
    assert coverage_at_k(PREDS, catalogue_size=0) == 0.0


def test_rmse_and_mae() -> None:
    assert rmse([1, 2, 3], [2, 2, 5]) == pytest.approx(math.sqrt((1 + 0 + 4) / 3))
    assert mae([1, 2, 3], [2, 2, 5]) == pytest.approx((1 + 0 + 2) / 3)
    assert math.isnan(rmse([], []))


def test_auc_counts_ties_as_half() -> None:
    # pairs (pos, neg): (3,1) win, (3,2) win, (2,1) win, (2,2) tie -> 3.5 / 4
    assert auc([3, 2], [1, 2]) == pytest.approx(3.5 / 4)
    assert auc([1], [2]) == 0.0
    assert math.isnan(auc([], [1]))


def test_empty_truth_gives_zero_not_an_error() -> None:
    assert recall_at_k({}, PREDS) == 0.0
    assert ndcg_at_k({"d": set()}, PREDS) == 0.0
