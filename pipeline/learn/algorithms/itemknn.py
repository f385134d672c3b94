"""Item-based nearest neighbours (cosine over co-occurrences, k per item): the nightly `itemknn`
baseline and, above `EASE_MAX_ITEMS`, the item-item score term are made of it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from pipeline.core.stopwatch import ITEM_ITEM, timed


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
