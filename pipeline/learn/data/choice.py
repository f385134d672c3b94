"""The one rule every grid search in a night follows (the score terms, the baselines' tuning, the
social text weight): candidates in a fixed order, the simplest or the incumbent first; the best
score wins; a tie keeps the earlier candidate; a guard may rule a candidate out.

Where a grid is ordered (a regularisation, a neighbourhood size, a half-life) and each point
costs a ranking of the validation users, `walk_grid` scores only the points on the way to the
best: the validation curve is taken to be unimodal along each axis."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


def first_best(
    candidates: Iterable[T], score: Callable[[T], float], *, lower_is_better: bool = False
) -> T:
    """The first of `candidates` with the best `score` (each scored once, in order)."""
    best = Best[T](math.inf if lower_is_better else -math.inf, lower_is_better=lower_is_better)
    for candidate in candidates:
        best.offer(score(candidate), candidate)
    if best.choice is None:
        raise ValueError("no candidate to choose from")
    return best.choice


def walk_grid(
    axes: Sequence[Sequence[T]],
    score: Callable[[tuple[T, ...]], float],
    start: Sequence[int] | None = None,
) -> tuple[T, ...]:
    """The best point of the grid `axes[0] x axes[1] x ...` (higher scores better), found by
    walking: from `start` (indices; the middle of each axis), along one axis at a time, to the
    first best of a point's two neighbours and itself, until no axis moves. Each point is
    scored once at most. On a curve that is unimodal along every axis this is the grid's best;
    a curve that rises again past a dip is missed (the price of not scoring every point: a
    baseline's grid of 6 x 6 points ranked the validation users 36 times)."""
    if not axes or any(not axis for axis in axes):
        raise ValueError("no candidate to choose from")
    at = list(start) if start is not None else [len(axis) // 2 for axis in axes]
    if len(at) != len(axes) or not all(0 <= i < len(a) for i, a in zip(at, axes, strict=True)):
        raise ValueError(f"a walk's start {at} is not a point of the grid")
    memo: dict[tuple[int, ...], float] = {}

    def scored(index: list[int]) -> float:
        key = tuple(index)
        if key not in memo:
            value = score(tuple(axis[i] for axis, i in zip(axes, key, strict=True)))
            memo[key] = -math.inf if math.isnan(value) else value  # NaN: never the best
        return memo[key]

    moved = True
    while moved:
        moved = False
        for a, axis in enumerate(axes):
            while True:
                # the neighbours in grid order, so a tie goes to the earlier point (even of
                # points all ruled out: -inf)
                near = [i for i in (at[a] - 1, at[a], at[a] + 1) if 0 <= i < len(axis)]
                best = max(near, key=lambda i, a=a: (scored([*at[:a], i, *at[a + 1 :]]), -i))
                if best == at[a]:
                    break
                at[a], moved = best, True
    return tuple(axis[i] for axis, i in zip(axes, at, strict=True))


@dataclass
class Best(Generic[T]):
    """A search in progress: `choice` starts as the incumbent (None: nothing chosen yet); a
    candidate replaces it when strictly better and `allows(guarded)` holds."""

    score: float
    choice: T | None = None
    allows: Callable[[float], bool] = lambda guarded: True
    lower_is_better: bool = False

    def offer(self, score: float, choice: T, guarded: float = math.nan) -> None:
        better = score < self.score if self.lower_is_better else score > self.score
        if better and self.allows(guarded):
            self.score, self.choice = score, choice
