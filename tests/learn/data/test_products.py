from __future__ import annotations

import multiprocessing
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from threadpoolctl import threadpool_limits

from pipeline.learn.data import products as products_module
from pipeline.learn.data.products import history_times, products, right_side


def test_a_users_scores_do_not_depend_on_the_chunk_or_the_threads() -> None:
    """What a float32 BLAS product does not promise: the same bits for a row in any company."""
    rng = np.random.default_rng(3)
    users = rng.standard_normal((300, 64)).astype(np.float32)
    items_t = rng.standard_normal((64, 1500)).astype(np.float32)
    with threadpool_limits(1, "blas"):
        alone = products(users, items_t)
    exact = (users.astype(np.float64) @ items_t.astype(np.float64)).astype(np.float32)
    np.testing.assert_allclose(alone, exact, rtol=0, atol=0)
    with threadpool_limits(2, "blas"):
        for size in (1, 7, 37, 128, 300):
            for start in range(0, 300, size):
                block = products(users[start : start + size], items_t)
                assert np.array_equal(block, alone[start : start + size])
    assert products(users, items_t).dtype == np.float32


@pytest.mark.parametrize("dense", [True, False])
def test_history_times_splits_rows_over_threads_with_the_serial_products_bits(
    dense: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(5)
    history = sp.random(500, 300, density=0.05, format="csr", dtype=np.float32, random_state=6)
    history.data = rng.random(history.nnz).astype(np.float32)
    weights = sp.random(300, 300, density=0.1, format="csr", dtype=np.float32, random_state=7)
    matrix = weights.toarray() if dense else weights
    serial = history_times(history, matrix)  # 7,500 entries: below the bound, one thread
    assert serial.dtype == np.float32 and serial.shape == (500, 300)
    expected = history @ matrix
    expected = expected.toarray() if sp.issparse(expected) else expected
    assert np.array_equal(serial, expected)
    monkeypatch.setattr(products_module, "PARALLEL_MIN_ENTRIES", 1000)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    assert np.array_equal(history_times(history, matrix), serial)  # 4 blocks of rows
    empty = sp.csr_matrix((3, 300), dtype=np.float32)
    assert np.array_equal(history_times(empty, matrix), np.zeros((3, 300), np.float32))


def test_right_side_is_the_transpose_in_float64() -> None:
    vectors = np.arange(6, dtype=np.float32).reshape(3, 2)
    side = right_side(vectors)
    assert side.dtype == np.float64 and side.flags.c_contiguous
    assert np.array_equal(side, vectors.T)


def _product_in_a_child(history: sp.csr_matrix, matrix: np.ndarray, out: Any) -> None:
    products_module.PARALLEL_MIN_ENTRIES = 1000  # the child splits again: over its own pool
    out.put(history_times(history, matrix).tobytes())


def test_a_forked_child_multiplies_with_a_pool_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pool made before a fork has no threads in the child: work given to it would wait
    forever. The child makes its own."""
    history = sp.random(400, 200, density=0.1, format="csr", dtype=np.float32, random_state=8)
    matrix = np.random.default_rng(9).random((200, 200), dtype=np.float32)
    monkeypatch.setattr(products_module, "PARALLEL_MIN_ENTRIES", 1000)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    here = history_times(history, matrix)  # the parent's pool exists from here on
    assert products_module._pool is not None
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    child = context.Process(target=_product_in_a_child, args=(history, matrix, out))
    child.start()
    try:
        got = out.get(timeout=60)
    finally:
        child.join(timeout=60)
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0
    assert np.frombuffer(got, np.float32).reshape(here.shape).tobytes() == here.tobytes()
