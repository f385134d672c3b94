"""Vocabularies learned at training time, and the encoding of any night's snapshot into tensors.

The same `FeatureSpace` travels with the registered model, so a model trained on an earlier night
encodes tonight's users and items: ids it never saw become 0 (unknown) and are scored from their
text and features, as the model learned to do with id dropout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from pipeline.learn.data.history import latest_history, rating_matrix, recency_matrix
from pipeline.learn.data.snapshot import Snapshot
from pipeline.learn.towers.model import ITEM_NUMERIC, USER_NUMERIC, TowerInputs


def _vocab(values: pd.Series) -> list[str]:
    return sorted({str(v) for v in values.dropna()})


def _codes(values: pd.Series, vocab: list[str]) -> np.ndarray:
    index = {v: i + 1 for i, v in enumerate(vocab)}
    return np.array([index.get(str(v), 0) if pd.notna(v) else 0 for v in values], dtype=np.int64)


def history_text(
    snapshot: Snapshot, events: pd.DataFrame, half_life: float = math.inf
) -> tuple[np.ndarray, np.ndarray]:
    """Per user, the normalised mean text vector of the items in `events` (their history), each
    item once; with a finite `half_life` weighted by recency (`recency_matrix`: the latest items
    count most)."""
    n = len(snapshot.users)
    if math.isfinite(half_life):
        weights = recency_matrix(
            events["user"].to_numpy(),
            events["item"].to_numpy(),
            events["event_s"].to_numpy(),
            (n, len(snapshot.items)),
            half_life,
        )
        sums = np.asarray(weights @ snapshot.item_text.astype(np.float64))
    else:
        # each item once: a binary users x items matrix (np.add.at is ten times slower)
        pairs = events[["user", "item"]].drop_duplicates()
        taken = sp.csr_matrix(
            (np.ones(len(pairs)), (pairs["user"].to_numpy(), pairs["item"].to_numpy())),
            shape=(n, len(snapshot.items)),
        )
        sums = np.asarray(taken @ snapshot.item_text.astype(np.float64))
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    has = norms[:, 0] > 0
    out = np.zeros_like(sums, dtype=np.float32)
    out[has] = (sums[has] / norms[has]).astype(np.float32)
    return out, has


def text_profiles(snapshot: Snapshot, events: pd.DataFrame) -> np.ndarray:
    """Per user, a unit text vector: their profile text, else the mean text of their items in
    `events`, else zeros (what the `content` baseline and the social text term compare)."""
    profiles, _ = history_text(snapshot, events)
    has_text = snapshot.users["has_text"].to_numpy(dtype=bool)
    who = np.where(has_text[:, None], snapshot.user_text, profiles).astype(np.float32)
    norms = np.linalg.norm(who, axis=1, keepdims=True)
    return np.divide(who, norms, out=np.zeros_like(who), where=norms > 0)


@dataclass
class FeatureSpace:
    user_ids: list[str]
    item_ids: list[str]
    genders: list[str]
    occupations: list[str]
    categories: list[str]
    embedding_model: str
    # > 0: users also get their recent-history text vector (half-life in positions back from
    # their latest item); 0, as in bundles written before it existed: not
    recent_half_life: float = 0.0
    # > 0: users also carry the rows of their latest items, for the history encoder; 0, as in
    # bundles written before it existed: not
    history_len: int = 0

    @classmethod
    def fit(
        cls,
        snapshot: Snapshot,
        events: pd.DataFrame,
        *,
        recent_half_life: float = 0.0,
        history_len: int = 0,
    ) -> FeatureSpace:
        """Ids known to the model are those with events in the training data."""
        users, items = snapshot.users, snapshot.items
        return cls(
            user_ids=sorted(users["user_id"].iloc[np.unique(events["user"])].tolist()),
            item_ids=sorted(items["item_id"].iloc[np.unique(events["item"])].tolist()),
            genders=_vocab(users["gender"]),
            occupations=_vocab(users["occupation"]),
            categories=_vocab(items["category"]),
            embedding_model=snapshot.embedding_model,
            recent_half_life=recent_half_life,
            history_len=history_len,
        )

    def sizes(self) -> dict[str, int]:
        return {
            "n_users": len(self.user_ids),
            "n_items": len(self.item_ids),
            "n_genders": len(self.genders),
            "n_occupations": len(self.occupations),
            "n_categories": len(self.categories),
        }

    def _history_texts(
        self, snapshot: Snapshot, history: pd.DataFrame, mean_text: np.ndarray
    ) -> list[torch.Tensor]:
        """The users' history as text vectors: their mean item text (and the recency-weighted
        one). None with a history encoder: it reads the items themselves, text included, and
        a mean over the whole history would tell a training cut its own future."""
        if self.history_len > 0:
            return []
        texts = [torch.from_numpy(mean_text)]
        if self.recent_half_life > 0:
            texts.append(
                torch.from_numpy(history_text(snapshot, history, self.recent_half_life)[0])
            )
        return texts

    def encode(self, snapshot: Snapshot, history: pd.DataFrame) -> tuple[TowerInputs, TowerInputs]:
        """Tensors for every user and item of the snapshot; `history` gives each user's past items."""
        users, items = snapshot.users, snapshot.items
        hist, has_hist = history_text(snapshot, history)
        rows, ratings = (
            latest_history(history, len(users), self.history_len, pad=len(items))
            if self.history_len > 0
            else (None, None)
        )
        user_numeric = pd.DataFrame(
            {
                "age_z": users["age_z"].astype("float64").fillna(0.0),
                "age_imputed": users["age_imputed"].astype("float64").fillna(1.0),
                "has_profile": users["has_text"].astype("float64"),
                "has_history": has_hist.astype("float64"),
            }
        )[list(USER_NUMERIC)]
        item_numeric = pd.DataFrame(
            {
                "price_z": items["price_z"].astype("float64").fillna(0.0),
                "price_imputed": items["price_imputed"].astype("float64").fillna(1.0),
                "price_clipped": items["price_clipped"].astype("float64").fillna(0.0),
                "has_text": items["has_text"].astype("float64"),
            }
        )[list(ITEM_NUMERIC)]
        user_features = TowerInputs(
            ids=torch.from_numpy(_codes(users["user_id"], self.user_ids)),
            texts=[
                torch.from_numpy(snapshot.user_text),
                *self._history_texts(snapshot, history, hist),
            ],
            cats=torch.from_numpy(
                np.stack(
                    [
                        _codes(users["gender"], self.genders),
                        _codes(users["occupation"], self.occupations),
                    ],
                    axis=1,
                )
            ),
            numeric=torch.from_numpy(user_numeric.to_numpy(np.float32)),
            history=None if rows is None else torch.from_numpy(rows),
            history_ratings=None if ratings is None else torch.from_numpy(ratings),
            ratings=rating_matrix(history, (len(users), len(items))),
        )
        item_features = TowerInputs(
            ids=torch.from_numpy(_codes(items["item_id"], self.item_ids)),
            texts=[torch.from_numpy(snapshot.item_text)],
            cats=torch.from_numpy(_codes(items["category"], self.categories)[:, None]),
            numeric=torch.from_numpy(item_numeric.to_numpy(np.float32)),
            release_s=torch.from_numpy(items["release_s"].astype("float64").to_numpy()),
        )
        return user_features, item_features
