"""ItemKNN: cosine neighbours over co-occurrences, k per item."""

from __future__ import annotations

import numpy as np


def test_itemknn_keeps_each_items_k_nearest_by_cosine() -> None:
    from pipeline.learn.algorithms.itemknn import ItemKNN
    from pipeline.learn.data.history import binary_matrix

    # users: {0,1}, {0,1}, {0,2}, {2}; cos(0,1) = 2/sqrt(6), cos(0,2) = 1/sqrt(6), cos(1,2) = 0
    x = binary_matrix(np.array([0, 0, 1, 1, 2, 2, 3]), np.array([0, 1, 0, 1, 0, 2, 2]), (4, 3))
    knn = ItemKNN.fit(x, 1)
    high, low = 2 / np.sqrt(6), 1 / np.sqrt(6)
    np.testing.assert_allclose(
        knn.similarity.toarray(), [[0, high, low], [high, 0, 0], [0, 0, 0]], rtol=1e-6
    )
    np.testing.assert_allclose(
        knn.scores(x, np.array([2, 3])), [[0, high, low], [0, 0, 0]], rtol=1e-6
    )
    # a duplicate event counts once
    twice = binary_matrix(np.array([0, 0]), np.array([1, 1]), (1, 3))
    assert twice.toarray().tolist() == [[0.0, 1.0, 0.0]]


def test_recency_weighted_item_item_scores_are_the_weighted_sum_of_neighbours() -> None:
    from pipeline.learn.algorithms.itemknn import ItemKNN
    from pipeline.learn.data.history import binary_matrix, recency_matrix

    users = np.array([0, 0, 1, 1, 2, 2, 3])
    items = np.array([0, 1, 1, 2, 0, 2, 2])
    times = np.arange(7, dtype=float)
    knn = ItemKNN.fit(binary_matrix(users, items, (4, 3)), k=2)
    weighted = recency_matrix(users, items, times, (4, 3), half_life=1.0)
    s = knn.similarity.toarray()
    # user 0: item 1 is the latest (weight 1), item 0 one before (weight 0.5)
    expected = 0.5 * s[0] + 1.0 * s[1]
    assert np.allclose(knn.scores(weighted, np.array([0]))[0], expected)


def test_sparse_itemknn_equals_the_dense_definition() -> None:
    from pipeline.learn.algorithms.itemknn import ItemKNN
    from pipeline.learn.data.history import binary_matrix

    rng = np.random.default_rng(3)
    x = binary_matrix(rng.integers(0, 80, 900), rng.integers(0, 40, 900), (80, 40))
    co = (x.T @ x).toarray()
    norms = np.sqrt(np.diag(co))
    dense = co / norms[:, None] / norms[None, :]
    np.fill_diagonal(dense, 0.0)
    for k in (3, 10, 39):
        cut = np.argsort(-dense, axis=0, kind="stable")[k:]
        expected = dense.copy()
        np.put_along_axis(expected, cut, 0.0, axis=0)
        got = ItemKNN.fit(x, k).similarity.toarray()
        assert np.allclose(got, expected, atol=1e-6), k


def test_scores_from_the_dense_copy_equal_the_sparse_product(monkeypatch) -> None:
    from pipeline.learn.algorithms import itemknn
    from pipeline.learn.data.history import binary_matrix, recency_matrix

    rng = np.random.default_rng(3)
    users, items = rng.integers(0, 60, 900), rng.integers(0, 80, 900)
    times = rng.random(900) * 1e6
    x = binary_matrix(users, items, (60, 80))
    weighted = recency_matrix(users, items, times, (60, 80), half_life=5.0)
    rows = np.array([0, 7, 59])
    knn = itemknn.ItemKNN.fit(x, 10)
    dense = [knn.scores(h, rows) for h in (x, weighted)]  # 80 items: the dense copy
    assert knn._dense is not None
    monkeypatch.setattr(itemknn, "ITEMKNN_DENSE_MAX_ITEMS", 79)
    sparse_fit = itemknn.ItemKNN.fit(x, 10)
    sparse = [sparse_fit.scores(h, rows) for h in (x, weighted)]
    assert sparse_fit._dense is None
    for a, b in zip(dense, sparse, strict=True):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
