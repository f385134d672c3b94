"""A user's history, latest first: as weights (their latest items count most) and as the rows of
their latest items.

The recency-aware baselines read the weights; the model's history encoder reads the rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

# Half-lives (in positions back from a user's latest item) of the recency-weighted histories
# the item-item term and the `ease_recent` / `itemknn_recent` baselines score from.
RECENCY_HALF_LIVES = (2.0, 5.0, 10.0, 25.0, 100.0)


def recency_matrix(
    users: np.ndarray,
    items: np.ndarray,
    times: np.ndarray,
    shape: tuple[int, int],
    half_life: float,
) -> sp.csr_matrix:
    """users x items: each item of a user's history weighted 0.5 ** (p / half_life), p its
    position back from the user's latest event (0: the latest; an item seen twice counts at its
    latest). Ties in time go to the lower item index; an infinite half-life is the binary matrix."""
    frame = latest_first(pd.DataFrame({"user": users, "item": items, "event_s": times}))
    position = frame.groupby("user").cumcount().to_numpy(dtype=np.float64)
    weights = (
        np.power(0.5, position / half_life) if np.isfinite(half_life) else np.ones_like(position)
    )
    return sp.csr_matrix(
        (weights.astype(np.float32), (frame["user"].to_numpy(), frame["item"].to_numpy())),
        shape=shape,
        dtype=np.float32,
    )


def latest_first(events: pd.DataFrame, *also: str) -> pd.DataFrame:
    """`events` (user, item, event_s and the columns `also`) newest first per user, each item
    once at its latest time; ties in time go to the lower item index."""
    frame = events[["user", "item", "event_s", *also]].sort_values(
        ["user", "event_s", "item"], ascending=[True, False, True], kind="stable"
    )
    return frame.drop_duplicates(["user", "item"], keep="first")


def latest_history(
    events: pd.DataFrame, n_users: int, length: int, pad: int
) -> tuple[np.ndarray, np.ndarray]:
    """Two users x `length` tables, aligned: each user's latest distinct items (item rows),
    newest first, padded with `pad` (what the model's history encoder reads); and how much more
    the user liked each than its other raters did (the rating minus the item's mean rating in
    `events`), 0 for an implicit event and for the padding (what the rating head's rated
    history reads: which items a user took says little of how they will rate, how they rated
    them does)."""
    rows = np.full((n_users, length), pad, dtype=np.int64)
    ratings = np.zeros((n_users, length), dtype=np.float32)
    if length == 0 or not len(events):
        return rows, ratings
    has_ratings = "rating" in events
    frame = latest_first(events, *(["rating"] if has_ratings else []))
    position = frame.groupby("user").cumcount().to_numpy()
    keep = position < length
    at = (frame["user"].to_numpy()[keep], position[keep])
    rows[at] = frame["item"].to_numpy()[keep]
    if has_ratings:
        item_mean = events.groupby("item")["rating"].mean()  # NaN (implicit) left out
        deviation = (frame["rating"] - frame["item"].map(item_mean)).fillna(0.0).to_numpy()
        ratings[at] = deviation[keep]
    return rows, ratings


def history_rows(events: pd.DataFrame, n_users: int, length: int, pad: int) -> np.ndarray:
    """The item rows of `latest_history`."""
    return latest_history(events, n_users, length, pad)[0]


def history_ratings(events: pd.DataFrame, n_users: int, length: int) -> np.ndarray:
    """The rating deviations of `latest_history`."""
    return latest_history(events, n_users, length, pad=0)[1]


def rating_matrix(events: pd.DataFrame, shape: tuple[int, int]) -> sp.csr_matrix:
    """users x items, each pair's latest rating (events without a rating are left out)."""
    rated = events[events["rating"].notna()]
    if "event_s" in rated:
        rated = rated.sort_values("event_s", kind="stable")
    rated = rated.drop_duplicates(["user", "item"], keep="last")
    return sp.csr_matrix(
        (
            rated["rating"].to_numpy(np.float64),
            (rated["user"].to_numpy(), rated["item"].to_numpy()),
        ),
        shape=shape,
    )


def binary_matrix(users: np.ndarray, items: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """users x items, 1.0 where the user has at least one event with the item."""
    matrix = sp.csr_matrix(
        (np.ones(len(users), dtype=np.float32), (users, items)), shape=shape, dtype=np.float32
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix
