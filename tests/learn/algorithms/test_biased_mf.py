"""Biased MF by ALS, users folded in from their ratings."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.learn.algorithms.biases import fit_biases


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
    mean, b_u, b_i = fit_biases(users[seen], items[seen], truth.ravel()[seen], (n_users, n_items))
    bias_error = mean + b_u[users[~seen]] + b_i[items[~seen]] - truth.ravel()[~seen]
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
    np.testing.assert_allclose(biased_mf.SidePlan(ratings).solve(other, lam), expected, atol=1e-9)
    monkeypatch.setattr(biased_mf, "CHUNK_RATINGS", 10)
    np.testing.assert_allclose(biased_mf.SidePlan(ratings).solve(other, lam), expected, atol=1e-9)


def test_a_solve_reports_its_rows_squared_error_and_a_fit_stops_once_rounds_gain_little(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import scipy.sparse as sp

    from pipeline.learn.algorithms import biased_mf

    rng = np.random.default_rng(3)
    ratings = sp.random(30, 20, density=0.4, format="csr", random_state=2)
    ratings.data = rng.integers(1, 6, ratings.nnz).astype(np.float64)
    other = rng.normal(size=(20, 4))
    plan = biased_mf.SidePlan(ratings)
    solved = plan.solve(other, 0.1)
    coo = ratings.tocoo()
    design = np.hstack([other[:, :-1], np.ones((20, 1))])
    predicted = np.sum(solved[coo.row] * design[coo.col], axis=1) + other[coo.col, -1]
    assert plan.squared_error == pytest.approx(np.sum((coo.data - predicted) ** 2), rel=1e-9)
    rounds: list[int] = []
    real = biased_mf.SidePlan.solve

    def counted(self: biased_mf.SidePlan, o: np.ndarray, lam: float) -> np.ndarray:
        rounds.append(1)
        return real(self, o, lam)

    monkeypatch.setattr(biased_mf.SidePlan, "solve", counted)
    coo = ratings.tocoo()
    biased_mf.BiasedMF.fit(coo.row, coo.col, coo.data, (30, 20), 0.5, rounds=15)
    assert len(rounds) // 2 < 15  # converged before the cap
    monkeypatch.setattr(biased_mf, "CONVERGED_RMSE", -np.inf)  # never converged: every round
    rounds.clear()
    biased_mf.BiasedMF.fit(coo.row, coo.col, coo.data, (30, 20), 0.5, rounds=15)
    assert len(rounds) == 30
