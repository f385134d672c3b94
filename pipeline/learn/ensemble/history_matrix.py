"""What the terms read as a users' history times an items x items matrix share: scoring a batch
of users or of pairs, and keeping a sparse matrix in a bundle file.

The item-item term (EASE or ItemKNN weights) and the transition term (the Markov chain) are both
score(u, j) = sum_i h_u(i) M[i, j], with h_u a recency-weighted history; the rating term keeps
sparse matrices too.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from pipeline.learn.data.products import history_times
from pipeline.learn.data.ranking import PairFn, ScoreFn


def history_scorer(history: sp.csr_matrix, matrix: sp.csr_matrix) -> ScoreFn:
    """user rows -> every item's `history @ matrix`, dense float32."""
    return lambda rows: history_times(history[rows], matrix)


def history_pair_scorer(history: sp.csr_matrix, matrix: sp.csr_matrix) -> PairFn:
    """(user rows, item rows) -> `history @ matrix` at each pair."""
    matrix_t = matrix.T.tocsr()

    def pairs(users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return np.asarray(history[users].multiply(matrix_t[items]).sum(axis=1), np.float32).ravel()

    return pairs


def csr_arrays(matrix: sp.spmatrix) -> dict[str, np.ndarray]:
    """A sparse matrix as the arrays of an `np.savez` file (`csr_of` reads them back)."""
    m = matrix.tocsr()
    return {"data": m.data, "indices": m.indices, "indptr": m.indptr, "shape": np.asarray(m.shape)}


def csr_of(arrays: np.lib.npyio.NpzFile) -> sp.csr_matrix:
    """The matrix `csr_arrays` wrote into a loaded `np.savez` file."""
    shape = tuple(int(s) for s in arrays["shape"])
    return sp.csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]), shape=shape)
