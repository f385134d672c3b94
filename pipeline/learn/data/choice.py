"""The one rule every grid search in a night follows (the score terms, the baselines' tuning, the
social text weight): candidates in a fixed order, the simplest or the incumbent first; the best
score wins; a tie keeps the earlier candidate; a guard may rule a candidate out."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
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
