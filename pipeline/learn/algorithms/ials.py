"""Implicit-feedback matrix factorisation by alternating least squares (iALS: Hu, Koren and
Volinsky 2008), by the `implicit` library: the nightly `mf` baseline and the factor score term
are made of it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from pipeline.learn.data.products import products, right_side

# (factors, L2 strength, alpha), searched together (Rendle et al. 2022: dimension and
# regularisation are what make iALS strong); the middle, (128, 10, 1), is what a fit without a
# validation slice uses (the best on ML-100K's)
MF_GRID = tuple(
    (factors, lam, alpha)
    for lam in (1.0, 3.0, 10.0, 30.0, 100.0)
    for factors in (64, 128)
    for alpha in (1.0, 10.0)
)
MF_ROUNDS = 15
# A night searches every point of the grid up to MF_GRID_EVENTS / 20 events (200k: an iALS fit
# costs ~1 s per 100k events on 2 cores, so the grid ~40 s); above, the points nearest the
# middle first, as many as fit the same budget of events x fits (never fewer than two).
MF_GRID_EVENTS = 4_000_000
MF_GRID_LEAST = 2


def mf_grid(events: int) -> tuple[tuple[int, float, float], ...]:
    """The points of `MF_GRID` a night with `events` events searches, in `MF_GRID`'s order."""
    n = max(MF_GRID_LEAST, min(len(MF_GRID), MF_GRID_EVENTS // max(events, 1)))
    middle = MF_GRID[len(MF_GRID) // 2]

    def distance(point: tuple[int, float, float]) -> float:
        return sum(abs(math.log(a / b)) for a, b in zip(point, middle, strict=True))

    kept = set(sorted(MF_GRID, key=distance)[:n])
    return tuple(p for p in MF_GRID if p in kept)


@dataclass
class ImplicitMF:
    """iALS: minimise sum c_ui (p_ui - x_u.y_i)^2 + lam (|x|^2 + |y|^2) with p_ui = 1 for the
    user's items (0 otherwise) and c_ui = 1 + alpha p_ui, by `implicit`'s CPU solver (seeded)."""

    users: np.ndarray  # users x factors
    items: np.ndarray  # items x factors
    _items_t: np.ndarray | None = field(default=None, init=False, repr=False)

    @classmethod
    def fit(
        cls,
        interactions: sp.csr_matrix,
        lam: float,
        *,
        factors: int = 128,
        alpha: float = 1.0,
        rounds: int = MF_ROUNDS,
        seed: int = 0,
    ) -> ImplicitMF:
        from implicit.cpu.als import AlternatingLeastSquares  # see `fold_in`
        from threadpoolctl import threadpool_limits

        # implicit parallelises over users itself; a multi-threaded BLAS beside it only contends
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=factors,
                regularization=lam,
                alpha=alpha,
                iterations=rounds,
                random_state=seed,
                calculate_training_loss=False,
            )
            model.fit(interactions.astype(np.float32).tocsr(), show_progress=False)
        return cls(
            np.asarray(model.user_factors, dtype=np.float32),
            np.asarray(model.item_factors, dtype=np.float32),
        )

    @classmethod
    def fit_grid(cls, interactions: sp.csr_matrix, index: float) -> ImplicitMF:
        """The fit of `MF_GRID[index]`: how the tuning loop, which passes one number, reaches it."""
        factors, lam, alpha = MF_GRID[int(index)]
        return cls.fit(interactions, lam, factors=factors, alpha=alpha)

    def scores(self, interactions: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
        if self._items_t is None:
            self._items_t = right_side(self.items)
        return products(self.users[rows], self._items_t)


def fold_in(items: np.ndarray, lam: float, alpha: float, history: sp.csr_matrix) -> np.ndarray:
    """Each user's least-squares factor given the item factors and their (binary) history: the
    user step of iALS, exact (Cholesky), by `implicit`'s solver."""
    # imported here: the served pyfunc loads bundles in an environment without `implicit`
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):  # as in `ImplicitMF.fit`
        model = AlternatingLeastSquares(factors=items.shape[1], regularization=lam, alpha=alpha)
        model.item_factors = np.ascontiguousarray(items, dtype=np.float32)
        users = model.recalculate_user(np.arange(history.shape[0]), history.tocsr())
    return np.asarray(users, dtype=np.float32)
