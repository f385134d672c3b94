"""Biased matrix factorisation of explicit ratings by alternating least squares: the `mf`
rating baseline, and a member of the rating term's blend (`ensemble/rating_term.py`), where a user's
factors are not kept but solved from their ratings whenever they are scored (`fold_in`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

# padded ratings per batch of rows solved together (x 8 bytes x (factors + 1): 69 MB at 32)
CHUNK_RATINGS = 262_144
# the regularisation grid the baseline and the rating term choose from on validation
BIASED_MF_LAMBDAS = (0.02, 0.05, 0.1, 0.2, 0.5)
# a fit stops after `rounds` rounds, or sooner once a round lowers the training ratings' RMSE by
# less than this (stars). ML-100K (u1): λ 0.1 stops after 10 rounds, its held-out RMSE 0.9311
# against 0.9308 after 15; λ 0.05 after 11 (0.9825 against 0.9832), λ 0.2 after 8 (0.9411
# against 0.9400)
CONVERGED_RMSE = 0.002


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
        user_side, item_side = SidePlan(by_user), SidePlan(by_user.T.tocsr())
        p = np.hstack([rng.normal(0, 0.1, (shape[0], factors)), np.zeros((shape[0], 1))])
        q = np.hstack([rng.normal(0, 0.1, (shape[1], factors)), np.zeros((shape[1], 1))])
        fitted = float("inf")
        for _ in range(rounds):
            p = user_side.solve(q, lam)
            q = item_side.solve(p, lam)
            # the training ratings' RMSE after the round: stop once a round gains little
            rmse = math.sqrt(max(item_side.squared_error, 0.0) / max(by_user.nnz, 1))
            if fitted - rmse < CONVERGED_RMSE:
                break
            fitted = rmse
        return cls(mean, p, q)

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        p, q = self.user_factors[users], self.item_factors[items]
        # [p, b_u] . [q, b_i] would multiply the biases: add them instead
        dot = np.sum(p[:, :-1] * q[:, :-1], axis=1)
        return np.clip(self.mean + p[:, -1] + q[:, -1] + dot, 0.5, 5.0)


class SidePlan:
    """One side's rows (users or items) in batches of similar rating counts, padded to the
    batch's largest, their layout worked out once for every round of a fit: a Python loop over
    rows spent most of its time in per-row overhead, and the padding's indices were found
    again in every round."""

    def __init__(self, rows: sp.csr_matrix) -> None:
        self.n_rows, self.n_other = rows.shape
        self.squared_error = 0.0  # the last `solve`'s: of its rows' ratings, given its factors
        counts = np.diff(rows.indptr)
        filled = np.flatnonzero(counts)
        size_class = np.ceil(np.log2(counts[filled])).astype(np.int64)
        # (rows, their counts, their columns padded with the padding row `n_other`, ratings)
        self.batches: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        for c in np.unique(size_class):
            members = filled[size_class == c]
            width = int(counts[members].max())
            step = max(1, CHUNK_RATINGS // width)  # bounded memory whatever the rows' counts
            offset = np.arange(width)
            for start in range(0, len(members), step):
                batch = members[start : start + step]
                at = np.minimum(rows.indptr[batch][:, None] + offset, max(rows.nnz - 1, 0))
                real = offset < counts[batch][:, None]
                cols = np.where(real, rows.indices[at], self.n_other)
                values = np.where(real, rows.data[at], 0.0)
                self.batches.append((batch, counts[batch], cols, values))

    def solve(self, other: np.ndarray, lam: float) -> np.ndarray:
        """Each row's factors and bias given the other side's: least squares on [q_i, 1]
        against r_ui - mean - b_i (the other side's bias is its last column)."""
        other = np.asarray(other, dtype=np.float64)
        if len(other) != self.n_other:  # the padding row's index is the other side's size
            raise ValueError(f"{len(other)} rows of factors for {self.n_other} columns")
        k = other.shape[1]
        # the padding row: zero design and zero target add nothing to a row's normal equations
        design = np.vstack([np.hstack([other[:, :-1], np.ones((len(other), 1))]), np.zeros(k)])
        bias = np.r_[other[:, -1], 0.0]
        eye = np.eye(k)
        out = np.zeros((self.n_rows, k))
        self.squared_error = 0.0
        for batch, counts, cols, values in self.batches:
            x = torch.from_numpy(design[cols])  # batch x width x k
            target = torch.from_numpy(values - bias[cols])
            xt = x.transpose(1, 2)
            ridge = torch.from_numpy(lam * counts[:, None, None] * eye)
            gram = torch.baddbmm(ridge, xt, x)
            rhs = torch.bmm(xt, target[..., None])
            solved = torch.linalg.solve(gram, rhs)
            out[batch] = solved[..., 0].numpy()
            # |Xw - t|² = tᵀt - 2 wᵀXᵀt + wᵀXᵀXw, from what the solve already holds
            w = solved[..., 0]
            fit = torch.bmm(gram - ridge, solved)[..., 0]
            self.squared_error += float(
                (target * target).sum() - 2 * (w * rhs[..., 0]).sum() + (w * fit).sum()
            )
        return out


def fold_in(
    ratings: sp.csr_matrix, item_factors: np.ndarray, mean: float, lam: float
) -> np.ndarray:
    """Each user's factors and bias (users x (factors + 1)) from their ratings, the items' held:
    the user half-step of the fit, so tonight's ratings count with no refit."""
    centred = ratings.tocsr(copy=True)
    centred.data = centred.data - mean
    return SidePlan(centred).solve(item_factors, lam)
