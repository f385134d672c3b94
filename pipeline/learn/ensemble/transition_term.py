"""The interaction score's transition term: what tends to come next after what the user took
lately, added to the towers' dot product with a weight chosen on validation.

score(u, j) += scale * sum_i h_u(i) T[i, j], with T the share of what followed item i that was
item j (`algorithms/transitions.py`) and h_u the user's history weighted 0.5 ** (position /
half-life). The towers pool a history without its order and the item-item term reads
co-occurrence, which is symmetric; this reads the order itself. On the Amazon Office validation
slice it alone ranks above EASE, ItemKNN and the text similarity of the latest item. Its half-life
and weight are chosen by the validation NDCG@10 of the sum (`scaled_search.py`), none at all
being one of the choices, so the term is only used where order says something. It scores zero on
items nothing has followed yet: new items are the towers' and the text term's.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pipeline.learn.algorithms.transitions import transition_matrix
from pipeline.learn.data.history import recency_matrix
from pipeline.learn.data.ranking import PairFn, ScoreFn
from pipeline.learn.ensemble.history_matrix import (
    csr_arrays,
    csr_of,
    history_pair_scorer,
    history_scorer,
)
from pipeline.learn.ensemble.judge import Judge
from pipeline.learn.ensemble.scaled_search import choose_scaled
from pipeline.learn.ensemble.term_alignment import follow_square
from pipeline.learn.ensemble.term_data import TermData

# the grids `choose_transition_term` searches: half-lives in positions back from the latest item
# (what the latest items are followed by: 1 reads about two of them), weights relative to the
# spread of the scores the term is added to
TRANSITION_HALF_LIVES = (1.0, 3.0, 10.0)
TRANSITION_WEIGHTS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
# history weights below this are left out: they cannot move a ranking, and a long history
# would otherwise read every row of T it ever touched
MIN_HISTORY_WEIGHT = 1e-4


@dataclass
class TransitionTerm:
    """score(u, j) += scale * sum_i h_u(i) T[i, j] (see the module's docstring)."""

    name: ClassVar[str] = "transition"
    file: ClassVar[str] = "term_transition.npz"

    half_life: float  # positions back from the user's latest item
    scale: float
    matrix: sp.csr_matrix  # items x items, T

    @classmethod
    def fitted(
        cls, events: pd.DataFrame, n_items: int, half_life: float, scale: float
    ) -> TransitionTerm:
        return cls(half_life, scale, transition_matrix(events, n_items))

    def refit(self, data: TermData) -> TransitionTerm:
        """The same choice fitted on other events (a refit on every event of the night)."""
        return replace(self, matrix=transition_matrix(data.events, data.shape[1]))

    def rescaled(self, scale: float) -> TransitionTerm:
        return replace(self, scale=scale)

    def follow(self, selection: sp.csr_matrix) -> TransitionTerm:
        """The same term over another night's items (`term_alignment.selection`)."""
        return replace(self, matrix=follow_square(selection, self.matrix))

    def describe(self) -> str:
        return f"half-life {self.half_life:g}, scale {self.scale:.4g}"

    def history(self, events: pd.DataFrame, n_users: int) -> sp.csr_matrix:
        """users x items: the recency-weighted history, times the scale, its negligible tail
        left out."""
        h = recency_matrix(
            events["user"].to_numpy(),
            events["item"].to_numpy(),
            events["event_s"].to_numpy(),
            (n_users, self.matrix.shape[0]),
            self.half_life,
        )
        h.data[h.data < MIN_HISTORY_WEIGHT] = 0.0
        h.eliminate_zeros()
        return (h * np.float32(self.scale)).tocsr()

    def scorer(self, events: pd.DataFrame, n_users: int) -> ScoreFn:
        """user rows -> the term of every item, from the users' histories in `events`."""
        return history_scorer(self.history(events, n_users), self.matrix)

    def pair_scorer(self, events: pd.DataFrame, n_users: int) -> PairFn:
        return history_pair_scorer(self.history(events, n_users), self.matrix)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        meta = np.array([self.half_life, self.scale], dtype=np.float64)
        np.savez_compressed(buffer, meta=meta, **csr_arrays(self.matrix))
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, raw: bytes) -> TransitionTerm:
        with np.load(io.BytesIO(raw)) as f:
            half_life, scale = f["meta"].tolist()
            return cls(half_life, scale, csr_of(f))


def choose_transition_term(
    judge: Judge, events: pd.DataFrame, shape: tuple[int, int], base: ScoreFn | None
) -> TransitionTerm | None:
    """The (half-life, weight) whose sum with the towers and `base` (the terms chosen before it)
    ranks the validation slice best, under the cold-item guard; None when none beats the sum
    without it, or nothing follows anything in `events`."""
    if not len(events):
        return None
    matrix = transition_matrix(events, shape[1])
    if not matrix.nnz:
        return None
    units = (TransitionTerm(h, 1.0, matrix) for h in TRANSITION_HALF_LIVES)
    return choose_scaled("transition", judge, events, shape[0], units, TRANSITION_WEIGHTS, base)
