"""The interaction score's factor term: implicit-feedback matrix factorisation (iALS, Hu, Koren
and Volinsky 2008, by the `implicit` library) whose item factors are fitted in closed-form
rounds beside the towers, and whose user factors are folded in from each user's history when
scored: a user's events of tonight change their factor with no retraining, and the bundle holds
no per-user state.

Why beside the item-item term: EASE/ItemKNN read a history item by item, iALS through a few
dozen shared factors; on catalogues with a long tail of rarely co-occurring items (Last.fm's
17,632 artists) the factors generalise where item pairs are too sparse, and the sum of both
ranks better than either (validation: EASE 0.171, iALS 0.176, their sum 0.182). The factors,
L2 strength and confidence weight alpha are chosen by the factor model's own validation
NDCG@10 from `MF_GRID`, then its weight in the sum with the towers (and the item-item term) by
the sum's (`choose_factor_term`); no weight at all is one of the choices. Items without events
borrow their factors from the known items their text reads like (`text_lenders`).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pipeline.learn.algorithms.ials import MF_GRID, ImplicitMF, fold_in, mf_grid
from pipeline.learn.algorithms.text_lending import text_lenders
from pipeline.learn.data.choice import Best, first_best
from pipeline.learn.data.history import binary_matrix
from pipeline.learn.data.products import products, right_side
from pipeline.learn.data.ranking import ScoreFn
from pipeline.learn.ensemble.judge import ColdGuard, Judge
from pipeline.learn.ensemble.scaled_search import walk_terms
from pipeline.learn.ensemble.term_alignment import follow_rows
from pipeline.learn.ensemble.term_data import TermData

log = logging.getLogger(__name__)

# the factor term's weight in the sum, relative to the spread of what it is added to; the
# largest lets the factors all but decide the order (Last.fm's validation chose 4 over EASE)
FACTOR_WEIGHTS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


@dataclass
class FactorTerm:
    """score(u, j) += scale * x_u . y_j, x_u folded in from the user's items (`fold_in`)."""

    name: ClassVar[str] = "factor"
    file: ClassVar[str] = "term_factor.npz"

    factors: int
    lam: float
    alpha: float
    scale: float
    items: np.ndarray  # items x factors, float32

    @classmethod
    def fit(
        cls,
        events: pd.DataFrame,
        shape: tuple[int, int],
        grid_point: tuple[int, float, float],
        texts: np.ndarray | None = None,
        scale: float = 1.0,
        seed: int = 0,
    ) -> FactorTerm:
        """iALS fitted on `events` at `grid_point`; with `texts`, items without events take the
        text-weighted mean of their text neighbours' factors."""
        return cls.fit_points(events, shape, [grid_point], texts, scale, seed)[0]

    @classmethod
    def fit_points(
        cls,
        events: pd.DataFrame,
        shape: tuple[int, int],
        points: list[tuple[int, float, float]],
        texts: np.ndarray | None = None,
        scale: float = 1.0,
        seed: int = 0,
    ) -> list[FactorTerm]:
        """`fit` at each of `points`, the history and the text lenders built once."""
        users, items = events["user"].to_numpy(), events["item"].to_numpy()
        x = binary_matrix(users, items, shape)
        known = np.bincount(items, minlength=shape[1]) > 0
        lend = None if texts is None else text_lenders(known, texts)
        out = []
        for factors, lam, alpha in points:
            y = ImplicitMF.fit(x, lam, factors=factors, alpha=alpha, seed=seed).items
            if lend is not None:
                y = y + np.asarray(lend.T @ y, dtype=np.float32)
            out.append(cls(factors, lam, alpha, scale, y))
        return out

    def refit(self, data: TermData) -> FactorTerm:
        """The same choice fitted on other events (the fit's and its validation's, or a night's)."""
        point = (self.factors, self.lam, self.alpha)
        return FactorTerm.fit(data.events, data.shape, point, data.texts, self.scale, data.seed)

    def rescaled(self, scale: float) -> FactorTerm:
        return replace(self, scale=scale)

    def follow(self, selection: sp.csr_matrix) -> FactorTerm:
        """The same term over another night's items (`term_alignment.selection`)."""
        return replace(self, items=follow_rows(selection, self.items))

    def describe(self) -> str:
        return (
            f"iALS {self.factors} factors, L2 {self.lam:g}, alpha {self.alpha:g}, "
            f"scale {self.scale:.4g}"
        )

    def user_factors(self, events: pd.DataFrame, n_users: int) -> np.ndarray:
        shape = (n_users, self.items.shape[0])
        history = binary_matrix(events["user"].to_numpy(), events["item"].to_numpy(), shape)
        return fold_in(self.items, self.lam, self.alpha, history)

    def scorer(self, events: pd.DataFrame, n_users: int) -> ScoreFn:
        """user rows -> the term's term of every item, users folded in from `events`."""
        x = self.user_factors(events, n_users) * np.float32(self.scale)
        items_t = right_side(self.items)
        return lambda rows: products(x[rows], items_t)

    def judged_scorer(self, events: pd.DataFrame, n_users: int) -> ScoreFn:
        """`scorer`'s scores, each chunk's users folded in when it is asked for (a user's fold-in
        is their own solve, the same bits alone or among all): a judgement ranks a sample of
        the users, and folding every user in cost more than the ranking (the 20k-user shop's
        grid of 18 points: about 0.8 s a point)."""
        history = binary_matrix(
            events["user"].to_numpy(), events["item"].to_numpy(), (n_users, self.items.shape[0])
        )
        items_t = right_side(self.items)

        def scores(rows: np.ndarray) -> np.ndarray:
            x = fold_in(self.items, self.lam, self.alpha, history[rows])
            return products(x * np.float32(self.scale), items_t)

        return scores

    def pair_scorer(
        self, events: pd.DataFrame, n_users: int
    ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """(user rows, item rows) -> the term's term of each pair."""
        x = self.user_factors(events, n_users) * np.float32(self.scale)
        return lambda users, items: np.sum(x[users] * self.items[items], axis=1)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        meta = np.array([self.factors, self.lam, self.alpha, self.scale], dtype=np.float64)
        np.savez_compressed(buffer, meta=meta, items=self.items)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, raw: bytes) -> FactorTerm:
        with np.load(io.BytesIO(raw)) as f:
            factors, lam, alpha, scale = f["meta"].tolist()
            return cls(int(factors), lam, alpha, scale, np.asarray(f["items"], np.float32))


def choose_factor_term(
    judge: Judge,
    events: pd.DataFrame,
    shape: tuple[int, int],
    base: ScoreFn | None,
    texts: np.ndarray | None = None,
    seed: int = 0,
    chosen: dict[str, float] | None = None,
) -> FactorTerm | None:
    """The iALS fit of `MF_GRID` that ranks the validation slice best on its own, then the
    weight (walked: `walk_terms`) whose sum with the towers and `base` (the item-item term's
    term, if any) ranks it best while recalling nearly as many of its cold items as the towers
    alone; None when no weight beats the sum without it. `chosen` gets the grid point's index
    (whatever the weight says) under the `mf` baseline's name: a night searches the grid once."""
    if not len(events):
        return None
    grid = mf_grid(len(events))
    fitted = FactorTerm.fit_points(events, shape, list(grid), texts, seed=seed)
    fits = dict(zip(grid, fitted, strict=True))
    # the judged users folded in, a chunk at a time (`judged_scorer`). Every point is scored,
    # not walked: the grid's axes interact (a large alpha wants a large L2), and a
    # walk along one axis at a time stopped at 0.0253 where the grid's best was 0.0372 (the
    # 20k-user shop's validation)
    alone = {p: judge.alone(fit.judged_scorer(events, shape[0])) for p, fit in fits.items()}
    log.debug("factor terms alone, validation NDCG@10: %s", alone)
    point = first_best(grid, alone.__getitem__)
    if chosen is not None:  # the `mf` baseline's choice too: the same search on the same week
        chosen["baseline_mf_grid_index"] = float(MF_GRID.index(point))
    unit = fits[point].judged_scorer(events, shape[0])
    base = None if base is None else judge.cached(base)  # read again for every weight
    before = judge.judged(base)[0]
    spread = judge.spread(None if base is None else lambda r: judge.towers(r) + base(r))
    best: Best[float] = Best(before, allows=ColdGuard.of(judge).allows)
    walk_terms(
        "factor", judge, best, [lambda: unit], FACTOR_WEIGHTS, spread, lambda _, scale: scale, base
    )
    if best.choice is None:
        log.info("factor term: none chosen (%.4f without it on validation)", before)
        return None
    chosen = fits[point]
    chosen.scale = best.choice
    log.info(
        "factor term: iALS %d factors, L2 %g, alpha %g (alone %.4f), scale %.4g: validation "
        "NDCG@10 %.4f (%.4f without it)",
        *(chosen.factors, chosen.lam, chosen.alpha, alone[point], chosen.scale, best.score, before),
    )
    return chosen
