"""The one contract: a trained recommender, and the only calls that score with it.

A `Recommender` is the towers (the multi-task network), the feature space that encodes a night
for them, and the closed-form score terms chosen on validation (`terms`: added to the towers'
interaction score; `rating_term`: blended into the rating head's prediction). It is not a torch
module: the terms are not weights.

Everything that scores asks a `Scores` view of one night for it: the nightly exam, the
validation slice, in-process and Spark scoring, and the served MLflow model all call
`scores` (every item for a batch of users), `pair_scores`, `ratings` and `similar_vectors`, so
what is measured, what fills `marts.recommendations` and what `models:/recsys_mtl@champion`
answers are the same numbers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import ClassVar, Protocol, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from pipeline.core.errors import RecsysError
from pipeline.learn.data.products import products, right_side
from pipeline.learn.data.ranking import PairFn, ScoreFn, pick_pairs, summed
from pipeline.learn.data.snapshot import Snapshot
from pipeline.learn.ensemble.factor_term import FactorTerm
from pipeline.learn.ensemble.item_item_term import ItemItemTerm
from pipeline.learn.ensemble.rating_term import RatingTerm, UserRatings
from pipeline.learn.ensemble.term_alignment import selection
from pipeline.learn.ensemble.term_data import TermData
from pipeline.learn.ensemble.text_term import TextTerm
from pipeline.learn.ensemble.transition_term import TransitionTerm
from pipeline.learn.towers.feature_space import FeatureSpace
from pipeline.learn.towers.model import (
    RATING_HIGH,
    RATING_LOW,
    HeadTables,
    MultiTaskModel,
    TowerInputs,
)

log = logging.getLogger(__name__)

# Recommendations made for day D are read during D + 1: score items at the middle of that day.
SERVE_OFFSET_S = 12 * 3600.0


class Term(Protocol):
    """What every score term answers (`TERM_TYPES` lists them)."""

    name: ClassVar[str]  # its kind: the MLflow param `term_<name>`
    file: ClassVar[str]  # its file in a bundle

    def refit(self, data: TermData) -> Self: ...

    def follow(self, selection: sp.csr_matrix) -> Self: ...

    def describe(self) -> str: ...

    def to_bytes(self) -> bytes: ...

    @classmethod
    def from_bytes(cls, raw: bytes) -> Self: ...


class InteractionTerm(Term, Protocol):
    """A term of the interaction score, read from the users' histories in `events`."""

    scale: float

    def scorer(self, events: pd.DataFrame, n_users: int) -> ScoreFn: ...

    def pair_scorer(self, events: pd.DataFrame, n_users: int) -> PairFn: ...

    def rescaled(self, scale: float) -> Self: ...


# Every kind of score term, in the order they are summed (a new term: one class, one entry).
INTERACTION_TERMS: tuple[type[InteractionTerm], ...] = (
    ItemItemTerm,
    FactorTerm,
    TransitionTerm,
    TextTerm,
)
TERM_TYPES: tuple[type[Term], ...] = (*INTERACTION_TERMS, RatingTerm)


@dataclass
class Recommender:
    """The towers, their feature space and the score terms chosen on validation."""

    towers: MultiTaskModel
    space: FeatureSpace
    terms: list[InteractionTerm] = field(default_factory=list)  # summed in this order
    rating_term: RatingTerm | None = None
    trained_on: date | None = None
    # the items (in order) the terms are over, when loaded from a saved night: another night's
    # catalogue is then followed by id (`follow_items`); None: the current snapshot's
    term_items: list[str] | None = None
    # the folder it was loaded from (the Spark scoring job's workers load it again from there)
    source: Path | None = None

    @property
    def device(self) -> torch.device:
        return next(self.towers.parameters()).device

    def all_terms(self) -> list[Term]:
        """Every chosen term: the interaction terms, then the rating term."""
        rating: list[Term] = [] if self.rating_term is None else [self.rating_term]
        return [*self.terms, *rating]

    def term(self, name: str) -> InteractionTerm | None:
        return next((t for t in self.terms if t.name == name), None)

    def set_terms(self, terms: list[Term]) -> None:
        """`terms` (any order, at most one of a kind) as this recommender's, in summing order."""
        kinds = [type(t) for t in terms]
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"one term of a kind: got {[k.name for k in kinds]}")
        self.terms = [t for k in INTERACTION_TERMS for t in terms if type(t) is k]  # type: ignore[misc]
        ratings = [t for t in terms if isinstance(t, RatingTerm)]
        self.rating_term = ratings[0] if ratings else None

    def describe(self) -> dict[str, str]:
        """What the fit chose of every kind of term, as MLflow run params ("none": not chosen)."""
        chosen = {t.name: t.describe() for t in self.all_terms()}
        return {f"term_{k.name}": chosen.get(k.name, "none") for k in TERM_TYPES}

    # ---- a night ---------------------------------------------------------------------------
    def encode(self, snapshot: Snapshot, history: pd.DataFrame) -> tuple[TowerInputs, TowerInputs]:
        """`snapshot`'s users (with their `history`) and items as the towers read them."""
        if snapshot.embedding_model != self.space.embedding_model:
            raise RecsysError(
                f"the model was trained on text vectors of {self.space.embedding_model}, tonight's "
                f"are of {snapshot.embedding_model}: retrain (`recsys train`) before recommending"
            )
        if snapshot.text_dim != self.towers.cfg.text_dim:
            raise RecsysError(
                f"the model reads {self.towers.cfg.text_dim}-dimensional text vectors, tonight's "
                f"are {snapshot.text_dim}: was the embedding model changed? Retrain first."
            )
        self.follow_items(snapshot.items["item_id"].astype(str).tolist())
        self.read_texts(snapshot.item_text)
        users_f, items_f = self.space.encode(snapshot, history)
        return users_f.to(self.device), items_f.to(self.device)

    def follow_items(self, tonight: list[str]) -> None:
        """Carry the terms over to tonight's items by id (a champion older than the catalogue)."""
        if self.term_items is None:
            return
        if self.term_items != tonight:
            s = selection(self.term_items, tonight)
            self.set_terms([t.follow(s) for t in self.all_terms()])
        self.term_items = tonight

    def read_texts(self, texts: np.ndarray) -> None:
        """The text term reads tonight's item text vectors: a new item, or one whose text
        changed, is scored by it without retraining (its half-life and weight stay)."""
        term = self.term(TextTerm.name)
        if isinstance(term, TextTerm):
            self.terms = [term.reading(texts) if t is term else t for t in self.terms]

    def served(
        self, snapshot: Snapshot, history: pd.DataFrame, *, rating: bool = True, social: bool = True
    ) -> Scores:
        """`snapshot`'s night as it is served: every user at the serving moment of its run date."""
        users_f, items_f = self.encode(snapshot, history)
        u, v = self.towers.vector_tables(users_f, items_f, snapshot.run_end + SERVE_OFFSET_S)
        heads = self.towers.head_tables(users_f, items_f, rating=rating, social=social)
        return Scores(self, u, v, history, heads=heads)

    def judged(
        self,
        users_f: TowerInputs,
        items_f: TowerInputs,
        events: pd.DataFrame,
        user_times: np.ndarray,
        release: np.ndarray,
        *,
        rating: bool = False,
        social: bool = False,
    ) -> Scores:
        """An encoded night as an exam asks it: each user row at its own time (`user_times`)."""
        u, v = self.towers.vector_tables(users_f, items_f, None)
        heads = (
            self.towers.head_tables(users_f, items_f, rating=rating, social=social)
            if rating or social
            else None
        )
        return Scores(self, u, v, events, heads=heads, user_times=user_times, release=release)


class OfRecommender:
    """The towers and feature space of a `recommender` (a fit's result, a warm start)."""

    recommender: Recommender

    @property
    def model(self) -> MultiTaskModel:
        """The towers."""
        return self.recommender.towers

    @property
    def space(self) -> FeatureSpace:
        return self.recommender.space


@dataclass
class Scores:
    """A recommender's scores of one night's users and items.

    `u` [users, dim+1] and `v` [items, dim+1] are the towers' vector tables; `events` those the
    terms read each user from. With `user_times` (per user row) each user is scored at their own
    moment, the freshness term added from `release`; without, `v`'s last column already holds the
    freshness at the night's one serving moment.
    """

    recommender: Recommender
    u: np.ndarray
    v: np.ndarray
    events: pd.DataFrame
    heads: HeadTables | None = None
    user_times: np.ndarray | None = None
    release: np.ndarray | None = None
    # what the rating term reads of the users: worked out from `heads.user_ratings` when a
    # rating is first asked for (a served bundle stores it: it has no ratings to work it from)
    rating_state: UserRatings | None = None
    _terms: ScoreFn | None = field(default=None, init=False, repr=False)
    _pair_terms: list[PairFn] | None = field(default=None, init=False, repr=False)
    _items_on_device: torch.Tensor | None = field(default=None, init=False, repr=False)
    _items_t: np.ndarray | None = field(default=None, init=False, repr=False)

    @property
    def n_users(self) -> int:
        return len(self.u)

    def towers(self, rows: np.ndarray) -> np.ndarray:
        """The towers' interaction score of every item for the user `rows`."""
        towers = self.recommender.towers
        if self.user_times is not None:
            assert self.release is not None
            fresh = towers.freshness_at(self.user_times[rows][:, None], self.release[None, :])
            return self._on_cpu(rows) + fresh
        device = self.recommender.device
        if device.type == "cpu":
            return self._on_cpu(rows)
        if self._items_on_device is None:  # on the recommender's GPU, moved there once
            self._items_on_device = torch.as_tensor(self.v, device=device)
        users = torch.as_tensor(self.u[rows], device=device)
        return (users @ self._items_on_device.T).cpu().numpy()

    def _on_cpu(self, rows: np.ndarray) -> np.ndarray:
        if self._items_t is None:  # the items' side of `products`, made once
            self._items_t = right_side(self.v)
        return products(self.u[rows], self._items_t)

    def term_scores(self, rows: np.ndarray) -> np.ndarray | None:
        """The sum of the interaction terms of every item for `rows` (None without terms)."""
        terms = self.recommender.terms
        if not terms:
            return None
        if self._terms is None:  # each term reads the users once (the factor term folds them in)
            self._terms = summed([t.scorer(self.events, self.n_users) for t in terms])
        return self._terms(rows)

    def scores(self, rows: np.ndarray) -> np.ndarray:
        """The interaction score of every item for the user `rows`: what every list is ranked by."""
        extra = self.term_scores(rows)
        towers = self.towers(rows)
        return towers if extra is None else towers + extra

    def pair_scores(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The interaction score of each (user row, item row) pair, computed pair by pair."""
        out = np.sum(self.u[users] * self.v[items], axis=1)
        if self.user_times is not None:
            assert self.release is not None
            out = out + self.recommender.towers.freshness_at(
                self.user_times[users], self.release[items]
            )
        if self._pair_terms is None:  # as `term_scores`: each term reads the users once
            self._pair_terms = [
                t.pair_scorer(self.events, self.n_users) for t in self.recommender.terms
            ]
        for term in self._pair_terms:
            out = out + term(users, items)
        return out

    def scores_of(self, users: np.ndarray, items: np.ndarray, chunk: int = 1024) -> np.ndarray:
        """Each pair's score exactly as `scores` gives it (the numbers a list was ranked by),
        computed a chunk of distinct users at a time."""
        return pick_pairs(self.scores, users, items, chunk)

    def ratings(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The rating of each (user row, item row) pair: the rating head's, blended with the
        rating term when the recommender has one."""
        if self.heads is None:
            raise ValueError("these scores were made without the rating head's tables")
        towers, device = self.recommender.towers, self.recommender.device
        with torch.no_grad():
            u = torch.as_tensor(self.heads.rating_user[users], device=device)
            v = torch.as_tensor(self.heads.rating_item[items], device=device)
            head = towers.rating(u, v).cpu().numpy()
        term = self.recommender.rating_term
        state = self.rating_users()
        if term is None or state is None:
            return head
        blended = term.blended(head.astype(np.float64), state, users, items)
        return np.clip(blended, RATING_LOW, RATING_HIGH).astype(head.dtype)

    def rating_users(self) -> UserRatings | None:
        """What the rating term reads of every user (None without a term or without ratings)."""
        term = self.recommender.rating_term
        if term is None:
            return None
        ratings = None if self.heads is None else self.heads.user_ratings
        if self.rating_state is None and ratings is not None:
            self.rating_state = term.users(ratings)
        return self.rating_state

    def similar_vectors(self, texts: np.ndarray | None = None) -> np.ndarray:
        """Vectors whose dot products rank "people like you" (with the users' unit text
        profiles `texts` where the fit chose a text weight)."""
        if self.heads is None:
            raise ValueError("these scores were made without the social head's tables")
        return self.recommender.towers.social_vectors(self.heads, texts)
