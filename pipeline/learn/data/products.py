"""Products that score users: the same bits for a user whatever the chunk it is scored in and
however many threads there are, and every core used where the library would use one.

Served lists are ranked by these numbers, and the Spark job (a thread per task) must write what
the in-process path (every core) writes; `pick_pairs` reads a pair's score from a chunk of other
users than the list's.
"""

from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
import torch

# below this many stored history entries a product runs on the calling thread (a thread's
# start-up costs more than it saves)
PARALLEL_MIN_ENTRIES = 20_000

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def products(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """`left @ right` as float32 scores, summed in float64.

    A float32 BLAS product's last bits depend on the shapes and the thread count (OpenBLAS picks
    its kernel and splits the work by both), so one user scored in a chunk of 37 users, in one
    of 2,048, in a Spark task with one thread or a process with two, got different scores in
    the last bit. The products of float32 numbers are exact in float64 and the float64 sum's
    error is far below float32's, so the rounded sum is the same whatever the shapes and
    threads (no difference in 2e8 scores measured), for about 1.7x a float32 product's time.
    Not a proof: a float64 sum that differs in its last bits and lies within them of a float32
    rounding boundary would round apart (about 1e-9 of scores, more where terms cancel).
    """
    return np.matmul(
        left.astype(np.float64, copy=False), right.astype(np.float64, copy=False)
    ).astype(np.float32)


def right_side(vectors: np.ndarray) -> np.ndarray:
    """`vectors.T` as `products` reads it (float64, contiguous): made once per scorer, not per
    chunk (converting a transposed view costs more than the product)."""
    return np.ascontiguousarray(vectors.T, dtype=np.float64)


def history_times(history: sp.csr_matrix, matrix: np.ndarray | sp.spmatrix) -> np.ndarray:
    """`history @ matrix` as dense float32, blocks of the history's rows on every core.

    scipy multiplies a sparse matrix on one core (it releases the GIL, so threads share the
    work: 1.8x on two cores for 1,024 users x 4,206 items). Each row is computed alone, in the
    order of its stored entries, so the split gives the serial product's bits."""
    parts = min(torch.get_num_threads(), history.nnz // PARALLEL_MIN_ENTRIES)
    if parts <= 1:
        return _dense_product(history, matrix)
    # blocks of about equal stored entries
    bounds = np.searchsorted(history.indptr, np.linspace(0, history.nnz, parts + 1))
    bounds[0], bounds[-1] = 0, history.shape[0]
    blocks = [history[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    return np.concatenate(list(_threads().map(lambda h: _dense_product(h, matrix), blocks)))


def _dense_product(history: sp.csr_matrix, matrix: np.ndarray | sp.spmatrix) -> np.ndarray:
    out = history @ matrix
    return np.asarray(out.toarray() if sp.issparse(out) else out, dtype=np.float32)


def _forget_the_pool() -> None:
    """In a forked child: the parent's threads are not there, so a pool made before the fork
    would take work and never run it; the child makes its own on first use."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_the_pool)


def _threads() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max(1, torch.get_num_threads()), "recsys-product")
        return _pool
