"""The interaction score's text term: how much each item's text reads like what the user took
lately, added to the towers' dot product with a weight chosen on validation.

score(u, j) += scale * p_u . t_j, with t_j item j's unit text vector and p_u the unit sum of the
text vectors of the user's history weighted 0.5 ** (position / half-life): the `content_recent`
baseline as a term. The towers read text through a learned projection pooled over the whole
history; this reads the frozen vectors of the latest items directly, which is where text says
most (on a real Office catalogue the last product's title alone ranks above EASE). It scores
every item with text, new ones included, with no retraining of anything. Its half-life and weight
are chosen by the validation NDCG@10 of the sum (`choose_text_term`), none at all being one of
the choices, so the term is only used where it helps.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pipeline.learn.data.history import recency_matrix
from pipeline.learn.data.products import products, right_side
from pipeline.learn.data.ranking import PairFn, ScoreFn
from pipeline.learn.ensemble.judge import Judge
from pipeline.learn.ensemble.scaled_search import choose_scaled
from pipeline.learn.ensemble.term_alignment import follow_rows
from pipeline.learn.ensemble.term_data import TermData

# the grids `choose_text_term` searches: half-lives in positions back from the latest item (0.01:
# the latest item alone), weights relative to the spread of the scores the term is added to
TEXT_HALF_LIVES = (0.01, 1.0, 3.0, 10.0, 30.0)
TEXT_WEIGHTS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to length one (zero rows, items without text, stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def kept(vectors: np.ndarray) -> np.ndarray:
    """Unit text vectors as the term keeps them: in half precision (a bundle half the size; a
    ranking sees nothing of it), so the fitted term and the loaded one score the same."""
    return unit_rows(vectors).astype(np.float16).astype(np.float32)


def text_profiles(
    events: pd.DataFrame, n_users: int, vectors: np.ndarray, half_life: float
) -> np.ndarray:
    """users x dim: each user's unit recency-weighted sum of the text `vectors` of their history
    in `events` (zero for a user without history or whose items have no text)."""
    weights = recency_matrix(
        events["user"].to_numpy(),
        events["item"].to_numpy(),
        events["event_s"].to_numpy(),
        (n_users, len(vectors)),
        half_life,
    )
    return unit_rows(np.asarray(weights.astype(np.float32) @ vectors))  # users x dim: float32


@dataclass
class TextTerm:
    """score(u, j) += scale * p_u . t_j (see the module's docstring)."""

    name: ClassVar[str] = "text"
    file: ClassVar[str] = "term_text.npz"

    half_life: float
    scale: float
    vectors: np.ndarray  # items x dim, unit text vectors (zero: no text)

    @classmethod
    def of(cls, texts: np.ndarray | None, half_life: float, scale: float) -> TextTerm | None:
        """None when no item has text: there is nothing for the term to read."""
        if texts is None or not np.any(texts):
            return None
        return cls(half_life, scale, kept(texts))

    def refit(self, data: TermData) -> TextTerm:
        """The same choice over another fit's items (text vectors are not fitted: read again)."""
        return self.reading(data.texts if data.texts is not None else np.zeros_like(self.vectors))

    def reading(self, texts: np.ndarray) -> TextTerm:
        """The same term over the items of `texts` (a night's item text vectors, in its order)."""
        return replace(self, vectors=kept(texts))

    def rescaled(self, scale: float) -> TextTerm:
        return replace(self, scale=scale)

    def follow(self, selection: sp.csr_matrix) -> TextTerm:
        """Over another night's items by id (zero for an item it never read, until the night's
        texts are read: `Recommender.read_texts`)."""
        return replace(self, vectors=follow_rows(selection, self.vectors))

    def describe(self) -> str:
        return f"half-life {self.half_life:g}, scale {self.scale:.4g}"

    def profiles(self, events: pd.DataFrame, n_users: int) -> np.ndarray:
        return text_profiles(events, n_users, self.vectors, self.half_life)

    def scorer(self, events: pd.DataFrame, n_users: int) -> ScoreFn:
        """user rows -> the term of every item, from the users' histories in `events`."""
        p = self.profiles(events, n_users) * np.float32(self.scale)
        vectors_t = right_side(self.vectors)
        return lambda rows: products(p[rows], vectors_t)

    def pair_scorer(self, events: pd.DataFrame, n_users: int) -> PairFn:
        p = self.profiles(events, n_users) * np.float32(self.scale)
        return lambda users, items: np.sum(p[users] * self.vectors[items], axis=1)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        vectors = self.vectors.astype(np.float16)  # exactly: `kept` made them so
        np.savez_compressed(buffer, meta=np.array([self.half_life, self.scale]), vectors=vectors)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, raw: bytes) -> TextTerm:
        with np.load(io.BytesIO(raw)) as f:
            half_life, scale = f["meta"].tolist()
            return cls(half_life, scale, f["vectors"].astype(np.float32))


def choose_text_term(
    judge: Judge,
    events: pd.DataFrame,
    n_users: int,
    texts: np.ndarray | None,
    base: ScoreFn | None,
) -> TextTerm | None:
    """The (half-life, weight) whose sum with the towers and `base` (the terms chosen before it)
    ranks the validation slice best, under the cold-item guard (`scaled_search.py`); None when
    none beats the sum without it, or no item has text."""
    unit = TextTerm.of(texts, TEXT_HALF_LIVES[0], 1.0)
    if unit is None or not len(events):
        return None
    units = (TextTerm(h, 1.0, unit.vectors) for h in TEXT_HALF_LIVES)
    return choose_scaled("text", judge, events, n_users, units, TEXT_WEIGHTS, base)
