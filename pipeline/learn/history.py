"""A user's history, latest first: as weights (their latest items count most) and as the rows of
their latest items.

The recency-aware baselines read the weights; the model's history encoder reads the rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp


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


def history_rows(events: pd.DataFrame, n_users: int, length: int, pad: int) -> np.ndarray:
    """users x `length`: each user's latest distinct items (item rows), newest first, padded
    with `pad`: what the model's history encoder reads."""
    out = np.full((n_users, length), pad, dtype=np.int64)
    if length == 0 or not len(events):
        return out
    frame = latest_first(events)
    position = frame.groupby("user").cumcount().to_numpy()
    keep = position < length
    out[frame["user"].to_numpy()[keep], position[keep]] = frame["item"].to_numpy()[keep]
    return out


def history_ratings(events: pd.DataFrame, n_users: int, length: int) -> np.ndarray:
    """users x `length`, aligned with `history_rows`: how much more the user liked each of
    their latest items than its other raters did (the rating minus the item's mean rating in
    `events`); 0 for an implicit event and for the padding. What the rating head's rated history
    reads: which items a user took says little of how they will rate, how they rated them does."""
    out = np.zeros((n_users, length), dtype=np.float32)
    if length == 0 or not len(events) or "rating" not in events:
        return out
    frame = latest_first(events, "rating")
    rated = events[events["rating"].notna()]
    item_mean = rated.groupby("item")["rating"].mean()
    deviation = (frame["rating"] - frame["item"].map(item_mean)).fillna(0.0).to_numpy()
    position = frame.groupby("user").cumcount().to_numpy()
    keep = position < length
    out[frame["user"].to_numpy()[keep], position[keep]] = deviation[keep]
    return out
