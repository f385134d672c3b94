"""A served model's closed-form paths on another night's catalogue.

The item-item path, the iALS factor path and the rating path are matrices over the items of the
night they were fitted on, in that night's order. A champion older than tonight's catalogue
(the gate kept it, or the night did not retrain) scores tonight's items: every path is carried
over to tonight's items by id. An item it never saw has no row (no path term: the towers score
it, as a cold item); an item gone since is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from pipeline.learn.model import MultiTaskModel


def selection(old: Sequence[str], new: Sequence[str]) -> sp.csr_matrix:
    """new x old: 1 where a new item is an old one (by id)."""
    where = {item: i for i, item in enumerate(old)}
    pairs = [(i, where[item]) for i, item in enumerate(new) if item in where]
    rows = np.array([p[0] for p in pairs], dtype=np.int64)
    cols = np.array([p[1] for p in pairs], dtype=np.int64)
    return sp.csr_matrix((np.ones(len(pairs)), (rows, cols)), shape=(len(new), len(old)))


def _rows(s: sp.csr_matrix, dense: np.ndarray) -> np.ndarray:
    return np.asarray(s @ dense, dtype=dense.dtype)


def _square(s: sp.csr_matrix, matrix: sp.spmatrix) -> sp.csr_matrix:
    out = (s @ matrix @ s.T).tocsr().astype(matrix.dtype)
    out.eliminate_zeros()
    return out


def align_paths(model: MultiTaskModel, old: Sequence[str], new: Sequence[str]) -> None:
    """Carry the model's paths from the items `old` (their rows' order) over to `new`."""
    if list(old) == list(new):
        return
    s = selection(old, new)
    if model.item_item is not None:
        model.item_item = replace(model.item_item, weights=_square(s, model.item_item.weights))
    if model.factor_path is not None:
        model.factor_path = replace(model.factor_path, items=_rows(s, model.factor_path.items))
    if model.rating_path is not None:
        path = model.rating_path
        model.rating_path = replace(
            path,
            item_bias=_rows(s, path.item_bias),
            neighbours=_square(s, path.neighbours),
            factor_items=_rows(s, path.factor_items),
        )
