"""Top-k over users x items in chunks: memory bounded by the chunk, ties broken by item index.

Used by evaluation (the model and every baseline) and by the nightly recommendations alike, so the
lists that were measured are the lists that are served.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

# user rows -> float32 scores [len(rows), items]. A fresh array it owns is written into (masked);
# a view or a read-only array (np.broadcast_to) is copied first.
ScoreFn = Callable[[np.ndarray], np.ndarray]
# (user rows, item rows) -> the score of each pair
PairFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def summed(parts: list[ScoreFn]) -> ScoreFn:
    """user rows -> the sum of `parts`' scores, in order (`parts` not empty)."""

    def total(rows: np.ndarray) -> np.ndarray:
        out = parts[0](rows)
        for part in parts[1:]:
            out = out + part(rows)
        return out

    return total


def pick_pairs(
    score_fn: ScoreFn, users: np.ndarray, items: np.ndarray, chunk: int = 1024
) -> np.ndarray:
    """`score_fn`'s score of each (user, item) pair, computed a chunk of distinct users at a
    time: exactly the numbers a list ranked by `score_fn` was ranked by."""
    out = np.empty(len(users), dtype=np.float32)
    distinct = np.unique(users)
    for start in range(0, len(distinct), chunk):
        rows = distinct[start : start + chunk]
        block = score_fn(rows)
        mask = np.isin(users, rows)
        out[mask] = block[np.searchsorted(rows, users[mask]), items[mask]]
    return out


def seen_matrix(users: np.ndarray, items: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """A boolean users x items matrix of the pairs given (duplicates collapse)."""
    data = np.ones(len(users), dtype=bool)
    matrix = sp.csr_matrix((data, (users, items)), shape=shape, dtype=bool)
    matrix.sum_duplicates()
    return matrix


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the k highest scores best first; equal scores go to the lower column index.

    Returns (columns [n, k], scores [n, k]). Entries of -inf are never better than a real score;
    callers drop them when a row has fewer than k candidates. torch's multi-threaded top-k does
    the work; the few rows with a tie across the k-th place are redone exactly.
    """
    n, width = scores.shape
    k = min(k, width)
    if k == 0 or n == 0:
        return np.zeros((n, 0), dtype=np.int64), np.zeros((n, 0), dtype=scores.dtype)
    matrix = torch.from_numpy(np.ascontiguousarray(scores))
    # One more than asked: a row is ambiguous exactly when its (k+1)-th value ties the k-th.
    deeper = min(k + 1, width)
    values_t, columns_t = torch.topk(matrix, deeper, dim=1)
    ambiguous = (values_t[:, k - 1] == values_t[:, deeper - 1]).numpy() & (deeper > k)
    values, columns = values_t[:, :k].numpy(), columns_t[:, :k].numpy().astype(np.int64)
    order = np.lexsort((columns, -values), axis=1)
    columns = np.take_along_axis(columns, order, axis=1)
    values = np.take_along_axis(values, order, axis=1)
    if ambiguous.any():
        columns[ambiguous], values[ambiguous] = _top_k_exact(scores[ambiguous], k)
    return columns, values


def _top_k_exact(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The same result without torch: every column above the k-th value, then ties by column."""
    n = len(scores)
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1 : k]
    above = scores > kth
    ties = scores == kth
    room = k - above.sum(axis=1, keepdims=True)
    chosen = above | (ties & (np.cumsum(ties, axis=1) <= room))
    columns = np.nonzero(chosen)[1].reshape(n, k)
    values = np.take_along_axis(scores, columns, axis=1)
    order = np.lexsort((columns, -values), axis=1)
    return np.take_along_axis(columns, order, axis=1), np.take_along_axis(values, order, axis=1)


def chunked_top_k(
    score_fn: ScoreFn,
    user_rows: np.ndarray,
    k: int,
    *,
    exclude: sp.csr_matrix | None = None,
    allowed: np.ndarray | None = None,
    chunk_size: int = 1024,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (user rows, item columns [n, k], scores [n, k]) chunk by chunk.

    `exclude` (users x items) removes pairs such as already-seen items; `allowed` (bool per item)
    limits the catalogue (released items). Removed pairs score -inf.
    """
    for start in range(0, len(user_rows), chunk_size):
        rows = user_rows[start : start + chunk_size]
        scores = np.asarray(score_fn(rows), dtype=np.float32)
        if not scores.flags.writeable or not scores.flags.owndata:
            # A broadcast or a view of the caller's data: never write into it.
            scores = scores.copy()
        if allowed is not None:
            scores[:, ~allowed] = -np.inf
        if exclude is not None:
            block = exclude[rows].tocoo()
            scores[block.row, block.col] = -np.inf
        columns, values = top_k(scores, k)
        yield rows, columns, values


def ranked_lists(
    score_fn: ScoreFn, user_rows: np.ndarray, k: int, **limits: Any
) -> dict[int, list[int]]:
    """user row -> its top-k item columns best first, candidates scored -inf left out;
    `limits`: `chunked_top_k`'s `exclude`, `allowed` and `chunk_size`."""
    lists: dict[int, list[int]] = {}
    for rows, columns, values in chunked_top_k(score_fn, user_rows, k, **limits):
        finite = np.isfinite(values)
        for r, user in enumerate(rows.tolist()):
            lists[user] = columns[r][finite[r]].tolist()
    return lists


def first_event_times(events: pd.DataFrame, n_users: int, default: float) -> np.ndarray:
    """Per user row, the time of their first event in `events` (`default` for the others): the
    moment a user's list is judged, so an item's freshness is that of the user's own time."""
    out = np.full(n_users, default, dtype=np.float64)
    if len(events):
        first = events.groupby("user")["event_s"].min()
        out[first.index.to_numpy()] = first.to_numpy(dtype=np.float64)
    return out
