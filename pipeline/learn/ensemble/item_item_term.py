"""The interaction score's item-item term: a closed-form item-item model scored from the user's
recency-weighted history, added to the towers' dot product with a weight chosen on validation.

The towers score a pair by a dot product of `dim`-wide vectors: low-rank by construction. An
item-item model's items x items weights are not, and a user's latest items say most about their
next ones, so the term reads the history weighted 0.5 ** (position / half-life). EASE (Steck
2019) is the term up to `EASE_MAX_ITEMS` items; above it ItemKNN (sparse at any size). Either
is fitted in closed form on the fit's events, its parameter, half-life and weight chosen by the
validation NDCG@10 of the sum (`choose_item_item_term`); no weight at all is one of the choices, so the
term is only used where it helps. It scores zero on items without events: new items are ranked
by the towers alone. Weights are kept sparse (`ITEM_ITEM_KEEP` per item) so a bundle stays small.
"""

from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pipeline.core.stopwatch import ITEM_ITEM, timed
from pipeline.learn.algorithms.ease import EASE, EASE_LAMBDAS, EASE_MAX_ITEMS
from pipeline.learn.algorithms.itemknn import ITEMKNN_KS, ItemKNN, top_per_row
from pipeline.learn.algorithms.text_lending import lend_to_cold
from pipeline.learn.data.choice import Best, first_best
from pipeline.learn.data.history import RECENCY_HALF_LIVES, binary_matrix, recency_matrix
from pipeline.learn.data.ranking import PairFn, ScoreFn
from pipeline.learn.ensemble.history_matrix import (
    csr_arrays,
    csr_of,
    history_pair_scorer,
    history_scorer,
)
from pipeline.learn.ensemble.judge import ColdGuard, Judge
from pipeline.learn.ensemble.scaled_search import walk_terms
from pipeline.learn.ensemble.term_alignment import follow_square
from pipeline.learn.ensemble.term_data import TermData
from pipeline.learn.ensemble.twin_search import TwinSearch

log = logging.getLogger(__name__)

ITEM_ITEM_KINDS = ("auto", "ease", "itemknn", "off")
# the grids `choose_item_item_term` searches (EASE's λ or ItemKNN's k; half-lives in positions; weights
# relative to the towers' spread of scores)
ITEM_ITEM_LAMBDAS = (200.0, 500.0, 1000.0)
ITEM_ITEM_KS = (50.0, 200.0)
ITEM_ITEM_HALF_LIVES = RECENCY_HALF_LIVES  # the twin's `_recent` variants read the same
ITEM_ITEM_WEIGHTS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
# weights kept per item (the largest in magnitude): ML-100K NDCG@10 of the sum 0.2624 with 200
# against 0.2627 with all 1,682
ITEM_ITEM_KEEP = 200


def item_item_kind(kind: str, n_items: int) -> str:
    """`auto`: EASE up to `EASE_MAX_ITEMS` items, ItemKNN above."""
    if kind not in ITEM_ITEM_KINDS:
        raise ValueError(
            f"unknown item-item term {kind!r}: choose one of {', '.join(ITEM_ITEM_KINDS)}"
        )
    if kind == "auto":
        return "ease" if n_items <= EASE_MAX_ITEMS else "itemknn"
    if kind == "ease" and n_items > EASE_MAX_ITEMS:
        raise ValueError(
            f"an EASE item-item term inverts a dense {n_items:,} x {n_items:,} matrix (limit "
            f"{EASE_MAX_ITEMS:,} items): set RECSYS_TRAIN_ITEM_ITEM_TERM to auto or itemknn"
        )
    return kind


@timed(ITEM_ITEM)
def item_item_weights(
    kind: str,
    events: pd.DataFrame,
    shape: tuple[int, int],
    param: float,
    keep: int,
    texts: np.ndarray | None = None,
) -> sp.csr_matrix:
    """The item-item weights of `kind` fitted on `events`, `keep` per item; with `texts` (item
    text vectors), an item without events reads as its text neighbours (`lend_to_cold`)."""
    x = binary_matrix(events["user"].to_numpy(), events["item"].to_numpy(), shape)
    model = EASE.fit(x, param) if kind == "ease" else ItemKNN.fit(x, min(int(param), keep))
    return _kept(model, keep, events, texts)


def _kept(
    model: EASE | ItemKNN, keep: int, events: pd.DataFrame, texts: np.ndarray | None
) -> sp.csr_matrix:
    """A fitted model's weights as the term keeps them: `keep` per item, and lent to items
    without events from their text neighbours where `texts` are given."""
    weights = top_per_row(model.weights, keep) if isinstance(model, EASE) else model.similarity
    if texts is None:
        return weights
    known = np.bincount(events["item"].to_numpy(), minlength=weights.shape[1]) > 0
    return lend_to_cold(weights, known, texts)


@dataclass
class ItemItemTerm:
    """score(u, j) += scale * sum_i h_u(i) W[i, j], h_u the user's recency-weighted history."""

    name: ClassVar[str] = "item_item"
    file: ClassVar[str] = "term_item_item.npz"

    kind: str  # "ease" or "itemknn"
    param: float  # EASE's λ or ItemKNN's k
    half_life: float  # positions back from the user's latest item
    scale: float  # the term's weight in the interaction score
    weights: sp.csr_matrix  # items x items

    def refit(self, data: TermData, keep: int = ITEM_ITEM_KEEP) -> ItemItemTerm:
        """The same choice fitted on other events (a refit on every event of the night)."""
        weights = item_item_weights(
            self.kind, data.events, data.shape, self.param, keep, data.texts
        )
        return ItemItemTerm(self.kind, self.param, self.half_life, self.scale, weights)

    def rescaled(self, scale: float) -> ItemItemTerm:
        return replace(self, scale=scale)

    def follow(self, selection: sp.csr_matrix) -> ItemItemTerm:
        """The same term over another night's items (`term_alignment.selection`)."""
        return replace(self, weights=follow_square(selection, self.weights))

    def describe(self) -> str:
        return f"{self.kind} {self.param:g}, half-life {self.half_life:g}, scale {self.scale:.4g}"

    def recency_history(self, events: pd.DataFrame, n_users: int) -> sp.csr_matrix:
        shape = (n_users, self.weights.shape[0])
        return recency_matrix(
            events["user"].to_numpy(),
            events["item"].to_numpy(),
            events["event_s"].to_numpy(),
            shape,
            self.half_life,
        )

    def scorer(self, events: pd.DataFrame, n_users: int) -> ScoreFn:
        """user rows -> the term's term of every item, from the users' histories in `events`."""
        return self.scorer_of(self.recency_history(events, n_users))

    def scorer_of(self, history: sp.csr_matrix) -> ScoreFn:
        """`scorer` from the users' recency-weighted history already built (`recency_history`)."""
        return timed(ITEM_ITEM)(history_scorer(history * np.float32(self.scale), self.weights))

    def pair_scorer(self, events: pd.DataFrame, n_users: int) -> PairFn:
        """(user rows, item rows) -> the term's term of each pair."""
        h = self.recency_history(events, n_users) * np.float32(self.scale)
        return history_pair_scorer(h, self.weights)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            meta=np.array([self.param, self.half_life, self.scale], dtype=np.float64),
            kind=np.array(self.kind),
            **csr_arrays(self.weights),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, raw: bytes) -> ItemItemTerm:
        with np.load(io.BytesIO(raw)) as f:
            param, half_life, scale = f["meta"].tolist()
            return cls(str(f["kind"]), param, half_life, scale, csr_of(f))


def choose_item_item_term(
    judge: Judge,
    events: pd.DataFrame,
    shape: tuple[int, int],
    kind: str,
    texts: np.ndarray | None = None,
    keep: int = ITEM_ITEM_KEEP,
    twin: dict[str, float] | None = None,
) -> ItemItemTerm | None:
    """The (parameter, half-life, weight) whose sum with the towers ranks the validation slice
    best while recalling nearly as many of its cold items as the towers alone (new items are the
    towers' to find: `COLD_TOLERANCE`); None when none beats the towers alone (or `off`).

    With `twin`, the search also makes the choice of the term's baseline twin (`ease` or
    `itemknn`, and its `_recent` variant): its grid, which holds the term's, is walked here
    (`TwinSearch.walk`: outward from its middle only while the term or the twin gains) and each
    fit scored alone on the same slice, so a night fits each grid point once at most."""
    kind = item_item_kind(kind, shape[1])
    if kind == "off" or not len(events):
        return None
    alone, alone_cold = judge.judged()
    log.debug(
        "towers alone: NDCG@10 %.4f, cold recall@10 %.4f (%.1f%% of the events on cold items)",
        *(alone, alone_cold, 100 * judge.cold_share),
    )
    best: Best[ItemItemTerm] = Best(alone, allows=ColdGuard.of(judge, alone_cold).allows)
    towers = judge.spread()
    grid = ITEM_ITEM_LAMBDAS if kind == "ease" else ITEM_ITEM_KS
    twin_grid = () if twin is None else EASE_LAMBDAS if kind == "ease" else ITEMKNN_KS
    searcher = TwinSearch(kind, events, shape, [float(p) for p in twin_grid])
    term_grid = [float(p) for p in grid]

    # each λ or k's best sum the guard allows: the term's lead is the first best of them (beating
    # the towers alone or not, so a walk toward a term that would win goes on)
    walked: dict[float, float] = {}

    def term_leads(param: float) -> bool:
        tried = [p for p in sorted(walked) if walked[p] > -math.inf]
        return bool(tried) and first_best(tried, walked.__getitem__) == param

    def visit(param: float) -> None:
        model = searcher.fit(param, judge)
        if param not in term_grid:
            return
        if kind == "itemknn" and param > keep:  # the term keeps `keep` neighbours at most
            model = searcher.fit_kept(param, keep)
        weights = _kept(model, keep, events, texts)
        del model  # a dense EASE fit: items x items floats
        # the half-lives x weights walked: the judged users' scores once per half-life (the
        # weights only rescale them)
        walked[param] = walk_terms(
            f"item-item {kind} {param:g}",
            judge,
            best,
            [
                lambda h=h: ItemItemTerm(kind, param, h, 1.0, weights).scorer_of(
                    searcher.history(h)
                )
                for h in ITEM_ITEM_HALF_LIVES
            ],
            ITEM_ITEM_WEIGHTS,
            towers,
            lambda i, scale: ItemItemTerm(kind, param, ITEM_ITEM_HALF_LIVES[i], scale, weights),
        )

    searcher.walk(
        sorted({*term_grid, *searcher.grid}),
        visit,
        term_leads,
    )
    if twin is not None:
        twin.update(searcher.choices())
    chosen = best.choice
    if chosen is None:
        log.info("item-item term: none chosen (towers alone %.4f on validation)", alone)
    else:
        log.info(
            "item-item term: %s (%g), half-life %g, scale %.4g: validation NDCG@10 %.4f "
            "(towers alone %.4f)",
            chosen.kind,
            chosen.param,
            chosen.half_life,
            chosen.scale,
            best.score,
            alone,
        )
    return chosen
