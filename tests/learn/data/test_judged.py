"""Which users a choice on held-out data judges: all on a small night, a fixed sample on a large."""

from __future__ import annotations

import numpy as np

from pipeline.learn.data.judged import JUDGED_CELLS, JUDGED_USERS, judged_users


def test_a_small_night_judges_every_user() -> None:
    users = np.arange(0, 3_000, 2)
    assert np.array_equal(judged_users(users, n_items=1_000), users)


def test_a_large_night_judges_a_fixed_sorted_sample_within_the_cell_budget() -> None:
    users = np.arange(100_000)
    n_items = 50_000
    sample = judged_users(users, n_items)
    assert len(sample) == max(JUDGED_USERS, JUDGED_CELLS // n_items) < len(users)
    assert np.all(np.diff(sample) > 0) and set(sample.tolist()) <= set(users.tolist())
    assert np.array_equal(sample, judged_users(users, n_items))  # every epoch, every rerun
    # a smaller catalogue affords more users for the same cells
    assert len(judged_users(users, 5_000)) == JUDGED_CELLS // 5_000
