"""The rating term: the rating head's prediction blended, by least squares on the validation
slice, with two closed-form models of the user's own ratings.

The rating head sees a user through a `dim`-wide vector; a neighbourhood model reads the user's
own ratings of the items most like the one asked about, and the two err differently (ML-100K u1:
head 0.925, neighbourhood 0.943, blend 0.910). The neighbourhood is Koren's (2008) kNN with
baselines: `r = mu + b_u + b_i + sum_j s_ij (r_uj - b_uj) / sum_j s_ij` over the user's rated
items j, with s_ij the Pearson correlation of the two items' baseline residuals over their common
raters, shrunk by n_ij / (n_ij + SHRINK) and kept for the `KEEP` most similar items per item.
Item biases are fitted (regularised alternating least squares) with the similarities; a user's
bias is recomputed from their ratings whenever they are scored, so tonight's ratings move it with
no retraining and no per-user weights are kept in the model. The third member is biased MF
(`biased_mf.py`, its regularisation chosen on validation) kept the same way: its item factors are
stored, a user's factors are solved from their ratings when they are scored.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pipeline.learn.algorithms.biased_mf import BIASED_MF_LAMBDAS, BiasedMF, fold_in
from pipeline.learn.algorithms.biases import REG_USER, fit_biases
from pipeline.learn.algorithms.itemknn import top_per_row
from pipeline.learn.data.choice import walk_grid
from pipeline.learn.data.history import rating_matrix
from pipeline.learn.ensemble.history_matrix import csr_arrays, csr_of
from pipeline.learn.ensemble.term_alignment import follow_rows, follow_square
from pipeline.learn.ensemble.term_data import TermData

log = logging.getLogger(__name__)

SHRINK = 100.0  # similarity shrinkage: s * (n - 1) / (n - 1 + SHRINK)
KEEP = 200  # neighbours kept per item (ML-100K u1: 40 -> 0.915, 200 -> 0.913 blended)
MIN_VALIDATION = 200  # rated validation pairs needed to fit the blend's three numbers
# the similarities are computed a block of items at a time against every item: about this many
# cells per block (five float64 arrays of it: ~200 MB at the peak, at any catalogue size)
BLOCK_CELLS = 5_000_000


@dataclass
class UserRatings:
    """What the neighbourhood reads of every user: their residuals against the item baselines
    (users x items, sparse), which of those are rated, and each user's bias."""

    residuals: sp.csr_matrix
    rated: sp.csr_matrix
    bias: np.ndarray
    factors: np.ndarray  # users x (factors + 1): the factor member's, solved from the ratings

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            **csr_arrays(self.residuals),
            bias=self.bias,
            factors=self.factors,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, raw: bytes) -> UserRatings:
        z = np.load(io.BytesIO(raw))
        residuals = csr_of(z)
        rated = residuals.copy()
        rated.data = np.ones_like(rated.data)
        return cls(residuals, rated, z["bias"], z["factors"])


@dataclass
class RatingTerm:
    """The rating head's prediction blended with a neighbourhood and a factor member."""

    name: ClassVar[str] = "rating"
    file: ClassVar[str] = "term_rating.npz"

    mean: float
    item_bias: np.ndarray  # [items]
    neighbours: sp.csr_matrix  # items x items, shrunk similarities > 0, KEEP per row
    # the factor member: biased MF's item factors (bias last), its mean and regularisation
    factor_items: np.ndarray
    factor_mean: float
    factor_lam: float
    # rating = blend . blend_columns(...) : the head alone until `choose_rating_term` fits it
    blend: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

    @classmethod
    def fit(cls, ratings: sp.csr_matrix, lam: float, factors: BiasedMF | None = None) -> RatingTerm:
        """Biases, similarities and item factors (biased MF regularised by `lam`, or `factors`
        when already fitted so) from a users x items rating matrix (`rating_matrix`)."""
        coo = ratings.tocoo()  # explicit entries: a rating of 0 is still a rating
        users, items, values = coo.row, coo.col, coo.data.astype(np.float64)
        n_items = ratings.shape[1]
        mean, b_u, b_i = fit_biases(users, items, values, ratings.shape)
        residual = values - mean - b_u[users] - b_i[items]
        e = sp.csc_matrix((residual, (users, items)), shape=ratings.shape)
        m = sp.csc_matrix((np.ones(len(values)), (users, items)), shape=ratings.shape)
        e2 = e.multiply(e).tocsc()
        blocks = []
        step = max(1, BLOCK_CELLS // max(n_items, 1))
        for start in range(0, n_items, step):
            stop = min(start + step, n_items)
            # only co-rated pairs can be similar: every quantity on the structure of `common`
            # (sparse throughout; dense blocks made this items x items whatever the ratings)
            common = (m[:, start:stop].T @ m).tocsr()
            common.sort_indices()
            num = _on(common, (e[:, start:stop].T @ e).tocsr())
            # sum of squared residuals of each item over the raters it shares with the other
            sq_a = _on(common, (e2[:, start:stop].T @ m).tocsr())
            sq_b = _on(common, (m[:, start:stop].T @ e2).tocsr())
            shared = common.data
            with np.errstate(divide="ignore", invalid="ignore"):
                sim = np.where(sq_a * sq_b > 0, num / np.sqrt(sq_a * sq_b), 0.0)
            sim *= np.maximum(shared - 1, 0) / (np.maximum(shared - 1, 0) + SHRINK)
            rows = np.repeat(np.arange(stop - start), np.diff(common.indptr))
            sim[rows + start == common.indices] = 0.0  # an item is not its own neighbour
            block = sp.csr_matrix(
                (np.maximum(sim, 0).astype(np.float32), common.indices, common.indptr),
                shape=common.shape,
            )
            blocks.append(top_per_row(block, KEEP))
        neighbours = sp.vstack(blocks).tocsr() if blocks else sp.csr_matrix((0, 0))
        neighbours.eliminate_zeros()
        mf = (
            factors
            if factors is not None
            else BiasedMF.fit(users, items, values, ratings.shape, lam)
        )
        return cls(mean, b_i.astype(np.float32), neighbours, mf.item_factors, mf.mean, lam)

    def users(self, ratings: sp.csr_matrix) -> UserRatings:
        """Every user's residuals and bias from their ratings (the last half-step of the
        biases' alternating fit, with the item biases held)."""
        coo = ratings.tocoo()  # explicit entries: a rating of 0 is still a rating
        users, items, values = coo.row, coo.col, coo.data.astype(np.float64)
        n_users = ratings.shape[0]
        b_u = np.bincount(users, values - self.mean - self.item_bias[items], n_users) / (
            REG_USER + np.bincount(users, minlength=n_users)
        )
        residual = values - self.mean - b_u[users] - self.item_bias[items]
        return UserRatings(
            residuals=sp.csr_matrix((residual, (users, items)), shape=ratings.shape),
            rated=sp.csr_matrix((np.ones(len(values)), (users, items)), shape=ratings.shape),
            bias=b_u.astype(np.float32),
            factors=fold_in(ratings, self.factor_items, self.factor_mean, self.factor_lam),
        )

    def factor_rating(self, state: UserRatings, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The factor member's rating of each pair (biased MF with the user's folded-in factors)."""
        return BiasedMF(self.factor_mean, state.factors, self.factor_items).predict(users, items)

    def neighbourhood(
        self, state: UserRatings, users: np.ndarray, items: np.ndarray, chunk: int = 50_000
    ) -> tuple[np.ndarray, np.ndarray]:
        """The neighbourhood model's rating of each (user row, item row) pair, and its support:
        the summed similarity of the item's neighbours the user rated (0: the baseline alone).
        An item the user rated does not count as its own neighbour (the diagonal is zero)."""
        out, support = np.empty(len(users), np.float64), np.empty(len(users), np.float64)
        for start in range(0, len(users), chunk):
            u, i = users[start : start + chunk], items[start : start + chunk]
            sims = self.neighbours[i]
            num = np.asarray(state.residuals[u].multiply(sims).sum(axis=1)).ravel()
            den = np.asarray(state.rated[u].multiply(sims).sum(axis=1)).ravel()
            with np.errstate(divide="ignore", invalid="ignore"):
                lift = np.where(den > 0, num / den, 0.0)
            out[start : start + chunk] = self.mean + state.bias[u] + self.item_bias[i] + lift
            support[start : start + chunk] = den
        return out, support

    def blended(
        self, head: np.ndarray, state: UserRatings, users: np.ndarray, items: np.ndarray
    ) -> np.ndarray:
        knn, support = self.neighbourhood(state, users, items)
        factors = self.factor_rating(state, users, items)
        return blend_columns(head, knn, support, factors) @ np.asarray(self.blend)

    def blended_on(
        self, ratings: sp.csr_matrix, head: np.ndarray, rated: pd.DataFrame
    ) -> RatingTerm | None:
        """This term's members with the blend fitted by least squares to the rated validation
        pairs `rated`, given the head's predictions of them (`head`) and the users' `ratings`;
        None when the blend does not lower their RMSE."""
        users, items = rated["user"].to_numpy(), rated["item"].to_numpy()
        truth = rated["rating"].to_numpy(np.float64)
        state = self.users(ratings)
        design = blend_columns(
            head, *self.neighbourhood(state, users, items), self.factor_rating(state, users, items)
        )
        blend, *_ = np.linalg.lstsq(design, truth, rcond=None)
        before = float(np.sqrt(np.mean((head - truth) ** 2)))
        after = float(np.sqrt(np.mean((design @ blend - truth) ** 2)))
        log.info(
            "rating term: validation RMSE %.4f -> %.4f (blend %s)",
            before,
            after,
            np.array2string(blend, precision=3),
        )
        if not after < before:
            return None
        return replace(self, blend=tuple(float(w) for w in blend))

    def refit(self, data: TermData) -> RatingTerm:
        """The same blend over members fitted on more ratings (the serving refit)."""
        fitted = RatingTerm.fit(rating_matrix(data.events, data.shape), self.factor_lam)
        fitted.blend = self.blend
        return fitted

    def follow(self, selection: sp.csr_matrix) -> RatingTerm:
        """The same term over another night's items (`term_alignment.selection`)."""
        return replace(
            self,
            item_bias=follow_rows(selection, self.item_bias),
            neighbours=follow_square(selection, self.neighbours),
            factor_items=follow_rows(selection, self.factor_items),
        )

    def describe(self) -> str:
        """The blend's seven weights (`blend_columns`)."""
        return " ".join(f"{w:.4f}" for w in self.blend)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            mean=np.float64(self.mean),
            item_bias=self.item_bias,
            **csr_arrays(self.neighbours),
            factor_items=self.factor_items,
            factor_mean=np.float64(self.factor_mean),
            factor_lam=np.float64(self.factor_lam),
            blend=np.asarray(self.blend, np.float64),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, raw: bytes) -> RatingTerm:
        z = np.load(io.BytesIO(raw))
        neighbours = csr_of(z)
        return cls(
            float(z["mean"]),
            z["item_bias"],
            neighbours,
            z["factor_items"],
            float(z["factor_mean"]),
            float(z["factor_lam"]),
            tuple(float(x) for x in z["blend"]),
        )


def _on(structure: sp.csr_matrix, values: sp.csr_matrix) -> np.ndarray:
    """`values` at the entries of `structure` (both CSR of one shape; 0 where `values` has
    none), aligned with `structure.data`."""
    n = structure.shape[1]
    values.sort_indices()
    want = np.repeat(np.arange(structure.shape[0]), np.diff(structure.indptr)) * n
    want = want + structure.indices
    have = np.repeat(np.arange(values.shape[0]), np.diff(values.indptr)) * n + values.indices
    at = np.minimum(np.searchsorted(have, want), max(len(have) - 1, 0))
    found = have[at] == want if len(have) else np.zeros(len(want), bool)
    return np.where(found, values.data[at] if len(have) else 0.0, 0.0)


def blend_columns(
    head: np.ndarray, knn: np.ndarray, support: np.ndarray, factors: np.ndarray
) -> np.ndarray:
    """What the blend weighs: the three ratings (head, neighbourhood, factor member), the head's
    and the neighbourhood's also scaled by log(1 + support) (the neighbourhood counts more where
    the user rated more of the item's neighbours), that log and a constant."""
    trust = np.log1p(support)
    return np.column_stack(
        [head, knn, factors, head * trust, knn * trust, trust, np.ones(len(head))]
    )


def choose_rating_term(
    ratings: sp.csr_matrix,
    head: np.ndarray,
    rated: pd.DataFrame,
    chosen: dict[str, float] | None = None,
) -> RatingTerm | None:
    """Fit the term on the fit's ratings and its blend with the head's predictions (`head`) of
    the rated validation pairs (`rated`); None when too few validation pairs are rated or the
    blend does not lower their RMSE. `chosen` gets the factor member's λ under the `mf` rating
    baseline's name: the baseline is the same biased MF on the same week, so the grid is
    fitted once a night (whether the blend is kept or not)."""
    if len(rated) < MIN_VALIDATION or ratings.nnz == 0:
        return None
    users, items = rated["user"].to_numpy(), rated["item"].to_numpy()
    truth = rated["rating"].to_numpy(np.float64)
    coo = ratings.tocoo()
    # the factor member's regularisation: the one whose folded-in users rate validation best,
    # walked to from the grid's middle (a fit is up to 15 rounds of solving every user and item)
    fits: dict[float, BiasedMF] = {}

    def fit_error(point: tuple[float, ...]) -> float:
        lam = point[0]
        mf = fits[lam] = BiasedMF.fit(coo.row, coo.col, coo.data, ratings.shape, lam)
        folded = BiasedMF(mf.mean, fold_in(ratings, mf.item_factors, mf.mean, lam), mf.item_factors)
        return -float(np.sqrt(np.mean((folded.predict(users, items) - truth) ** 2)))

    (best,) = walk_grid([BIASED_MF_LAMBDAS], fit_error)
    if chosen is not None:
        chosen["baseline_mf_rating_param"] = best
    return RatingTerm.fit(ratings, best, factors=fits[best]).blended_on(ratings, head, rated)
