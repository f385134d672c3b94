"""The first-order transition matrix against a hand-computed example."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.learn.algorithms.transitions import transition_matrix


def test_each_row_is_the_share_of_what_followed_the_item_within_the_window() -> None:
    events = pd.DataFrame(
        {
            # user 0: 0, 1, 2; user 1: 0, 2; user 2 takes item 1 twice (a repeat is no step)
            "user": [0, 0, 0, 1, 1, 2, 2],
            "item": [1, 0, 2, 2, 0, 1, 1],
            "event_s": [2.0, 1.0, 3.0, 5.0, 4.0, 1.0, 2.0],
        }
    )
    t = transition_matrix(events, 4, window=2, decay=0.5).toarray()
    # from 0: user 0 goes to 1 (gap 1: 1) and 2 (gap 2: 0.5), user 1 to 2 (gap 1: 1)
    np.testing.assert_allclose(t[0], [0.0, 1.0 / 2.5, 1.5 / 2.5, 0.0], rtol=1e-6)
    np.testing.assert_allclose(t[1], [0.0, 0.0, 1.0, 0.0])  # 1 -> 2 only
    assert not t[2].any() and not t[3].any()  # nothing followed them
    assert t.dtype == np.float32


def test_order_is_directed_and_ties_in_time_go_to_the_lower_item() -> None:
    events = pd.DataFrame({"user": [0, 0], "item": [3, 1], "event_s": [7.0, 7.0]})
    t = transition_matrix(events, 4).toarray()
    assert t[1, 3] == pytest.approx(1.0) and t[3, 1] == 0.0
    assert not transition_matrix(events.iloc[:0], 4).nnz  # no events: an empty chain
