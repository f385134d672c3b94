"""The item-item term's baseline twin, searched with it: the `ease` (or `itemknn`) baseline and
its `_recent` variant choose λ (or k) and a history half-life on the validation week, and the
term fits the same models on the same week. Each grid point is fitted once a night here, scored
alone for the baseline and, where the term's grid holds it, kept for the term; the baseline
then reuses the choice (`baseline_<name>_param`, as a warm night reuses its parent's).

The term's grid is within the baseline's (`ITEM_ITEM_LAMBDAS` in `EASE_LAMBDAS`, `ITEM_ITEM_KS`
in `ITEMKNN_KS`), so the shared search fits no more than the baseline's own did, and the three
EASE inverses the term used to fit again (a quarter of a minute each at 12,000 items) are gone.
The grid is walked (`walk`): its middle point and the one above first, then outward only while
the last point fitted on a side leads the baseline's choice or the term's: where both choose
EASE's λ 200, neither 10 nor 1000 is fitted; where both choose 1000, neither 10 nor 50.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import pandas as pd
import scipy.sparse as sp

from pipeline.core.stopwatch import ITEM_ITEM, timed
from pipeline.learn.algorithms.ease import EASE
from pipeline.learn.algorithms.itemknn import ItemKNN, NeighbourCache
from pipeline.learn.data.choice import first_best
from pipeline.learn.data.history import RECENCY_HALF_LIVES, binary_matrix, recency_matrix
from pipeline.learn.ensemble.judge import Judge

log = logging.getLogger(__name__)


class TwinSearch:
    """Fits of `kind` ("ease" or "itemknn") on `events`, and the users' recency-weighted
    histories, each built once; the fits of `grid` (the twin's; empty: no twin to search) are
    also scored alone on a judge, from the plain history and from each recency-weighted one."""

    def __init__(
        self, kind: str, events: pd.DataFrame, shape: tuple[int, int], grid: list[float]
    ) -> None:
        self.kind, self.grid = kind, grid
        self.events, self.shape = events, shape
        self.x = binary_matrix(events["user"].to_numpy(), events["item"].to_numpy(), shape)
        self._histories = {math.inf: self.x}
        self.neighbours = NeighbourCache()  # an ItemKNN grid ranks the co-occurrences once
        self.alone: dict[tuple[float, float], float] = {}

    def history(self, half_life: float) -> sp.csr_matrix:
        """The users' history weighted 0.5 ** (position / `half_life`) (inf: the plain one),
        built once for the twin's scoring and the term's grid alike."""
        if half_life not in self._histories:
            e = self.events
            self._histories[half_life] = recency_matrix(
                *(e["user"].to_numpy(), e["item"].to_numpy(), e["event_s"].to_numpy()),
                *(self.shape, half_life),
            )
        return self._histories[half_life]

    @timed(ITEM_ITEM)
    def fit(self, param: float, judge: Judge) -> EASE | ItemKNN:
        """The model at `param`; a point of the twin's grid is scored alone on `judge` too."""
        model = self.fit_kept(param)
        if param in self.grid:
            for h in (math.inf, *RECENCY_HALF_LIVES):
                x = self.history(h)
                self.alone[(param, h)] = judge.alone(lambda rows, m=model, x=x: m.scores(x, rows))
        return model

    def fit_kept(self, param: float, keep: int | None = None) -> EASE | ItemKNN:
        """The model at `param` (ItemKNN: at most `keep` neighbours)."""
        if self.kind == "ease":
            return EASE.fit(self.x, param)
        k = int(param) if keep is None else min(int(param), keep)
        return self.neighbours.fit(self.x, k)

    def walk(
        self,
        points: list[float],
        visit: Callable[[float], None],
        term_leads: Callable[[float], bool],
    ) -> None:
        """`visit` the middle of `points` (ascending) and the point above it, then upward while
        the highest point visited leads, then downward from the middle while the lowest one
        leads. A point leads when it is the twin's choice of the plain or the recency-weighted
        histories, or the term's (`term_leads`). On a curve with one peak, a point above the
        middle that beats it puts the peak above the middle: nothing below is fitted. A curve
        that rises again past a dip is missed (scoring every point fitted every point: at
        12,000 items an EASE fit is a quarter of a minute)."""
        if not points:
            return
        mid = len(points) // 2

        def leads(param: float) -> bool:
            return self._leads(param) or term_leads(param)

        visit(points[mid])
        top = mid
        while top + 1 < len(points) and (top == mid or leads(points[top])):
            top += 1
            visit(points[top])
        bottom = mid
        while bottom > 0 and leads(points[bottom]):
            bottom -= 1
            visit(points[bottom])

    def _fitted(self) -> list[float]:
        return [v for v in self.grid if (v, math.inf) in self.alone]

    def _best(self) -> tuple[float, tuple[float, float]]:
        """The first best point of the plain history, and of the recency-weighted ones."""
        fitted = self._fitted()
        plain = first_best(fitted, lambda v: self.alone[(v, math.inf)])
        pairs = [(v, h) for v in fitted for h in RECENCY_HALF_LIVES]
        return plain, first_best(pairs, self.alone.__getitem__)

    def _leads(self, param: float) -> bool:
        if not self._fitted():
            return False  # no twin to search
        plain, (recent, _) = self._best()
        return param in (plain, recent)

    def choices(self) -> dict[str, float]:
        """The twin's choices as the baseline logs its tuned values (`baseline_<name>_param`,
        and for `<name>_recent` its half-life too): the first best of each, in grid order,
        among the points fitted."""
        if not self.grid:
            return {}
        plain, (value, half_life) = self._best()
        log.info(
            "%s baseline chosen with the item-item term: %g alone, %g with half-life %g "
            "(validation NDCG@10 %.4f and %.4f)",
            *(self.kind, plain, value, half_life),
            *(self.alone[(plain, math.inf)], self.alone[(value, half_life)]),
        )
        name = self.kind
        return {
            f"baseline_{name}_param": plain,
            f"baseline_{name}_recent_param": value,
            f"baseline_{name}_recent_half_life": half_life,
        }
