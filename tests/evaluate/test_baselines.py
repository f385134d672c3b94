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
