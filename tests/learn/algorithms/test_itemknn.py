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
