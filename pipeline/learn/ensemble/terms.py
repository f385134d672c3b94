"""The score terms fitted beside the towers: how a fit chooses, refits and re-weights them.

- interaction: the item-item term (`item_item.py`: EASE or ItemKNN over the recency-weighted
  history) and the factor term (`factor_term.py`: iALS, users folded in), each added to the
  towers' dot product with a weight chosen on validation;
  the transition term (`transition_term.py`: what followed the user's latest items in other
  users' sequences); and the text term (`text_term.py`: each item's text against the user's
  recency-weighted history of text vectors);
- rating: the neighbourhood and factor blend of `rating_term.py`.

Each is chosen on the validation slice with members fitted on the events before it, then, like
the baselines it is measured against, refitted on every event the fit was given, the validation
slice's included: the closed-form members cost seconds to refit, and leaving a week out of them
cost Last.fm's EASE term 6% of its NDCG@10. A refit for serving keeps the choices and refits the
members on the night's events. Every term answers the same calls (`recommender.Term`): refit, follow
another night's items, describe itself, save and load; an interaction term also scores a batch
of users or pairs and is re-weighted (`rescaled`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.learn.data.choice import Best
from pipeline.learn.data.ranking import ScoreFn, summed
from pipeline.learn.data.snapshot import Snapshot
from pipeline.learn.ensemble.factor_term import FACTOR_WEIGHTS, choose_factor_term
from pipeline.learn.ensemble.item_item_term import ITEM_ITEM_WEIGHTS, choose_item_item_term
from pipeline.learn.ensemble.judge import ColdGuard
from pipeline.learn.ensemble.rating_term import MIN_VALIDATION, choose_rating_term
from pipeline.learn.ensemble.recommender import InteractionTerm, Recommender
from pipeline.learn.ensemble.term_data import TermData
from pipeline.learn.ensemble.text_term import TEXT_WEIGHTS, choose_text_term
from pipeline.learn.ensemble.transition_term import TRANSITION_WEIGHTS, choose_transition_term
from pipeline.learn.ensemble.validation import ValidationSlice

# each interaction term's grid of weights, relative to the spread of what it is added to
WEIGHT_GRIDS = {
    "item_item": ITEM_ITEM_WEIGHTS,
    "factor": FACTOR_WEIGHTS,
    "transition": TRANSITION_WEIGHTS,
    "text": TEXT_WEIGHTS,
}


def choose_terms(
    rec: Recommender,
    judge: ValidationSlice,
    snapshot: Snapshot,
    events: pd.DataFrame,
    validation: pd.DataFrame,
    *,
    item_item: str,
    factors: bool,
    rating: bool,
    transition: bool = True,
    text: bool = True,
    seed: int,
    chosen: dict[str, float] | None = None,
) -> float:
    """Choose each term on the validation slice (`item_item`: its kind, `factors`,
    `transition`, `text`, `rating`: whether to try them), each on the towers plus the terms chosen before it; set
    them on `rec`, then refit them on `events` and `validation` together. Returns the validation NDCG@10 of the towers plus the chosen interaction terms;
    `chosen` gets the grid choices a baseline twin reuses (the item-item term's search makes
    the `ease` or `itemknn` baseline's, `choose_factor_term` the `mf` one's, the rating term
    the `mf` rating baseline's λ)."""
    shape = (len(snapshot.users), len(snapshot.items))
    texts = snapshot.item_text
    item_term = choose_item_item_term(judge, events, shape, item_item, texts, twin=chosen)
    base = None if item_term is None else item_term.scorer(events, shape[0])
    factor = (
        choose_factor_term(judge, events, shape, base, texts, seed, chosen) if factors else None
    )
    picked: list[InteractionTerm] = [t for t in (item_term, factor) if t is not None]
    if transition:
        below = _total(picked, events, shape[0])
        order = choose_transition_term(judge, events, shape, below)
        picked += [] if order is None else [order]
    if text:
        below = _total(picked, events, shape[0])
        text_term = choose_text_term(judge, events, shape[0], texts, below)
        picked += [] if text_term is None else [text_term]
    rated = None
    if rating and judge.users_f.ratings is not None:
        rated = choose_rating_term(judge.users_f.ratings, *judge.rated_heads(), chosen)
    rec.set_terms([*picked, *([] if rated is None else [rated])])
    served = judge.ndcg(_total(rec.terms, events, shape[0]))
    refit_terms(rec, rec, snapshot, pd.concat([events, validation], ignore_index=True), seed)
    return served


def refit_terms(
    rec: Recommender, chosen: Recommender, snapshot: Snapshot, events: pd.DataFrame, seed: int
) -> None:
    """`chosen`'s terms with their members fitted on `events`, set on `rec`."""
    data = TermData(events, (len(snapshot.users), len(snapshot.items)), snapshot.item_text, seed)
    rec.set_terms([t.refit(data) for t in chosen.all_terms()])


def rescale_terms(
    rec: Recommender, judge: ValidationSlice, events: pd.DataFrame, n_users: int
) -> float:
    """A warm fit keeps its start's term choices, but the towers they are added to have moved:
    each interaction term's weight is chosen again on the validation slice, among its start's
    weight and the grid a full fit searches (relative to the spread of the scores it is added
    to), under the same cold-item guard; the rating term's blend is fitted again against
    tonight's head. Returns the validation NDCG@10 of the towers plus the terms. A handful of rankings of the slice: seconds, where choosing the terms again (every
    kind, parameter and half-life) costs a full fit's minute."""
    allows = ColdGuard.of(judge).allows
    for index, term in enumerate(list(rec.terms)):
        # as a full fit chooses them: each term on the towers and the terms summed before it
        below = _total(rec.terms[:index], events, n_users)
        rest = _total([t for t in rec.terms if t is not term], events, n_users)
        under = judge.spread(
            None if below is None else lambda r, b=below: judge.towers(r) + b(r)  # type: ignore[misc]
        )
        # each term built once (the factor term folds every user in), then scaled
        unit = term.rescaled(1.0).scorer(events, n_users)
        own = judge.spread(unit)
        grid = WEIGHT_GRIDS[term.name]
        scales = [term.scale, *(w * under / own for w in grid if own > 0 and under > 0)]
        best: Best[float] = Best(-np.inf, allows=allows)
        for scale in scales:  # the start's weight first: a tie keeps it
            score, cold = judge.judged(_scaled(unit, scale, rest))
            best.offer(score, scale, cold)
        if best.choice is not None:
            rec.terms[index] = term.rescaled(best.choice)
    # the rating blend weighs tonight's head against the members: fitted again against it
    # (against the parent's head it would weigh a head that is no more)
    ratings = judge.users_f.ratings
    if rec.rating_term is not None and ratings is not None:
        head, rated = judge.rated_heads()
        if len(rated) >= MIN_VALIDATION:
            rec.rating_term = rec.rating_term.blended_on(ratings, head, rated)
    return judge.ndcg(_total(rec.terms, events, n_users))


def _total(terms: list[InteractionTerm], events: pd.DataFrame, n_users: int) -> ScoreFn | None:
    """user rows -> the sum of `terms`' scores (None without terms)."""
    return summed([t.scorer(events, n_users) for t in terms]) if terms else None


def _scaled(unit: ScoreFn, scale: float, rest: ScoreFn | None) -> ScoreFn:
    """`scale` x `unit`'s scores, plus `rest`'s where given."""

    def total(rows: np.ndarray) -> np.ndarray:
        out = np.float32(scale) * unit(rows)
        return out if rest is None else out + rest(rows)

    return total
