"""Item-based nearest neighbours (cosine over co-occurrences, k per item): the nightly `itemknn`
baseline and, above `EASE_MAX_ITEMS`, the item-item score term are made of it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from pipeline.core.stopwatch import ITEM_ITEM, timed
from pipeline.learn.data.products import history_times
from pipeline.learn.data.ranking import top_k

# the k grid of the `itemknn` baseline, searched by the item-item term when ItemKNN is its kind
ITEMKNN_KS = (25, 50, 100, 200, 400, 800)
# up to this many items a fit scores from a dense copy of its similarities (4 bytes x items²:
# 1 GB at 16,000): a sparse history times a dense matrix was 1.7-12x faster than times a sparse
# one, whose product is then densified anyway (1,024 users; 4,200 and 12,500 items; k 25 to
# 800), and it adds the same products in the same order. The 1M-event shop's `itemknn`
# baseline spent 102 s in 36 such scorings.
ITEMKNN_DENSE_MAX_ITEMS = 16_000


@dataclass
class Neighbours:
    """Every item's co-occurring items by cosine similarity, best first (ties to the lower
    index): what any k of ItemKNN keeps the first k of."""

    rows: np.ndarray
    cols: np.ndarray
    sim: np.ndarray
    rank: np.ndarray  # position among column `cols`'s neighbours
    shape: tuple[int, int]

    @classmethod
    @timed(ITEM_ITEM)
    def of(cls, interactions: sp.csr_matrix) -> Neighbours:
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
        order = np.lexsort((rows, -sim, cols))
        rows, cols, sim = rows[order], cols[order], sim[order]
        starts = np.searchsorted(cols, np.arange(co.shape[1]))
        rank = np.arange(len(cols)) - starts[cols]
        return cls(rows, cols, sim, rank, (co.shape[0], co.shape[1]))


class NeighbourCache:
    """The last history's `Neighbours`, for a grid of k over one history (a baseline's
    tuning, then its refit on another history)."""

    def __init__(self) -> None:
        self._of: tuple[sp.csr_matrix, Neighbours] | None = None

    def fit(self, interactions: sp.csr_matrix, k: int) -> ItemKNN:
        if self._of is None or self._of[0] is not interactions:
            self._of = (interactions, Neighbours.of(interactions))
        return ItemKNN.fit(interactions, k, self._of[1])


@dataclass
class ItemKNN:
    """sim(i, j) = |U_i ∩ U_j| / sqrt(|U_i| |U_j|), each item keeping its k most similar items;
    a user's score of j is the sum of sim(i, j) over the items i of their history."""

    similarity: sp.csr_matrix  # items x items: column j holds j's k neighbours
    _dense: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    @timed(ITEM_ITEM)
    def fit(cls, interactions: sp.csr_matrix, k: int, ranked: Neighbours | None = None) -> ItemKNN:
        """`ranked`: the history's neighbours already ranked (`Neighbours.of`), when a grid of
        k fits the same history: the co-occurrences are computed once."""
        ranked = ranked if ranked is not None else Neighbours.of(interactions)
        keep = ranked.rank < k
        similarity = sp.csr_matrix(
            (ranked.sim[keep], (ranked.rows[keep], ranked.cols[keep])),
            shape=ranked.shape,
            dtype=np.float32,
        )
        return cls(similarity)

    @timed(ITEM_ITEM)
    def scores(self, interactions: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
        if self.similarity.shape[0] > ITEMKNN_DENSE_MAX_ITEMS:
            return history_times(interactions[rows], self.similarity)
        if self._dense is None:  # once per fit: a grid scores each fit from several histories
            self._dense = self.similarity.toarray()
        return history_times(interactions[rows], self._dense)


def top_per_row(weights: np.ndarray | sp.spmatrix, keep: int, chunk: int = 1024) -> sp.csr_matrix:
    """Each row's `keep` largest weights in magnitude, as a sparse float32 matrix (a chunk of
    rows at a time: the selection never needs a second items x items array). A sparse matrix is
    cut without densifying (ties to the lower column)."""
    if sp.issparse(weights):
        return _top_per_sparse_row(sp.csr_matrix(weights, dtype=np.float32), keep)
    n_rows, width = weights.shape
    keep = min(keep, width)
    columns = np.empty((n_rows, keep), np.int64)
    values = np.empty((n_rows, keep), np.float32)
    for start in range(0, n_rows, chunk):
        block = np.asarray(weights[start : start + chunk], dtype=np.float32)
        # the ranking's top-k: torch's on every core (numpy's argpartition on one took 23 s
        # for a 12,560-item EASE), equal magnitudes across the cut to the lower column
        top, _ = top_k(np.abs(block), keep)
        top.sort(axis=1)
        columns[start : start + len(block)] = top
        values[start : start + len(block)] = np.take_along_axis(block, top, axis=1)
    out = sp.csr_matrix(
        (values.ravel(), columns.ravel(), np.arange(n_rows + 1) * keep), (n_rows, width)
    )
    out.eliminate_zeros()
    return out


def _top_per_sparse_row(weights: sp.csr_matrix, keep: int) -> sp.csr_matrix:
    weights.sum_duplicates()
    rows = np.repeat(np.arange(weights.shape[0]), np.diff(weights.indptr))
    order = np.lexsort((weights.indices, -np.abs(weights.data), rows))
    rank = np.arange(len(order)) - weights.indptr[rows[order]]
    kept = order[rank < keep]
    out = sp.csr_matrix(
        (weights.data[kept], (rows[kept], weights.indices[kept])),
        shape=weights.shape,
        dtype=np.float32,
    )
    out.eliminate_zeros()
    return out
