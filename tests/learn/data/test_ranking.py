from __future__ import annotations

import numpy as np
import pytest

from pipeline.learn.data.ranking import chunked_top_k, ranked_lists, seen_matrix, top_k


def test_top_k_orders_by_score_and_breaks_ties_by_lower_column() -> None:
    scores = np.array([[0.5, 0.9, 0.5, 0.1, 0.5], [1.0, 1.0, 1.0, 1.0, 1.0]], dtype=np.float32)
    columns, values = top_k(scores, 3)
    assert columns.tolist() == [[1, 0, 2], [0, 1, 2]]
    assert values == pytest.approx(np.array([[0.9, 0.5, 0.5], [1.0, 1.0, 1.0]]))


def test_top_k_with_k_above_width_returns_every_column() -> None:
    columns, _ = top_k(np.array([[0.2, 0.3]], dtype=np.float32), 5)
    assert columns.tolist() == [[1, 0]]


def test_exclusions_and_catalogue_limits_are_never_recommended() -> None:
    rng = np.random.default_rng(0)
    scores = rng.random((7, 20)).astype(np.float32)
    seen = seen_matrix(np.array([0, 0, 3]), np.array([5, 6, 5]), (7, 20))
    allowed = np.ones(20, dtype=bool)
    allowed[[1, 2]] = False
    lists = ranked_lists(lambda rows: scores[rows], np.arange(7), 4, exclude=seen, allowed=allowed)
    assert 5 not in lists[0] and 6 not in lists[0] and 5 not in lists[3]
    assert not {1, 2} & {i for items in lists.values() for i in items}
    expected = np.argsort(-np.where(allowed, scores[1], -np.inf), kind="stable")[:4]
    assert lists[1] == expected.tolist()


def test_chunking_does_not_change_the_lists() -> None:
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 4, size=(50, 30)).astype(np.float32)  # many ties
    whole = ranked_lists(lambda rows: scores[rows], np.arange(50), 10, chunk_size=1000)
    chunks = ranked_lists(lambda rows: scores[rows], np.arange(50), 10, chunk_size=7)
    assert whole == chunks
    sizes = [
        len(rows)
        for rows, _, _ in chunked_top_k(lambda r: scores[r], np.arange(50), 3, chunk_size=16)
    ]
    assert sizes == [16, 16, 16, 2]


def test_a_user_with_fewer_candidates_than_k_gets_only_real_items() -> None:
    scores = np.zeros((1, 4), dtype=np.float32)
    seen = seen_matrix(np.array([0, 0]), np.array([0, 1]), (1, 4))
    assert ranked_lists(lambda rows: scores[rows], np.arange(1), 10, exclude=seen) == {0: [2, 3]}


def test_fast_and_exact_top_k_agree_with_and_without_ties() -> None:
    from pipeline.learn.data.ranking import _top_k_exact

    rng = np.random.default_rng(2)
    for scores in (
        rng.random((40, 300)).astype(np.float32),
        rng.integers(0, 5, size=(40, 300)).astype(np.float32),
        np.where(rng.random((40, 300)) < 0.97, -np.inf, 1.0).astype(np.float32),
    ):
        fast, exact = top_k(scores, 10), _top_k_exact(scores, 10)
        assert np.array_equal(fast[0], exact[0])
        assert np.array_equal(fast[1], exact[1])


def test_each_user_is_judged_at_their_first_event_of_the_period() -> None:
    import pandas as pd

    from pipeline.learn.data.ranking import first_event_times

    events = pd.DataFrame({"user": [2, 0, 2], "item": [1, 1, 2], "event_s": [50.0, 30.0, 40.0]})
    assert first_event_times(events, 4, default=99.0).tolist() == [30.0, 99.0, 40.0, 99.0]
