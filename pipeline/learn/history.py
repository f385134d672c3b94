"""A user's history as weights: their latest items count most.

Both the recency-aware baselines and the model's recent-history text read it.
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
    frame = pd.DataFrame({"user": users, "item": items, "time": times})
    frame = frame.sort_values(
        ["user", "time", "item"], ascending=[True, False, True], kind="stable"
    )
    frame = frame.drop_duplicates(["user", "item"], keep="first")
    position = frame.groupby("user").cumcount().to_numpy(dtype=np.float64)
    weights = (
        np.power(0.5, position / half_life) if np.isfinite(half_life) else np.ones_like(position)
    )
    return sp.csr_matrix(
        (weights.astype(np.float32), (frame["user"].to_numpy(), frame["item"].to_numpy())),
        shape=shape,
        dtype=np.float32,
    )
