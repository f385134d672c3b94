"""The interaction score's item-item term: a closed-form item-item model scored from the user's
recency-weighted history, added to the towers' dot product with a weight chosen on validation.

The towers score a pair by a dot product of `dim`-wide vectors: low-rank by construction. An
item-item model's items x items weights are not, and a user's latest items say most about their
next ones, so the term reads the history weighted 0.5 ** (position / half-life). EASE (Steck
2019) is the term up to `EASE_MAX_ITEMS` items; above it ItemKNN (sparse at any size). Either
is fitted in closed form on the fit's events, its parameter, half-life and weight chosen by the
validation NDCG@10 of the sum (`choose_item_item_term`); no weight at all is one of the choices, so the
term is only used where it helps. It scores zero on items without events: new items are ranked
by the towers alone. Weights are kept sparse (`ITEM_ITEM_KEEP` per item) so a bundle stays small.
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
from scipy.linalg import lapack

from pipeline.core.stopwatch import timed
from pipeline.learn.data.history import recency_matrix
from pipeline.learn.data.ranking import ScoreFn
from pipeline.learn.ensemble.judge import Best, ColdGuard, Judge
from pipeline.learn.ensemble.term_alignment import follow_square

log = logging.getLogger(__name__)

# EASE inverts a dense items x items matrix in float32 by Cholesky, in place: ~8 bytes x items^2
# at the peak (20,000 items: 3.2 GB) and items^3 flops (about 2 minutes per fit at 20,000 items
# on 2 cores). Memory would allow more; the bound is a night's time. Above it ItemKNN stands in.
EASE_MAX_ITEMS = 20_000
ITEM_ITEM = "item_item"  # the stopwatch part of everything items x items (bench/growth.py)
ITEM_ITEM_KINDS = ("auto", "ease", "itemknn", "off")
# the grids `choose_item_item_term` searches (EASE's λ or ItemKNN's k; half-lives in positions; weights
# relative to the towers' spread of scores)
ITEM_ITEM_LAMBDAS = (200.0, 500.0, 1000.0)
ITEM_ITEM_KS = (50.0, 200.0)
ITEM_ITEM_HALF_LIVES = (2.0, 5.0, 10.0, 25.0, 100.0)
ITEM_ITEM_WEIGHTS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
# weights kept per item (the largest in magnitude): ML-100K NDCG@10 of the sum 0.2624 with 200
# against 0.2627 with all 1,682
ITEM_ITEM_KEEP = 200
# known items an item without events borrows its item-item column from (by text similarity)
COLD_NEIGHBOURS = 5


def spd_inverse(matrix: np.ndarray, block: int = 2048) -> np.ndarray:
    """The inverse of a symmetric positive definite matrix, computed in its own memory (LAPACK
    potrf + potri, about half the work of a general inverse); `matrix` is overwritten."""
    # a C-ordered symmetric matrix is its own Fortran-ordered transpose: LAPACK works in place
    work = matrix.T if matrix.flags.c_contiguous else matrix
    factor, info = lapack.spotrf(work, lower=False, overwrite_a=True, clean=False)
    if info == 0:
        factor, info = lapack.spotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"Cholesky inverse failed (LAPACK info {info})")
    # potri fills the upper triangle: mirror it, a block of rows at a time (no n x n temporary)
    for start in range(0, factor.shape[0], block):
        stop = min(start + block, factor.shape[0])
        factor[start:stop, :start] = factor[:start, start:stop].T
        sub = factor[start:stop, start:stop]
        sub[np.tril_indices(stop - start, -1)] = sub.T[np.tril_indices(stop - start, -1)]
    return factor


def binary_matrix(users: np.ndarray, items: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """users x items, 1.0 where the user has at least one event with the item."""
    matrix = sp.csr_matrix(
        (np.ones(len(users), dtype=np.float32), (users, items)), shape=shape, dtype=np.float32
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


@dataclass
class EASE:
    """B = I - P / diag(P) with P = (XᵀX + λI)⁻¹, so diag(B) = 0; a user's scores are x_u B."""

    weights: np.ndarray  # items x items, float32

    @classmethod
    @timed(ITEM_ITEM)
    def fit(cls, interactions: sp.csr_matrix, lam: float) -> EASE:
        gram = np.asarray((interactions.T @ interactions).toarray(), dtype=np.float32)
        gram[np.diag_indices_from(gram)] += np.float32(lam)
        inverse = spd_inverse(gram)
        inverse /= -np.diag(inverse).copy()  # column j divided by -P_jj, in place
        np.fill_diagonal(inverse, 0.0)
        return cls(inverse)

    @timed(ITEM_ITEM)
    def scores(self, interactions: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
        return np.asarray(interactions[rows] @ self.weights, dtype=np.float32)


@dataclass
class ItemKNN:
    """sim(i, j) = |U_i ∩ U_j| / sqrt(|U_i| |U_j|), each item keeping its k most similar items;
    a user's score of j is the sum of sim(i, j) over the items i of their history."""

    similarity: sp.csr_matrix  # items x items: column j holds j's k neighbours

    @classmethod
    @timed(ITEM_ITEM)
    def fit(cls, interactions: sp.csr_matrix, k: int) -> ItemKNN:
        # sparse throughout: co-occurrences of a real catalogue are mostly zero
        co = (interactions.T @ interactions).tocoo()
        counts = np.zeros(co.shape[0], dtype=np.float32)
        on_diagonal = co.row == co.col
        counts[co.row[on_diagonal]] = co.data[on_diagonal]
        norms = np.sqrt(counts)
        norms[norms == 0] = 1.0
        off = ~on_diagonal & (co.data != 0)
        rows, cols = co.row[off], co.col[off]
        sim = co.data[off].astype(np.float32) / norms[rows] / norms[cols]
        # keep the k largest of each column, ties to the lower index
        order = np.lexsort((rows, -sim, cols))
        rows, cols, sim = rows[order], cols[order], sim[order]
        starts = np.searchsorted(cols, np.arange(co.shape[1]))
        rank = np.arange(len(cols)) - starts[cols]
        keep = rank < k
        similarity = sp.csr_matrix(
            (sim[keep], (rows[keep], cols[keep])), shape=co.shape, dtype=np.float32
        )
        return cls(similarity)

    @timed(ITEM_ITEM)
    def scores(self, interactions: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
        return np.asarray((interactions[rows] @ self.similarity).toarray(), dtype=np.float32)


def top_per_row(weights: np.ndarray | sp.spmatrix, keep: int, chunk: int = 1024) -> sp.csr_matrix:
    """Each row's `keep` largest weights in magnitude, as a sparse float32 matrix (a chunk of
    rows at a time: the selection never needs a second items x items array)."""
    parts = []
    for start in range(0, weights.shape[0], chunk):
        block = weights[start : start + chunk]
        dense = np.array(block.toarray() if sp.issparse(block) else block, dtype=np.float32)
        if keep < dense.shape[1]:
            dropped = np.argpartition(-np.abs(dense), keep, axis=1)[:, keep:]
            np.put_along_axis(dense, dropped, 0.0, axis=1)
        parts.append(sp.csr_matrix(dense))
    out = (
        sp.vstack(parts, format="csr") if parts else sp.csr_matrix(weights.shape, dtype=np.float32)
    )
    out.eliminate_zeros()
    return out


def item_item_kind(kind: str, n_items: int) -> str:
    """`auto`: EASE up to `EASE_MAX_ITEMS` items, ItemKNN above."""
    if kind not in ITEM_ITEM_KINDS:
        raise ValueError(
            f"unknown item-item term {kind!r}: choose one of {', '.join(ITEM_ITEM_KINDS)}"
        )
    if kind == "auto":
        return "ease" if n_items <= EASE_MAX_ITEMS else "itemknn"
    if kind == "ease" and n_items > EASE_MAX_ITEMS:
        raise ValueError(
            f"an EASE item-item term inverts a dense {n_items:,} x {n_items:,} matrix (limit "
            f"{EASE_MAX_ITEMS:,} items): set RECSYS_TRAIN_ITEM_ITEM_PATH to auto or itemknn"
        )
    return kind


@timed(ITEM_ITEM)
def item_item_weights(
    kind: str,
    events: pd.DataFrame,
    shape: tuple[int, int],
    param: float,
    keep: int,
    texts: np.ndarray | None = None,
) -> sp.csr_matrix:
    """The item-item weights of `kind` fitted on `events`, `keep` per item; with `texts` (item
    text vectors), an item without events reads as its text neighbours (`lend_to_cold`)."""
    x = binary_matrix(events["user"].to_numpy(), events["item"].to_numpy(), shape)
    if kind == "ease":
        weights = top_per_row(EASE.fit(x, param).weights, keep)
    else:
        weights = ItemKNN.fit(x, min(int(param), keep)).similarity
    if texts is None:
        return weights
    known = np.bincount(events["item"].to_numpy(), minlength=shape[1]) > 0
    return lend_to_cold(weights, known, texts)


def text_lenders(
    known: np.ndarray, texts: np.ndarray, neighbours: int = COLD_NEIGHBOURS, chunk: int = 2048
) -> sp.csr_matrix | None:
    """items x items, lend[d, j]: how much item j without events reads like known item d (its
    `neighbours` known items most similar by text, cosine, positive only, as weights summing to
    one); None when there is no item to lend to or from."""
    norms = np.linalg.norm(texts, axis=1)
    cold = np.flatnonzero(~known & (norms > 0))
    donors = np.flatnonzero(known & (norms > 0))
    if not len(cold) or not len(donors):
        return None
    unit = texts / np.where(norms > 0, norms, 1.0)[:, None]
    k = min(neighbours, len(donors))
    rows, cols, vals = [], [], []
    for start in range(0, len(cold), chunk):
        block = cold[start : start + chunk]
        sim = unit[block] @ unit[donors].T  # [block, donors]
        top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        w = np.clip(np.take_along_axis(sim, top, axis=1), 0.0, None)
        w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-12)
        rows.append(np.repeat(block, k))
        cols.append(donors[top].ravel())
        vals.append(w.ravel())
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(cols), np.concatenate(rows))),
        shape=(len(known), len(known)),
        dtype=np.float32,
    )


def lend_to_cold(weights: sp.csr_matrix, known: np.ndarray, texts: np.ndarray) -> sp.csr_matrix:
    """Column j of an item without events (all zero: nobody took it) becomes the mean of the
    columns of the known items it reads like (`text_lenders`): a history scores a new item as it
    scores the known items it reads like."""
    lend = text_lenders(known, texts)
    if lend is None:
        return weights
    out = (weights + weights @ lend).tocsr()
    out.eliminate_zeros()
    return out


@dataclass
class ItemItemTerm:
    """score(u, j) += scale * sum_i h_u(i) W[i, j], h_u the user's recency-weighted history."""

    name: ClassVar[str] = "item_item"
    file: ClassVar[str] = "term_item_item.npz"

    kind: str  # "ease" or "itemknn"
    param: float  # EASE's λ or ItemKNN's k
    half_life: float  # positions back from the user's latest item
    scale: float  # the term's weight in the interaction score
    weights: sp.csr_matrix  # items x items

    def refit(
        self,
        events: pd.DataFrame,
        shape: tuple[int, int],
        texts: np.ndarray | None = None,
        seed: int = 0,
        keep: int = ITEM_ITEM_KEEP,
    ) -> ItemItemTerm:
        """The same choice fitted on other events (a refit on every event of the night)."""
        weights = item_item_weights(self.kind, events, shape, self.param, keep, texts)
        return ItemItemTerm(self.kind, self.param, self.half_life, self.scale, weights)

    def rescaled(self, scale: float) -> ItemItemTerm:
        return replace(self, scale=scale)

    def follow(self, selection: sp.csr_matrix) -> ItemItemTerm:
        """The same term over another night's items (`term_alignment.selection`)."""
        return replace(self, weights=follow_square(selection, self.weights))

    def describe(self) -> str:
        return f"{self.kind} {self.param:g}, half-life {self.half_life:g}, scale {self.scale:.4g}"

    def history(self, events: pd.DataFrame, n_users: int) -> sp.csr_matrix:
        shape = (n_users, self.weights.shape[0])
        return recency_matrix(
            events["user"].to_numpy(),
            events["item"].to_numpy(),
            events["event_s"].to_numpy(),
            shape,
            self.half_life,
        )

    def scorer(self, events: pd.DataFrame, n_users: int) -> ScoreFn:
        """user rows -> the term's term of every item, from the users' histories in `events`."""
        h = self.history(events, n_users) * np.float32(self.scale)
        return timed(ITEM_ITEM)(
            lambda rows: np.asarray((h[rows] @ self.weights).toarray(), dtype=np.float32)
        )

    def pair_scorer(
        self, events: pd.DataFrame, n_users: int
    ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """(user rows, item rows) -> the term's term of each pair."""
        h = self.history(events, n_users) * np.float32(self.scale)
        weights_t = self.weights.T.tocsr()

        def pairs(users: np.ndarray, items: np.ndarray) -> np.ndarray:
            return np.asarray(h[users].multiply(weights_t[items]).sum(axis=1), np.float32).ravel()

        return pairs

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        w = self.weights.tocsr()
        np.savez_compressed(
            buffer,
            meta=np.array([self.param, self.half_life, self.scale], dtype=np.float64),
            kind=np.array(self.kind),
            data=w.data,
            indices=w.indices,
            indptr=w.indptr,
            shape=np.array(w.shape),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, raw: bytes) -> ItemItemTerm:
        with np.load(io.BytesIO(raw)) as f:
            weights = sp.csr_matrix(
                (f["data"], f["indices"], f["indptr"]), shape=tuple(f["shape"].tolist())
            )
            param, half_life, scale = f["meta"].tolist()
            return cls(str(f["kind"]), param, half_life, scale, weights)


def choose_item_item_term(
    judge: Judge,
    events: pd.DataFrame,
    shape: tuple[int, int],
    kind: str,
    texts: np.ndarray | None = None,
    keep: int = ITEM_ITEM_KEEP,
) -> ItemItemTerm | None:
    """The (parameter, half-life, weight) whose sum with the towers ranks the validation slice
    best while recalling nearly as many of its cold items as the towers alone (new items are the
    towers' to find: `COLD_TOLERANCE`); None when none beats the towers alone (or `off`)."""
    kind = item_item_kind(kind, shape[1])
    if kind == "off" or not len(events):
        return None
    alone, alone_cold = judge.judged()
    log.debug(
        "towers alone: NDCG@10 %.4f, cold recall@10 %.4f (%.1f%% of the events on cold items)",
        *(alone, alone_cold, 100 * judge.cold_share),
    )
    best: Best[ItemItemTerm] = Best(alone, guard=ColdGuard.of(judge, alone_cold))
    towers = judge.spread()
    for param in ITEM_ITEM_LAMBDAS if kind == "ease" else ITEM_ITEM_KS:
        weights = item_item_weights(kind, events, shape, param, keep, texts)
        for half_life in ITEM_ITEM_HALF_LIVES:
            unit = ItemItemTerm(kind, param, half_life, 1.0, weights)
            own = judge.spread(unit.scorer(events, shape[0]))
            if own <= 0:
                continue  # no co-occurrences at all: nothing to add
            for weight in ITEM_ITEM_WEIGHTS:
                term = ItemItemTerm(kind, param, half_life, weight * towers / own, weights)
                score, cold = judge.judged(term.scorer(events, shape[0]))
                log.debug(
                    "item-item term %s %g, half-life %g, weight %g: NDCG@10 %.4f, cold %.4f",
                    *(kind, param, half_life, weight, score, cold),
                )
                best.offer(score, cold, term)
    chosen = best.choice
    if chosen is None:
        log.info("item-item term: none chosen (towers alone %.4f on validation)", alone)
    else:
        log.info(
            "item-item term: %s (%g), half-life %g, scale %.4g: validation NDCG@10 %.4f "
            "(towers alone %.4f)",
            chosen.kind,
            chosen.param,
            chosen.half_life,
            chosen.scale,
            best.score,
            alone,
        )
    return chosen
