"""EASE (Steck 2019): a closed-form item-item linear model, B = I - P / diag(P) with
P = (XᵀX + λI)⁻¹. The nightly `ease` baseline and the item-item score term are made of it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from pipeline.core.stopwatch import ITEM_ITEM, timed
from pipeline.learn.data.products import history_times

# EASE inverts a dense items x items matrix in float32 by Cholesky, in place: ~8 bytes x items^2
# at the peak (20,000 items: 3.2 GB) and items^3 flops (about 2 minutes per fit at 20,000 items
# on 2 cores). Memory would allow more; the bound is a night's time. Above it ItemKNN stands in.
EASE_MAX_ITEMS = 20_000
# the λ grid of the `ease` baseline, searched by the item-item term when EASE is its kind (the
# term's own points are among them: one search a night serves both)
EASE_LAMBDAS = (10.0, 50.0, 200.0, 500.0, 1000.0)


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
        # LAPACK leaves it in Fortran order; symmetric, so its transpose is the same matrix in C
        # order (no copy): a sparse history times a Fortran-ordered matrix copies all of it on
        # every call (12x slower scoring at 8,000 items)
        inverse = inverse if inverse.flags.c_contiguous else inverse.T
        inverse /= -np.diag(inverse).copy()  # column j divided by -P_jj, in place
        np.fill_diagonal(inverse, 0.0)
        return cls(inverse)

    @timed(ITEM_ITEM)
    def scores(self, interactions: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
        return history_times(interactions[rows], self.weights)
