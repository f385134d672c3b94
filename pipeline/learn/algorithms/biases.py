"""Baseline rating biases, r = mean + b_u + b_i, by regularised alternating least squares (as
Surprise's BaselineOnly): the nightly `bias` baseline, and the rating term's neighbourhood
reads its residuals against them."""

from __future__ import annotations

import numpy as np

REG_ITEM, REG_USER = 10.0, 15.0  # the biases' shrinkage towards 0 (Surprise's defaults)
BIAS_ROUNDS = 10


def fit_biases(
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    shape: tuple[int, int],
    *,
    reg_user: float = REG_USER,
    reg_item: float = REG_ITEM,
    rounds: int = BIAS_ROUNDS,
) -> tuple[float, np.ndarray, np.ndarray]:
    """(mean, user biases, item biases) of `r = mean + b_u + b_i`, by regularised alternating
    least squares (item biases first, so the user biases are the last half-step)."""
    n_users, n_items = shape
    mean = float(ratings.mean()) if len(ratings) else 0.0
    b_u, b_i = np.zeros(n_users), np.zeros(n_items)
    count_u = np.bincount(users, minlength=n_users)
    count_i = np.bincount(items, minlength=n_items)
    for _ in range(rounds):
        b_i = np.bincount(items, ratings - mean - b_u[users], n_items) / (reg_item + count_i)
        b_u = np.bincount(users, ratings - mean - b_i[items], n_users) / (reg_user + count_u)
    return mean, b_u, b_i
