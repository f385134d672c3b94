"""Users' histories as the model reads them: the whole bag and the recent items."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from pipeline.learn.towers.feature_space import history_text

# three items with orthogonal text vectors; two users (user 1 has no history)
SNAPSHOT = SimpleNamespace(
    users=pd.DataFrame({"user_id": ["a", "b"]}),
    items=pd.DataFrame({"item_id": ["x", "y", "z"]}),
    text_dim=3,
    item_text=np.eye(3, dtype=np.float32),
)


def events(*rows: tuple[int, int, float]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user", "item", "event_s"])


def test_the_whole_bag_weighs_every_item_alike_and_the_recent_one_favours_the_latest() -> None:
    history = events((0, 0, 1.0), (0, 1, 2.0), (0, 0, 0.5))  # item 0 twice: counted once
    bag, has = history_text(SNAPSHOT, history)  # type: ignore[arg-type]
    assert has.tolist() == [True, False]
    assert np.allclose(bag[0], np.array([1, 1, 0]) / np.sqrt(2))
    recent, _ = history_text(SNAPSHOT, history, half_life=1.0)  # type: ignore[arg-type]
    assert np.allclose(recent[0], np.array([0.5, 1, 0]) / np.sqrt(1.25))
    assert not recent[1].any()


def test_tonights_event_moves_the_recent_history_with_no_retraining() -> None:
    before = events((0, 0, 1.0), (0, 1, 2.0))
    after = events((0, 0, 1.0), (0, 1, 2.0), (0, 2, 3.0))  # tonight: item 2
    old, _ = history_text(SNAPSHOT, before, half_life=1.0)  # type: ignore[arg-type]
    new, _ = history_text(SNAPSHOT, after, half_life=1.0)  # type: ignore[arg-type]
    assert np.allclose(new[0], np.array([0.25, 0.5, 1]) / np.sqrt(0.0625 + 0.25 + 1))
    assert new[0, 2] > old[0, 2] and new[0, 0] < old[0, 0]


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
