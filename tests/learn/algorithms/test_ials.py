"""iALS by `implicit`."""

from __future__ import annotations

import numpy as np


def test_implicit_mf_recovers_two_taste_groups() -> None:
    from pipeline.learn.algorithms.ials import ImplicitMF
    from pipeline.learn.data.history import binary_matrix

    # users 0-3 like items 0-3, users 4-7 items 4-7; each user has all of their group but one
    pairs = [
        (u, i) for u in range(8) for i in (range(4) if u < 4 else range(4, 8)) if i % 4 != u % 4
    ]
    users, items = (np.array(column) for column in zip(*pairs, strict=True))
    x = binary_matrix(users, items, (8, 8))
    mf = ImplicitMF.fit(x, 1.0, factors=4)
    scores = mf.scores(x, np.arange(8))
    for u in range(8):
        missing = u % 4 + (0 if u < 4 else 4)
        elsewhere = list(range(4, 8) if u < 4 else range(4))
        assert scores[u, missing] > scores[u, elsewhere].max()
    again = ImplicitMF.fit(x, 1.0, factors=4)
    np.testing.assert_array_equal(again.users, mf.users)  # seeded: the same factors


def test_the_grid_shrinks_with_the_events_nearest_the_middle_first() -> None:
    from pipeline.learn.algorithms.ials import MF_GRID, MF_GRID_EVENTS, MF_GRID_LEAST, mf_grid

    assert mf_grid(1_000) == MF_GRID  # a small night searches every point
    few = mf_grid(MF_GRID_EVENTS // 3)
    assert len(few) == 3 and MF_GRID[len(MF_GRID) // 2] in few
    assert [MF_GRID.index(p) for p in few] == sorted(MF_GRID.index(p) for p in few)
    assert len(mf_grid(10**9)) == MF_GRID_LEAST
