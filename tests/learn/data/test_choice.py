"""The one search rule: the best score wins, a tie keeps the earlier candidate, a guard rules
candidates out."""

from __future__ import annotations

import math

import pytest

from pipeline.learn.data.choice import Best, first_best, walk_grid


def test_the_first_of_the_best_wins_either_way_round() -> None:
    scores = {"a": 0.2, "b": 0.5, "c": 0.5, "d": 0.1}
    assert first_best("abcd", scores.__getitem__) == "b"
    assert first_best("abcd", scores.__getitem__, lower_is_better=True) == "d"
    assert first_best("cb", scores.__getitem__) == "c"
    with pytest.raises(ValueError, match="no candidate"):
        first_best([], scores.__getitem__)


def test_an_incumbent_keeps_its_place_on_a_tie_and_a_guard_rules_out() -> None:
    best: Best[str] = Best(0.3, "incumbent", allows=lambda cold: not cold < 0.5)
    best.offer(0.3, "tie")
    assert best.choice == "incumbent"
    best.offer(0.4, "loses new items", 0.2)
    assert best.choice == "incumbent"
    best.offer(0.4, "better", math.nan)  # no cold items to keep: allowed
    assert (best.score, best.choice) == (0.4, "better")


def test_a_walk_scores_only_the_points_on_its_way_to_a_unimodal_best() -> None:
    axes = [(10, 20, 30, 40, 50, 60), (1, 2, 3, 4, 5)]
    asked: list[tuple[int, ...]] = []

    def score(point: tuple[int, ...]) -> float:
        asked.append(point)
        return -abs(point[0] - 20) - abs(point[1] - 5)  # best at (20, 5)

    assert walk_grid(axes, score) == (20, 5)
    assert len(asked) == len(set(asked)) < 6 * 5 / 2


def test_a_walk_keeps_the_earlier_point_of_a_tie_and_starts_where_it_is_told() -> None:
    flat = {10: 0.5, 20: 0.5, 30: 0.5, 40: 0.1}
    assert walk_grid([tuple(flat)], lambda p: flat[p[0]]) == (10,)
    asked: list[int] = []

    def score(point: tuple[int, ...]) -> float:
        asked.append(point[0])
        return {10: 0.1, 20: 0.3, 30: 0.2, 40: 0.9}[point[0]]

    # a dip between the start and the real best: the walk stops at the local best
    assert walk_grid([(10, 20, 30, 40)], score, start=[1]) == (20,)
    assert sorted(asked) == [10, 20, 30]
    with pytest.raises(ValueError, match="no candidate"):
        walk_grid([()], score)


def test_a_walk_over_points_all_ruled_out_ties_down_to_the_first() -> None:
    assert walk_grid([(1, 2, 3), (4, 5)], lambda p: -math.inf) == (1, 4)


def test_a_walk_never_ends_on_nan_and_refuses_a_start_outside_the_grid() -> None:
    nan = float("nan")
    scores = {0: 0.1, 1: nan, 2: 0.5, 3: 0.2}
    assert walk_grid([(0, 1, 2, 3)], lambda p: scores[p[0]]) == (2,)
    assert walk_grid([(0, 1, 2)], lambda p: {0: nan, 1: 0.5, 2: 0.2}[p[0]]) == (1,)
    with pytest.raises(ValueError, match="not a point of the grid"):
        walk_grid([(0, 1, 2)], lambda p: 0.0, start=[3])
    with pytest.raises(ValueError, match="not a point of the grid"):
        walk_grid([(0, 1, 2), (4, 5)], lambda p: 0.0, start=[1])
