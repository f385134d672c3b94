"""The closed-form paths fitted beside the towers, and how every scoring site adds them.

- interaction: the item-item path (`item_item.py`: EASE or ItemKNN over the recency-weighted
  history) and the factor path (`factor_path.py`: iALS, users folded in), each added to the
  towers' dot product with a weight chosen on validation;
- rating: the neighbourhood and factor blend of `rating_path.py`.

Each is chosen on the validation slice with members fitted on the events before it, then, like
the baselines it is measured against, refitted on every event the fit was given, the validation
slice's included: the closed-form members cost seconds to refit, and leaving a week out of them
cost Last.fm's EASE path 6% of its NDCG@10. A refit for serving keeps the choices and refits the
members on the night's events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

import numpy as np
import pandas as pd

from pipeline.learn.factor_path import FACTOR_WEIGHTS, choose_factor_path
from pipeline.learn.item_item import (
    PATH_COLD_MIN_SHARE,
    PATH_COLD_TOLERANCE,
    PATH_WEIGHTS,
    choose_path,
)
from pipeline.learn.model import MultiTaskModel
from pipeline.learn.rating_path import choose_rating_path, rating_matrix
from pipeline.learn.scoring import ScoreFn
from pipeline.learn.snapshot import Snapshot
from pipeline.learn.validation import ValidationSlice

PairFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


class InteractionPath(Protocol):
    """A closed-form term of the interaction score, read from the users' histories in `events`."""

    def scorer(self, events: pd.DataFrame, n_users: int) -> ScoreFn: ...

    def pair_scorer(self, events: pd.DataFrame, n_users: int) -> PairFn: ...


def interaction_paths(model: MultiTaskModel) -> list[InteractionPath]:
    """The model's interaction paths that its fit chose (none, one or both)."""
    return [p for p in (model.item_item, model.factor_path) if p is not None]


def describe_paths(model: MultiTaskModel) -> dict[str, str]:
    """What the fit chose of each path, as MLflow run params ("none" where it chose none)."""
    item_item, factors, rating = model.item_item, model.factor_path, model.rating_path
    return {
        "item_item_path_chosen": "none"
        if item_item is None
        else f"{item_item.kind} {item_item.param:g}, half-life {item_item.half_life:g}, "
        f"scale {item_item.scale:.4g}",
        "factor_path_chosen": "none"
        if factors is None
        else f"iALS {factors.factors} factors, L2 {factors.lam:g}, alpha {factors.alpha:g}, "
        f"scale {factors.scale:.4g}",
        # the rating path's blend (`rating_path.blend_columns`)
        "rating_path_blend": "none"
        if rating is None
        else " ".join(f"{w:.4f}" for w in rating.blend),
    }


def path_terms(paths: Sequence[InteractionPath], events: pd.DataFrame, n_users: int) -> ScoreFn:
    """user rows -> the sum of the paths' terms of every item (`paths` not empty)."""
    terms = [p.scorer(events, n_users) for p in paths]

    def total(rows: np.ndarray) -> np.ndarray:
        out = terms[0](rows)
        for term in terms[1:]:
            out = out + term(rows)
        return out

    return total


def with_paths(
    paths: Sequence[InteractionPath], scores: ScoreFn, events: pd.DataFrame, n_users: int
) -> ScoreFn:
    """`scores` plus the paths' terms from the users' histories in `events` (`scores` itself
    without paths): how every scoring site adds them."""
    if not paths:
        return scores
    terms = path_terms(paths, events, n_users)
    return lambda rows: scores(rows) + terms(rows)


def pairs_with_paths(
    paths: Sequence[InteractionPath], pairs: PairFn, events: pd.DataFrame, n_users: int
) -> PairFn:
    """`pairs` (user rows, item rows) -> scores, plus the paths' terms of each pair."""
    terms = [p.pair_scorer(events, n_users) for p in paths]
    return lambda users, items: sum((t(users, items) for t in terms), pairs(users, items))


def choose_paths(
    model: MultiTaskModel,
    judge: ValidationSlice,
    snapshot: Snapshot,
    events: pd.DataFrame,
    validation: pd.DataFrame,
    *,
    item_item: str,
    factors: bool,
    rating: bool,
    seed: int,
) -> float:
    """Choose each path on the validation slice (`item_item`: its kind, `factors`, `rating`:
    whether to try them), set them on `model`, then refit them on `events` and `validation`
    together. Returns the validation NDCG@10 of the towers plus the chosen interaction paths."""
    shape = (len(snapshot.users), len(snapshot.items))
    texts = snapshot.item_text
    model.item_item = path = choose_path(judge, events, shape, item_item, texts)
    base = None if path is None else path.scorer(events, shape[0])
    model.factor_path = (
        choose_factor_path(judge, events, shape, base, texts, seed) if factors else None
    )
    chosen = interaction_paths(model)
    served = judge.ndcg(path_terms(chosen, events, shape[0]) if chosen else None)
    if rating and judge.users_f.ratings is not None:
        model.rating_path = choose_rating_path(judge.users_f.ratings, *judge.rated_heads())
    refit_paths(model, model, snapshot, pd.concat([events, validation], ignore_index=True), seed)
    return served


def refit_paths(
    model: MultiTaskModel,
    chosen: MultiTaskModel,
    snapshot: Snapshot,
    events: pd.DataFrame,
    seed: int,
) -> None:
    """`chosen`'s paths with their members fitted on `events`, set on `model`."""
    shape = (len(snapshot.users), len(snapshot.items))
    texts = snapshot.item_text
    if chosen.item_item is not None:
        model.item_item = chosen.item_item.refit(events, shape, texts)
    if chosen.factor_path is not None:
        model.factor_path = chosen.factor_path.refit(events, shape, texts, seed)
    if chosen.rating_path is not None:
        model.rating_path = chosen.rating_path.refit(rating_matrix(events, shape))


def rescale_paths(
    model: MultiTaskModel, judge: ValidationSlice, events: pd.DataFrame, n_users: int
) -> float:
    """A warm fit keeps its start's path choices, but the towers they are added to have moved:
    each chosen interaction path's weight is chosen again on the validation slice, among its
    start's weight and the grid a full fit searches (relative to the spread of the scores it is
    added to), under the same cold-item guard. Returns the validation NDCG@10 of the towers
    plus the paths. A handful of rankings of the slice: seconds, where choosing the paths again
    (every kind, parameter and half-life) costs a full fit's minute."""
    guarded = judge.cold_share >= PATH_COLD_MIN_SHARE
    floor = judge.judged()[1] * (1.0 - PATH_COLD_TOLERANCE) if guarded else -np.inf
    for name, grid in (("item_item", PATH_WEIGHTS), ("factor_path", FACTOR_WEIGHTS)):
        path = getattr(model, name)
        if path is None:
            continue
        # as a full fit chooses them: the item-item path on the towers, the factor path on both
        below = [model.item_item] if name == "factor_path" and model.item_item else []
        others = [p for p in interaction_paths(model) if p is not path]
        under = judge.spread(with_paths(below, judge.towers, events, n_users) if below else None)
        # each term built once (the factor path's folds every user in), then scaled
        unit = replace(path, scale=1.0).scorer(events, n_users)
        rest = path_terms(others, events, n_users) if others else None
        own = judge.spread(unit)
        scales = [path.scale, *(w * under / own for w in grid if own > 0 and under > 0)]
        best: tuple[float, float] | None = None
        for scale in scales:  # the start's weight first: a tie keeps it
            score, cold = judge.judged(_scaled(unit, scale, rest))
            if (best is None or score > best[0]) and not cold < floor:  # NaN: no cold items
                best = (score, scale)
        if best is not None:
            setattr(model, name, replace(path, scale=best[1]))
    chosen = interaction_paths(model)
    return judge.ndcg(path_terms(chosen, events, n_users) if chosen else None)


def _scaled(unit: ScoreFn, scale: float, rest: ScoreFn | None) -> ScoreFn:
    """`scale` x `unit`'s scores, plus `rest`'s where given."""

    def total(rows: np.ndarray) -> np.ndarray:
        out = np.float32(scale) * unit(rows)
        return out if rest is None else out + rest(rows)

    return total
