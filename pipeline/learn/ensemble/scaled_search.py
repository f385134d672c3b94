"""The choice of a history term with nothing fitted per grid point (the text term, the
transition term): each candidate scored once at unit weight, then every weight of the grid is a
rescaling of those scores, judged on the validation NDCG@10 of the sum with the towers and the
terms chosen before it, under the cold-item guard (`judge.py`); none at all is one of the
choices. The candidates x weights grid is walked from its middle (`walk_terms`), as the
item-item and factor terms' weights are."""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, Self, TypeVar

import numpy as np
import pandas as pd

from pipeline.learn.data.choice import Best, walk_grid
from pipeline.learn.data.ranking import ScoreFn
from pipeline.learn.ensemble.judge import ColdGuard, Judge

log = logging.getLogger(__name__)


class Scalable(Protocol):
    """A history term at some weight: it scores users from their events and can be reweighted."""

    scale: float

    def scorer(self, events: pd.DataFrame, n_users: int) -> ScoreFn: ...

    def rescaled(self, scale: float) -> Self: ...

    def describe(self) -> str: ...


T = TypeVar("T", bound=Scalable)
C = TypeVar("C")

# units whose judged users' scores a walk keeps at once (a table of judged users x items each)
KEPT_UNITS = 3


def choose_scaled(
    what: str,
    judge: Judge,
    events: pd.DataFrame,
    n_users: int,
    units: Iterable[T],
    weights: tuple[float, ...],
    base: ScoreFn | None,
) -> T | None:
    """The candidate of `units` (each at scale 1, in the order of their parameter) and weight of
    `weights` (relative to the spread of the towers plus `base`, the terms chosen before) whose
    sum ranks the validation slice best; None when none beats the sum without it. The grid is
    walked (`walk_terms`), not scored point by point."""
    base = None if base is None else judge.cached(base)  # read again for every candidate
    before, before_cold = judge.judged(base)
    spread = judge.spread(None if base is None else lambda r: judge.towers(r) + base(r))
    best: Best[T] = Best(before, allows=ColdGuard.of(judge).allows)
    listed = list(units)
    walk_terms(
        what,
        judge,
        best,
        [lambda u=unit: u.scorer(events, n_users) for unit in listed],
        weights,
        spread,
        lambda i, scale: listed[i].rescaled(scale),
        base,
    )
    chosen = best.choice
    if chosen is None:
        log.info("%s term: none chosen (%.4f without it on validation)", what, before)
    else:
        log.info(
            "%s term: %s: validation NDCG@10 %.4f (%.4f without it, cold recall %.4f)",
            *(what, chosen.describe(), best.score, before, before_cold),
        )
    return chosen


def walk_terms(
    what: str,
    judge: Judge,
    best: Best[C],
    units: Sequence[Callable[[], ScoreFn]],
    weights: tuple[float, ...],
    spread: float,
    candidate: Callable[[int, float], C],
    base: ScoreFn | None = None,
) -> float:
    """Offer `best` the sums on the walk (`walk_grid`) over units x `weights`: unit i (its
    scores at scale 1, made by `units[i]()`) at scale weight x `spread` / its own spread, plus
    `base`. A sum ruled out by the cold-item guard counts as the worst on the walk. Each unit's
    scores of the judged users are computed once while `KEPT_UNITS` are kept (a table of judged
    users x items each); a grid of 5 x 7 points ranked the validation users 35 times, a walk
    about 8. Returns the best NDCG@10 the walk saw among the sums the guard allows (-inf: none)."""
    tables: OrderedDict[int, tuple[ScoreFn, float]] = OrderedDict()

    def unit(i: int) -> tuple[ScoreFn, float]:
        if i not in tables:
            scores = judge.cached(units[i]())
            tables[i] = (scores, judge.spread(scores))
            while len(tables) > KEPT_UNITS:
                tables.popitem(last=False)
        tables.move_to_end(i)
        return tables[i]

    seen = -math.inf

    def score(point: tuple[int, float]) -> float:
        nonlocal seen
        i, weight = point
        scores, own = unit(i)
        if own <= 0 or spread <= 0:
            return -math.inf  # the term says nothing of the judged users, or adds to nothing
        scale = weight * spread / own

        def extra(rows: np.ndarray) -> np.ndarray:
            term = scores(rows) * np.float32(scale)
            return term if base is None else term + base(rows)

        ndcg, cold = judge.judged(extra)
        offered = candidate(i, scale)
        if log.isEnabledFor(logging.DEBUG):
            said = offered.describe() if hasattr(offered, "describe") else f"scale {offered:.4g}"
            log.debug(
                "%s term %s, weight %g: NDCG@10 %.4f, cold %.4f", what, said, weight, ndcg, cold
            )
        best.offer(ndcg, offered, cold)
        walked = ndcg if best.allows(cold) else -math.inf
        seen = max(seen, walked)
        return walked

    if units and weights:
        walk_grid([range(len(units)), weights], score)
    return seen
