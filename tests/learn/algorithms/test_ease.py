"""EASE and its in-place Cholesky inverse."""

from __future__ import annotations

import numpy as np
import pytest


def test_ease_matches_its_closed_form_on_a_hand_computed_example() -> None:
    from pipeline.learn.algorithms.ease import EASE
    from pipeline.learn.data.history import binary_matrix

    # X^T X + I = 2I + J, whose inverse is (I - J/5) / 2: diagonal 0.4, off-diagonal -0.1,
    # so B_ij = 0.1 / 0.4 = 0.25 off the diagonal and 0 on it
    x = binary_matrix(np.array([0, 0, 1, 1, 2, 2]), np.array([0, 1, 0, 2, 1, 2]), (3, 3))
    ease = EASE.fit(x, 1.0)
    expected = [[0, 0.25, 0.25], [0.25, 0, 0.25], [0.25, 0.25, 0]]
    np.testing.assert_allclose(ease.weights, expected, rtol=1e-6)  # float32 by Cholesky
    np.testing.assert_allclose(ease.scores(x, np.array([0])), [[0.25, 0.25, 0.5]], rtol=1e-6)


def test_spd_inverse_matches_numpy_in_place() -> None:
    from pipeline.learn.algorithms.ease import spd_inverse

    rng = np.random.default_rng(0)
    a = rng.random((70, 40)).astype(np.float32)
    matrix = a @ a.T + 5 * np.eye(70, dtype=np.float32)
    expected = np.linalg.inv(matrix.astype(np.float64))
    inverse = spd_inverse(matrix, block=16)  # blocks that do not divide 70: the edges mirror too
    np.testing.assert_allclose(inverse, expected, rtol=1e-3, atol=1e-6)
    np.testing.assert_array_equal(inverse, inverse.T)
    assert np.shares_memory(inverse, matrix)  # no second items x items matrix
    with pytest.raises(np.linalg.LinAlgError):
        spd_inverse(-np.eye(3, dtype=np.float32))


def test_the_weights_are_c_ordered_for_fast_scoring() -> None:
    import scipy.sparse as sp

    from pipeline.learn.algorithms.ease import EASE

    rng = np.random.default_rng(0)
    x = sp.csr_matrix(
        (np.ones(400, np.float32), (rng.integers(0, 50, 400), rng.integers(0, 30, 400))),
        shape=(50, 30),
    )
    x.data[:] = 1.0
    model = EASE.fit(x, 10.0)
    assert model.weights.flags.c_contiguous
    gram = (x.T @ x).toarray().astype(np.float64) + 10.0 * np.eye(30)
    p = np.linalg.inv(gram)
    expected = np.eye(30) - p / np.diag(p)[None, :]
    np.testing.assert_allclose(model.weights, expected, atol=1e-4)
