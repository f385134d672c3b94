from __future__ import annotations

import math

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


def test_content_recent_scores_items_against_the_recency_weighted_texts_by_hand() -> None:
    from datetime import date

    import pandas as pd

    from pipeline.evaluate.baseline_exam import CONTENT_HALF_LIVES, text_scorer
    from pipeline.learn.data.snapshot import Snapshot
    from pipeline.learn.towers.feature_space import history_text

    # items 0 and 1 point along the two axes, item 2 between them, item 3 (new: no event) near
    # item 1; the user took item 0, then item 1 (the latest), then item 0 again (now the latest)
    item_text = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [0.28, 0.96]], dtype=np.float32)
    events = pd.DataFrame({"user": [0, 0, 0], "item": [0, 1, 0], "event_s": [1.0, 2.0, 3.0]})
    snapshot = Snapshot(
        date(2026, 1, 1), "test", pd.DataFrame(index=range(1)), pd.DataFrame(index=range(4)),
        np.zeros((1, 0), dtype=np.float32), item_text, events, np.zeros((0, 2), dtype=np.int64),
    )  # fmt: skip

    def scores(half_life: float) -> list[float]:
        profiles, _ = history_text(snapshot, events, half_life)
        return text_scorer(profiles, item_text)(np.array([0]))[0].tolist()

    # half-life 1: item 0 (latest, weight 1) and item 1 (one back, 0.5): profile (1, 0.5) / |.|
    assert scores(1.0) == pytest.approx([0.8944, 0.4472, 0.8944, 0.6797], abs=1e-4)
    # the latest item alone: item 0's own text; the new item 3 scores by its text too
    assert CONTENT_HALF_LIVES[0] == 0.01
    assert scores(0.01) == pytest.approx([1.0, 0.0, 0.6, 0.28], abs=1e-4)
    # the plain mean of the two items (each once): the `content` baseline's profile
    assert scores(math.inf) == pytest.approx([0.7071, 0.7071, 0.9899, 0.8768], abs=1e-4)
