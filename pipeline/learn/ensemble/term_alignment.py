"""A served model's score terms on another night's catalogue.

The terms' matrices are over the items of the night they were fitted on, in that night's order.
A champion older than tonight's catalogue (the gate kept it, or the night did not retrain)
scores tonight's items: every term follows tonight's items by id (`Recommender.follow_items`).
An item it never saw has no row (no term: the towers score it, as a cold item); an item gone
since is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp


def selection(old: Sequence[str], new: Sequence[str]) -> sp.csr_matrix:
    """new x old: 1 where a new item is an old one (by id)."""
    where = {item: i for i, item in enumerate(old)}
    pairs = [(i, where[item]) for i, item in enumerate(new) if item in where]
    rows = np.array([p[0] for p in pairs], dtype=np.int64)
    cols = np.array([p[1] for p in pairs], dtype=np.int64)
    return sp.csr_matrix((np.ones(len(pairs)), (rows, cols)), shape=(len(new), len(old)))


def follow_rows(s: sp.csr_matrix, dense: np.ndarray) -> np.ndarray:
    """A table with a row per old item, as a row per new item (zeros for items it never saw)."""
    return np.asarray(s @ dense, dtype=dense.dtype)


def follow_square(s: sp.csr_matrix, matrix: sp.spmatrix) -> sp.csr_matrix:
    """An items x items matrix over the old items, over the new ones."""
    out = (s @ matrix @ s.T).tocsr().astype(matrix.dtype)
    out.eliminate_zeros()
    return out
