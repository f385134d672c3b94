"""Biased matrix factorisation of explicit ratings by alternating least squares: the `mf`
rating baseline, and a member of the rating path's blend (`rating_path.py`), where a user's
factors are not kept but solved from their ratings whenever they are scored (`fold_in`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

# the regularisation grid the baseline and the rating path choose from on validation
BIASED_MF_LAMBDAS = (0.02, 0.05, 0.1, 0.2, 0.5)


@dataclass
class BiasedMF:
    """Explicit ratings: r_ui = mean + b_u + b_i + p_u.q_i, minimising squared error plus
    lam x (ratings of the row) x (|p|^2 + b^2) on each side, solved exactly side by side."""

    mean: float
    user_factors: np.ndarray  # users x (factors + 1): the last column is b_u
    item_factors: np.ndarray  # items x (factors + 1): the last column is b_i

    @classmethod
    def fit(
        cls,
        users: np.ndarray,
        items: np.ndarray,
        ratings: np.ndarray,
        shape: tuple[int, int],
        lam: float,
        *,
        factors: int = 32,
        rounds: int = 15,
        seed: int = 0,
    ) -> BiasedMF:
        rng = np.random.default_rng(seed)
        # a pair rated twice counts once, with its last rating
        key = users.astype(np.int64) * shape[1] + items
        _, first_from_end = np.unique(key[::-1], return_index=True)
        keep = len(key) - 1 - first_from_end
        users, items, ratings = users[keep], items[keep], ratings[keep]
        mean = float(ratings.mean()) if len(ratings) else 0.0
        by_user = sp.csr_matrix((ratings - mean, (users, items)), shape=shape)
        by_item = by_user.T.tocsr()
        p = np.hstack([rng.normal(0, 0.1, (shape[0], factors)), np.zeros((shape[0], 1))])
        q = np.hstack([rng.normal(0, 0.1, (shape[1], factors)), np.zeros((shape[1], 1))])
        for _ in range(rounds):
            p = _biased_side(by_user, q, lam)
            q = _biased_side(by_item, p, lam)
        return cls(mean, p, q)

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        p, q = self.user_factors[users], self.item_factors[items]
        # [p, b_u] . [q, b_i] would multiply the biases: add them instead
        dot = np.sum(p[:, :-1] * q[:, :-1], axis=1)
        return np.clip(self.mean + p[:, -1] + q[:, -1] + dot, 0.5, 5.0)


def _biased_side(rows: sp.csr_matrix, other: np.ndarray, lam: float) -> np.ndarray:
    """Each row's factors and bias given the other side's: least squares on [q_i, 1] against
    r_ui - mean - b_i (the other side's bias is its last column)."""
    k = other.shape[1]
    design = np.hstack([other[:, :-1], np.ones((len(other), 1))])
    out = np.zeros((rows.shape[0], k))
    for r in range(rows.shape[0]):
        start, end = rows.indptr[r], rows.indptr[r + 1]
        if start == end:
            continue
        cols = rows.indices[start:end]
        x = design[cols]
        target = rows.data[start:end] - other[cols, -1]
        out[r] = np.linalg.solve(x.T @ x + lam * (end - start) * np.eye(k), x.T @ target)
    return out


def fold_in(
    ratings: sp.csr_matrix, item_factors: np.ndarray, mean: float, lam: float
) -> np.ndarray:
    """Each user's factors and bias (users x (factors + 1)) from their ratings, the items' held:
    the user half-step of the fit, so tonight's ratings count with no refit."""
    centred = ratings.tocsr(copy=True)
    centred.data = centred.data - mean
    return _biased_side(centred, item_factors, lam)
