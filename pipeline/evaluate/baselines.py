"""Baselines computed every night on the same split as the model, so the model must earn its place.

- `bias`: global mean + regularised user and item biases (ratings), fitted by alternating least
  squares as in Surprise's BaselineOnly (reg_u 15, reg_i 10, 10 rounds).
- `popularity`: items by their number of training events.
- `content`: cosine similarity of an item's text vector to the mean text vector of the user's history.
- `random_new`: random items among those with no training events (the yardstick for cold items).
- `ease`: Steck's EASE (2019), a closed-form item-item linear model; L2 strength tuned.
- `itemknn`: item-based nearest neighbours, cosine similarity, neighbourhood size tuned.
- `ease_recent`, `itemknn_recent`: the same models scored from a recency-weighted history (a
  user's latest items count most: `pipeline.learn.data.history.recency_matrix`), the half-life tuned beside λ / k.
- `mf`: implicit-feedback matrix factorisation by alternating least squares (iALS, Hu, Koren
  and Volinsky 2008, by the `implicit` library; 15 rounds), its factors, L2 strength and
  confidence weight alpha tuned together (Rendle et al. 2022: dimension and regularisation are
  what make iALS strong; on ML-100K it scores NDCG@10 0.197 tuned, 0.168 with the 64-factor
  solver this project had written itself); for
  ratings, biased MF (r = mean + b_u + b_i + p_u.q_i) by ALS with weighted-lambda regularisation
  (Zhou et al. 2008; 32 factors, up to 15 rounds), its lambda tuned by validation RMSE.

The collaborative baselines (`ease`, `itemknn`) score zero on items without events: they are the
strong yardstick for known items, `content` and `random_new` the ones for new items. Their
hyper-parameters are chosen on the validation slice (the week before the holdout) from the small
grids below, then refitted on the whole training period: a stated budget, no untuned strawmen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.sparse as sp

from pipeline.learn.algorithms.biases import fit_biases

# EASE (`EASE_MAX_ITEMS`: above it, skipped with a warning in the log), ItemKNN and iALS live in
# `pipeline.learn.algorithms`: the model's item-item and factor terms are made of them too.
# ItemKNN (sparse co-occurrences) and iALS (per-row solves) have no size limit; their cost grows
# with the co-occurring item pairs and the events.
# Their grids (`EASE_LAMBDAS`, `ITEMKNN_KS`, and `RECENCY_HALF_LIVES` in `learn.data.history`)
# live beside them: the item-item term searches its baseline twin's grid for it.
# biased MF solves one small system per user and per item, up to 15 rounds, 4-8 fits: above this
# many users + items a night would spend minutes on a baseline, so it is skipped
BIASED_MF_MAX_ROWS = 100_000


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
        fitted = fit_biases(
            users, items, ratings, shape, reg_user=reg_user, reg_item=reg_item, rounds=rounds
        )
        return cls(*fitted)

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


class ItemScorer(Protocol):
    """A fitted collaborative baseline: users' scores of every item from their interactions."""

    def scores(self, interactions: sp.csr_matrix, rows: np.ndarray) -> np.ndarray: ...
