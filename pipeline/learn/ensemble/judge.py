"""What choosing a score term asks of the validation slice, and the cold-item guard.

Every term (the item-item term, the factor term, a warm night's new weights) is chosen by the one
search rule (`data/choice.py`: a candidate must beat the best so far strictly, a tie keeps the
earlier one, the simpler choice or a warm night's start) on the validation NDCG@10 of the towers
plus the term, under the cold-item guard below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from pipeline.learn.data.ranking import ScoreFn

# the share of the towers' validation cold-item recall a chosen term may give up: the terms
# find known items, so every weight trades some new items for them (demo: weight 0.1 costs 7%)
COLD_TOLERANCE = 0.1
# ... where new items matter: at least this share of the validation events is on them (on
# ML-100K, 0.3%: a handful of events whose recall would be noise)
COLD_MIN_SHARE = 0.02


class Judge(Protocol):
    """The validation slice (`pipeline.learn.ensemble.validation`): NDCG@10 and cold-item recall@10 of the
    towers' scores plus `extra`, NDCG@10 of `fn` alone, the towers' scores, and the typical
    spread of a user's scores (the towers' own without `fn`)."""

    cold_share: float  # of the validation events: those on items the fit never saw

    def judged(self, extra: ScoreFn | None = None) -> tuple[float, float]: ...

    def alone(self, fn: ScoreFn) -> float: ...

    def towers(self, rows: np.ndarray) -> np.ndarray: ...

    def spread(self, fn: ScoreFn | None = None) -> float: ...

    def cached(self, fn: ScoreFn) -> ScoreFn: ...


@dataclass(frozen=True)
class ColdGuard:
    """The cold-item recall a chosen term must keep: `COLD_TOLERANCE` below the towers' own,
    where at least `COLD_MIN_SHARE` of the validation events are on cold items; no floor else."""

    floor: float

    @classmethod
    def of(cls, judge: Judge, towers_cold: float | None = None) -> ColdGuard:
        """`towers_cold`: the towers' own cold recall, when the caller has it already."""
        if judge.cold_share < COLD_MIN_SHARE:
            return cls(-math.inf)
        cold = judge.judged()[1] if towers_cold is None else towers_cold
        return cls(cold * (1.0 - COLD_TOLERANCE))

    def allows(self, cold: float) -> bool:
        """NaN (no cold items in the slice) is allowed: there is nothing to keep."""
        return not cold < self.floor
