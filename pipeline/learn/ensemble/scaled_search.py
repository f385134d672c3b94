"""The choice of a history term with nothing fitted per grid point (the text term, the
transition term): each candidate scored once at unit weight, then every weight of the grid is a
rescaling of those scores, judged on the validation NDCG@10 of the sum with the towers and the
terms chosen before it, under the cold-item guard (`judge.py`); none at all is one of the
choices."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol, Self, TypeVar

import numpy as np
import pandas as pd

from pipeline.learn.data.choice import Best
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


def choose_scaled(
    what: str,
    judge: Judge,
    events: pd.DataFrame,
    n_users: int,
    units: Iterable[T],
    weights: tuple[float, ...],
    base: ScoreFn | None,
) -> T | None:
    """The candidate of `units` (each at scale 1) and weight of `weights` (relative to the spread
    of the towers plus `base`, the terms chosen before) whose sum ranks the validation slice
    best; None when none beats the sum without it."""
    base = None if base is None else judge.cached(base)  # read again for every candidate
    before, before_cold = judge.judged(base)
    spread = judge.spread(None if base is None else lambda r: judge.towers(r) + base(r))
    best: Best[T] = Best(before, allows=ColdGuard.of(judge).allows)
    for unit in units:
        scores = judge.cached(unit.scorer(events, n_users))
        own = judge.spread(scores)
        if own <= 0 or spread <= 0:
            continue  # the term says nothing of the judged users, or there is nothing to add to
        for weight in weights:
            scale = weight * spread / own

            def extra(rows: np.ndarray, s: float = scale, u: ScoreFn = scores) -> np.ndarray:
                term = u(rows) * np.float32(s)
                return term if base is None else term + base(rows)

            score, cold = judge.judged(extra)
            log.debug(
                "%s term %s, weight %g: NDCG@10 %.4f, cold %.4f",
                *(what, unit.describe(), weight, score, cold),
            )
            best.offer(score, unit.rescaled(scale), cold)
    chosen = best.choice
    if chosen is None:
        log.info("%s term: none chosen (%.4f without it on validation)", what, before)
    else:
        log.info(
            "%s term: %s: validation NDCG@10 %.4f (%.4f without it, cold recall %.4f)",
            *(what, chosen.describe(), best.score, before, before_cold),
        )
    return chosen
