"""Baselines computed every night on the same split as the model, so the model must earn its place.

- `bias`: global mean + regularised user and item biases (ratings), fitted by alternating least
  squares as in Surprise's BaselineOnly (reg_u 15, reg_i 10, 10 rounds).
- `popularity`: items by their number of training events.
- `content`: cosine similarity of an item's text vector to the mean text vector of the user's history.
- `random_new`: random items among those with no training events (the yardstick for cold items).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class BiasBaseline:
    mean: float
    user_bias: np.ndarray
    item_bias: np.ndarray

    @classmethod
    def fit(
        cls,
        users: np.ndarray,
        items: np.ndarray,
        ratings: np.ndarray,
        shape: tuple[int, int],
        *,
        reg_user: float = 15.0,
        reg_item: float = 10.0,
        rounds: int = 10,
    ) -> BiasBaseline:
        n_users, n_items = shape
        mean = float(ratings.mean()) if len(ratings) else 0.0
        bu, bi = np.zeros(n_users), np.zeros(n_items)
        count_u = np.bincount(users, minlength=n_users)
        count_i = np.bincount(items, minlength=n_items)
        for _ in range(rounds):
            bi = np.bincount(items, ratings - mean - bu[users], n_items) / (reg_item + count_i)
            bu = np.bincount(users, ratings - mean - bi[items], n_users) / (reg_user + count_u)
        return cls(mean, bu, bi)

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.mean + self.user_bias[users] + self.item_bias[items]


def popularity(items: np.ndarray, n_items: int) -> np.ndarray:
    """Training events per item, as float32 scores."""
    return np.bincount(items, minlength=n_items).astype(np.float32)


def random_scores(n_users: int, candidates: np.ndarray, seed: int) -> np.ndarray:
    """Seeded random scores over the candidate items, -inf elsewhere: [n_users, items]."""
    rng = np.random.default_rng(seed)
    scores = np.full((n_users, len(candidates)), -np.inf, dtype=np.float32)
    scores[:, candidates] = rng.random((n_users, int(candidates.sum())), dtype=np.float32)
    return scores
