"""The rating path: kNN with baselines on the user's own ratings, blended with the head."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from pipeline.learn.algorithms import biases
from pipeline.learn.data.history import rating_matrix
from pipeline.learn.ensemble import rating_term as rp
from pipeline.learn.ensemble.rating_term import RatingTerm, UserRatings, choose_rating_term


def reference(r: np.ndarray, pairs: list[tuple[int, int]]) -> list[float]:
    """The neighbourhood model written out pair by pair, with a dense matrix (NaN = unrated)."""
    users, items = np.nonzero(~np.isnan(r))
    values = r[users, items]
    mu, n_u, n_i = values.mean(), r.shape[0], r.shape[1]
    bu, bi = np.zeros(n_u), np.zeros(n_i)
    for _ in range(biases.BIAS_ROUNDS):
        for i in range(n_i):
            rated = ~np.isnan(r[:, i])
            bi[i] = (r[rated, i] - mu - bu[rated]).sum() / (biases.REG_ITEM + rated.sum())
        for u in range(n_u):
            rated = ~np.isnan(r[u])
            bu[u] = (r[u, rated] - mu - bi[rated]).sum() / (biases.REG_USER + rated.sum())
    e = r - mu - bu[:, None] - bi[None, :]

    def sim(i: int, j: int) -> float:
        both = ~np.isnan(r[:, i]) & ~np.isnan(r[:, j])
        n = both.sum()
        den = np.sqrt((e[both, i] ** 2).sum() * (e[both, j] ** 2).sum())
        s = (e[both, i] * e[both, j]).sum() / den if den > 0 else 0.0
        return max(0.0, s * max(n - 1, 0) / (max(n - 1, 0) + rp.SHRINK))

    out = []
    for u, i in pairs:
        num = den = 0.0
        for j in np.flatnonzero(~np.isnan(r[u])):
            if j != i:
                num += sim(i, j) * e[u, j]
                den += sim(i, j)
        out.append(mu + bu[u] + bi[i] + (num / den if den > 0 else 0.0))
    return out


@pytest.fixture
def ratings() -> np.ndarray:
    rng = np.random.default_rng(3)
    r = rng.integers(1, 6, size=(30, 8)).astype(float)
    r[rng.random(r.shape) < 0.4] = np.nan
    r[:, 0] = np.clip(r[:, 1] + rng.integers(-1, 2, size=30), 1, 5)  # items 0 and 1 agree
    r[0, 0] = np.nan
    return r


def sparse(r: np.ndarray) -> sp.csr_matrix:
    users, items = np.nonzero(~np.isnan(r))
    return sp.csr_matrix((r[users, items], (users, items)), shape=r.shape)


def test_the_neighbourhood_matches_the_model_written_out_by_hand(ratings: np.ndarray) -> None:
    path = RatingTerm.fit(sparse(ratings), 0.1)
    pairs = [(0, 0), (1, 0), (2, 5), (7, 3)]
    got, support = path.neighbourhood(
        path.users(sparse(ratings)),
        np.array([p[0] for p in pairs]),
        np.array([p[1] for p in pairs]),
    )
    np.testing.assert_allclose(got, reference(ratings, pairs), rtol=1e-5)
    assert (support >= 0).all() and support[0] > 0
    # user 0 has not rated item 0; item 1 is its closest neighbour, so user 0's rating of item 1
    # moves the prediction the same way, with no refit
    high, low = ratings.copy(), ratings.copy()
    high[0, 1], low[0, 1] = 5.0, 1.0
    at = (np.array([0]), np.array([0]))
    assert (
        path.neighbourhood(path.users(sparse(high)), *at)[0]
        > path.neighbourhood(path.users(sparse(low)), *at)[0]
    )


def test_the_blend_round_trips_and_a_rating_of_zero_counts(ratings: np.ndarray) -> None:
    path = RatingTerm.fit(sparse(ratings), 0.1)
    path.blend = (0.6, 0.3, 0.2, 0.01, -0.02, 0.03, -0.1)
    back = RatingTerm.from_bytes(path.to_bytes())
    assert back.blend == path.blend and back.mean == pytest.approx(path.mean)
    assert (back.neighbours != path.neighbours).nnz == 0
    state = path.users(sparse(ratings))
    again = UserRatings.from_bytes(state.to_bytes())
    users, items = np.arange(30), np.arange(30) % 8
    head = np.full(30, 3.0)
    np.testing.assert_allclose(
        back.blended(head, again, users, items), path.blended(head, state, users, items)
    )
    events = pd.DataFrame({"user": [0, 0], "item": [1, 2], "rating": [0.0, 4.0], "event_s": [1, 2]})
    assert rating_matrix(events, (1, 3)).tocoo().nnz == 2
    matrix = rating_matrix(events, (1, 3))
    assert RatingTerm.fit(matrix, 0.1).users(matrix).rated.nnz == 2


def test_the_path_is_chosen_only_with_enough_rated_validation_pairs() -> None:
    rng = np.random.default_rng(0)
    n_users, n_items = 200, 40
    taste = rng.normal(size=(n_users, 2)) @ rng.normal(size=(2, n_items))
    full = np.clip(np.round(3 + taste), 1, 5)
    mask = rng.random(full.shape) < 0.5
    users, items = np.nonzero(mask)
    train = sp.csr_matrix((full[users, items], (users, items)), shape=full.shape)
    vu, vi = np.nonzero(~mask)
    validation = pd.DataFrame({"user": vu, "item": vi, "rating": full[vu, vi]})
    head = np.full(len(validation), full[mask].mean())  # a head that knows nothing
    twin: dict[str, float] = {}
    chosen = choose_rating_term(train, head, validation, twin)
    # a rank-2 world: the members carry the signal (here the factor member most)
    assert chosen is not None and max(chosen.blend[1], chosen.blend[2]) > 0.5
    # its factor member's λ is the `mf` rating baseline's choice too (one grid a night)
    assert twin == {"baseline_mf_rating_param": chosen.factor_lam}
    few = validation.iloc[: rp.MIN_VALIDATION - 1]
    untouched: dict[str, float] = {}
    assert choose_rating_term(train, head[: len(few)], few, untouched) is None
    assert not untouched  # no search: the baseline searches its own grid

    # a warm night's head knows the ratings: the blend is fitted again against it, the members
    # kept, and the head now weighs most
    knowing = validation["rating"].to_numpy(np.float64) + rng.normal(0, 0.1, len(validation))
    again = chosen.blended_on(train, knowing, validation)
    assert again is not None and again.neighbours is chosen.neighbours
    assert again.blend[0] > 0.5 > chosen.blend[0]


def test_the_model_blends_its_head_with_the_path_and_reads_tonights_ratings() -> None:
    from pipeline.learn.towers.model import RATING_HIGH, RATING_LOW
    from tests.learn.tiny_model import head_ratings, tiny_model

    rng = np.random.default_rng(1)
    events = pd.DataFrame(
        {
            "user": np.repeat(np.arange(12), 4),
            "item": np.concatenate([rng.choice(6, 4, replace=False) for _ in range(12)]),
            "rating": rng.integers(1, 6, 48).astype(float),
            "event_s": np.arange(48.0),
        }
    )
    model, users, items = tiny_model(events, 12, 6)
    users.ratings = rating_matrix(events, (12, 6))
    pairs = (np.arange(12), np.arange(12) % 6)
    head = head_ratings(model, model.head_tables(users, items), *pairs)
    path = RatingTerm.fit(users.ratings, 0.1)
    path.blend = (0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0)
    blended = head_ratings(model, model.head_tables(users, items), *pairs, term=path)
    knn, _ = path.neighbourhood(path.users(users.ratings), *pairs)
    np.testing.assert_allclose(
        blended, np.clip(0.5 * head + 0.5 * knn, RATING_LOW, RATING_HIGH), rtol=1e-5
    )
    # a new rating of tonight changes the user's prediction without retraining
    tonight = pd.concat(
        [events, pd.DataFrame({"user": [0] * 6, "item": range(6), "rating": 5.0, "event_s": 99.0})]
    )
    users.ratings = rating_matrix(tonight, (12, 6))
    later = head_ratings(model, model.head_tables(users, items), *pairs, term=path)
    assert later[0] != blended[0]


def test_similarities_over_co_rated_pairs_equal_the_dense_formula(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sparse computation (only co-rated pairs) against the formula over every pair of
    items, with few enough neighbours kept that the cut to the best matters."""
    monkeypatch.setattr(rp, "KEEP", 7)
    monkeypatch.setattr(rp, "BLOCK_CELLS", 700)  # several blocks of rows
    rng = np.random.default_rng(5)
    n_users, n_items = 120, 40
    pairs = {
        (int(u), int(i))
        for u, i in zip(rng.integers(0, n_users, 1500), rng.integers(0, n_items, 1500), strict=True)
    }
    users, items = (np.array(c) for c in zip(*sorted(pairs), strict=True))
    values = rng.integers(1, 6, len(users)).astype(np.float64)
    ratings = sp.csr_matrix((values, (users, items)), shape=(n_users, n_items))
    term = RatingTerm.fit(ratings, 0.1)

    mean, b_u, b_i = biases.fit_biases(users, items, values, ratings.shape)
    e = np.zeros((n_users, n_items))
    m = np.zeros((n_users, n_items))
    e[users, items] = values - mean - b_u[users] - b_i[items]
    m[users, items] = 1.0
    num, sq_a, sq_b, common = e.T @ e, (e * e).T @ m, m.T @ (e * e), m.T @ m
    with np.errstate(divide="ignore", invalid="ignore"):
        sim = np.where(sq_a * sq_b > 0, num / np.sqrt(sq_a * sq_b), 0.0)
    sim *= np.maximum(common - 1, 0) / (np.maximum(common - 1, 0) + rp.SHRINK)
    np.fill_diagonal(sim, 0.0)
    sim = np.maximum(sim, 0.0).astype(np.float32)
    for row in range(n_items):
        kept = term.neighbours[row].toarray().ravel()
        best = np.sort(sim[row])[::-1][:7]
        np.testing.assert_allclose(np.sort(kept[kept > 0])[::-1], best[best > 0], rtol=1e-5)
        assert np.allclose(kept[kept > 0], sim[row][kept > 0], rtol=1e-5)
