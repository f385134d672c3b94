from __future__ import annotations

import numpy as np
import pytest

from pipeline.evaluate.baselines import BiasBaseline, popularity, random_scores


def test_bias_baseline_without_regularisation_recovers_additive_ratings() -> None:
    # rating = 3 + user effect + item effect, every pair observed: the fit is exact.
    users, items = np.meshgrid(np.arange(3), np.arange(4), indexing="ij")
    users, items = users.ravel(), items.ravel()
    ratings = 3.0 + np.array([-1.0, 0.0, 1.0])[users] + np.array([0.5, -0.5, 0.25, -0.25])[items]
    fit = BiasBaseline.fit(users, items, ratings, (3, 4), reg_user=0, reg_item=0, rounds=50)
    assert fit.predict(users, items) == pytest.approx(ratings)


def test_bias_baseline_shrinks_a_single_rating_towards_the_mean() -> None:
    fit = BiasBaseline.fit(np.array([0, 1]), np.array([0, 1]), np.array([5.0, 3.0]), (2, 2))
    assert fit.mean == 4.0
    assert 0 < fit.item_bias[0] < 1.0  # 1 event vs reg 10: a tenth of the gap, not all of it


def test_popularity_counts_events() -> None:
    assert popularity(np.array([2, 2, 0]), 4).tolist() == [1, 0, 2, 0]


def test_random_new_scores_only_candidates_and_is_seeded() -> None:
    candidates = np.array([False, True, True, False])
    first = random_scores(3, candidates, seed=5)
    assert np.isinf(first[:, [0, 3]]).all() and np.isfinite(first[:, [1, 2]]).all()
    assert np.array_equal(first, random_scores(3, candidates, seed=5))


def test_ease_matches_its_closed_form_on_a_hand_computed_example() -> None:
    from pipeline.learn.algorithms.ease import EASE
    from pipeline.learn.data.history import binary_matrix

    # X^T X + I = 2I + J, whose inverse is (I - J/5) / 2: diagonal 0.4, off-diagonal -0.1,
    # so B_ij = 0.1 / 0.4 = 0.25 off the diagonal and 0 on it
    x = binary_matrix(np.array([0, 0, 1, 1, 2, 2]), np.array([0, 1, 0, 2, 1, 2]), (3, 3))
    ease = EASE.fit(x, 1.0)
    expected = [[0, 0.25, 0.25], [0.25, 0, 0.25], [0.25, 0.25, 0]]
    np.testing.assert_allclose(ease.weights, expected, rtol=1e-6)  # float32 by Cholesky
    np.testing.assert_allclose(ease.scores(x, np.array([0])), [[0.25, 0.25, 0.5]], rtol=1e-6)


def test_spd_inverse_matches_numpy_in_place() -> None:
    from pipeline.learn.algorithms.ease import spd_inverse

    rng = np.random.default_rng(0)
    a = rng.random((70, 40)).astype(np.float32)
    matrix = a @ a.T + 5 * np.eye(70, dtype=np.float32)
    expected = np.linalg.inv(matrix.astype(np.float64))
    inverse = spd_inverse(matrix, block=16)  # blocks that do not divide 70: the edges mirror too
    np.testing.assert_allclose(inverse, expected, rtol=1e-3, atol=1e-6)
    np.testing.assert_array_equal(inverse, inverse.T)
    assert np.shares_memory(inverse, matrix)  # no second items x items matrix
    with pytest.raises(np.linalg.LinAlgError):
        spd_inverse(-np.eye(3, dtype=np.float32))


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


def test_implicit_mf_recovers_two_taste_groups() -> None:
    from pipeline.learn.algorithms.ials import ImplicitMF
    from pipeline.learn.data.history import binary_matrix

    # users 0-3 like items 0-3, users 4-7 items 4-7; each user has all of their group but one
    pairs = [
        (u, i) for u in range(8) for i in (range(4) if u < 4 else range(4, 8)) if i % 4 != u % 4
    ]
    users, items = (np.array(column) for column in zip(*pairs, strict=True))
    x = binary_matrix(users, items, (8, 8))
    mf = ImplicitMF.fit(x, 1.0, factors=4)
    scores = mf.scores(x, np.arange(8))
    for u in range(8):
        missing = u % 4 + (0 if u < 4 else 4)
        elsewhere = list(range(4, 8) if u < 4 else range(4))
        assert scores[u, missing] > scores[u, elsewhere].max()
    again = ImplicitMF.fit(x, 1.0, factors=4)
    np.testing.assert_array_equal(again.users, mf.users)  # seeded: the same factors


def test_biased_mf_recovers_biases_and_a_low_rank_signal() -> None:
    from pipeline.learn.algorithms.biased_mf import BiasedMF

    rng = np.random.default_rng(0)
    n_users, n_items = 60, 40
    p, q = rng.normal(0, 0.7, (n_users, 2)), rng.normal(0, 0.7, (n_items, 2))
    bu, bi = rng.normal(0, 0.5, n_users), rng.normal(0, 0.5, n_items)
    truth = np.clip(3.5 + bu[:, None] + bi[None, :] + p @ q.T, 0.5, 5.0)
    users, items = np.meshgrid(np.arange(n_users), np.arange(n_items), indexing="ij")
    users, items = users.ravel(), items.ravel()
    seen = rng.random(len(users)) < 0.6
    fit = BiasedMF.fit(
        users[seen],
        items[seen],
        truth.ravel()[seen],
        (n_users, n_items),
        0.01,
        factors=2,
        rounds=30,
    )
    unseen_error = fit.predict(users[~seen], items[~seen]) - truth.ravel()[~seen]
    bias_only = BiasBaseline.fit(users[seen], items[seen], truth.ravel()[seen], (n_users, n_items))
    bias_error = bias_only.predict(users[~seen], items[~seen]) - truth.ravel()[~seen]
    assert np.sqrt(np.mean(unseen_error**2)) < 0.2 < np.sqrt(np.mean(bias_error**2))


def test_biased_mf_counts_a_pair_rated_twice_once_with_its_last_rating() -> None:
    from pipeline.learn.algorithms.biased_mf import BiasedMF

    once = BiasedMF.fit(np.array([0, 1]), np.array([0, 0]), np.array([5.0, 1.0]), (2, 1), 0.1)
    twice = BiasedMF.fit(
        np.array([0, 0, 1]), np.array([0, 0, 0]), np.array([2.0, 5.0, 1.0]), (2, 1), 0.1
    )
    assert once.mean == twice.mean == 3.0
    np.testing.assert_allclose(once.user_factors, twice.user_factors)


def test_biased_mf_solves_every_row_as_its_own_least_squares(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rows are solved in padded batches of similar counts: each equals its own ridge solve,
    whatever the batching (tiny batches force rows of one size class apart)."""
    import scipy.sparse as sp

    from pipeline.learn.algorithms import biased_mf

    rng = np.random.default_rng(0)
    ratings = sp.random(40, 30, density=0.3, format="csr", random_state=1)
    ratings.indptr[6] = ratings.indptr[5]  # row 5 has no ratings (they join row 6's): zeros
    ratings = sp.csr_matrix((ratings.data, ratings.indices, ratings.indptr), shape=(40, 30))
    other = rng.normal(size=(30, 4)).astype(np.float32)  # 3 factors and a bias
    lam = 0.2

    def one_row(r: int) -> np.ndarray:
        cols = ratings.indices[ratings.indptr[r] : ratings.indptr[r + 1]]
        if not len(cols):
            return np.zeros(4)
        x = np.hstack([other[cols, :-1], np.ones((len(cols), 1))]).astype(np.float64)
        y = ratings.data[ratings.indptr[r] : ratings.indptr[r + 1]] - other[cols, -1]
        return np.linalg.solve(x.T @ x + lam * len(cols) * np.eye(4), x.T @ y)

    expected = np.stack([one_row(r) for r in range(40)])
    np.testing.assert_allclose(biased_mf._biased_side(ratings, other, lam), expected, atol=1e-9)
    monkeypatch.setattr(biased_mf, "CHUNK_RATINGS", 10)
    np.testing.assert_allclose(biased_mf._biased_side(ratings, other, lam), expected, atol=1e-9)


def test_recency_matrix_weighs_each_item_by_its_position_from_the_latest() -> None:
    from pipeline.learn.data.history import recency_matrix

    # user 0: item 0 at t=0 and again at t=1, item 1 at t=2, item 2 at t=3 (the latest);
    # user 1: items 2 and 0 at the same time (a tie: the lower index counts as more recent)
    users = np.array([0, 0, 0, 0, 1, 1])
    items = np.array([0, 0, 1, 2, 2, 0])
    times = np.array([0.0, 1.0, 2.0, 3.0, 5.0, 5.0])
    x = recency_matrix(users, items, times, (2, 3), half_life=1.0).toarray()
    assert x[0].tolist() == [0.25, 0.5, 1.0]  # positions 2, 1, 0
    assert x[1].tolist() == [1.0, 0.0, 0.5]
    flat = recency_matrix(users, items, times, (2, 3), half_life=float("inf")).toarray()
    assert flat.tolist() == [[1.0, 1.0, 1.0], [1.0, 0.0, 1.0]]


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


def test_skipped_baselines_say_why(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from pipeline.evaluate import baselines
    from pipeline.evaluate.baseline_registry import skipped_baselines
    from pipeline.learn.algorithms import ease

    night = SimpleNamespace(users=range(40), items=range(30))
    assert skipped_baselines(night) == {}  # type: ignore[arg-type]
    monkeypatch.setattr(ease, "EASE_MAX_ITEMS", 29)
    monkeypatch.setattr(baselines, "BIASED_MF_MAX_ROWS", 69)
    skipped = skipped_baselines(night)  # type: ignore[arg-type]
    assert set(skipped) == {"ease", "ease_recent", "mf (ratings)"}
    assert skipped["ease"].startswith("30 items > 29")
    assert skipped["mf (ratings)"].startswith("70 users + items > 69")
