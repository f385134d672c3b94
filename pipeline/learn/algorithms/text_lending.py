"""Items without events borrow from the known items their text reads like: the item-item term's
columns and the factor term's item factors of a new item are those of its text neighbours."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

# known items an item without events borrows from (by text similarity)
COLD_NEIGHBOURS = 5


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
