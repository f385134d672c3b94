"""A tiny history-based model and its inputs, for tests that need real towers on a few rows."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import torch

from pipeline.learn.data.history import history_ratings, history_rows
from pipeline.learn.data.snapshot import Snapshot
from pipeline.learn.ensemble.rating_term import RatingTerm
from pipeline.learn.ensemble.recommender import Recommender, Scores
from pipeline.learn.towers.feature_space import FeatureSpace
from pipeline.learn.towers.model import HeadTables, ModelConfig, MultiTaskModel, TowerInputs

TEXT_DIM, HISTORY_LEN = 5, 3


def tiny_model(
    events: pd.DataFrame,
    n_users: int,
    n_items: int,
    *,
    user_ids: bool = True,
    rating_history: bool = False,
) -> tuple[MultiTaskModel, TowerInputs, TowerInputs]:
    """Seeded towers (dim 4) whose users are their latest `HISTORY_LEN` items of `events` (and,
    with `rating_history`, how they rated them)."""
    torch.manual_seed(0)
    cfg = ModelConfig(
        text_dim=TEXT_DIM, n_users=n_users, n_items=n_items, n_genders=1, n_occupations=1,
        n_categories=1, dim=4, hidden=8, id_dim=3, cat_dim=2, text_proj=3, user_texts=1,
        history_len=HISTORY_LEN, user_ids=user_ids, rating_history=rating_history,
    )  # fmt: skip
    users = TowerInputs(
        ids=torch.arange(n_users),
        texts=[torch.randn(n_users, TEXT_DIM)],
        cats=torch.zeros(n_users, 2, dtype=torch.long),
        numeric=torch.randn(n_users, 4),
        history=torch.from_numpy(history_rows(events, n_users, HISTORY_LEN, pad=n_items)),
        history_ratings=torch.from_numpy(history_ratings(events, n_users, HISTORY_LEN)),
    )
    items = TowerInputs(
        ids=torch.arange(n_items),
        texts=[torch.randn(n_items, TEXT_DIM)],
        cats=torch.zeros(n_items, 1, dtype=torch.long),
        numeric=torch.randn(n_items, 4),
        release_s=torch.zeros(n_items, dtype=torch.float64),
    )
    return MultiTaskModel(cfg), users, items


def night_of(n_users: int, item_text: np.ndarray, events: pd.DataFrame) -> Snapshot:
    """A night of `n_users` users (no profile text, no friends) and as many items as `item_text`
    rows (released from the start), holding `events`."""
    n_items = len(item_text)
    return Snapshot(
        run_date=date(2026, 1, 1),
        embedding_model="test",
        users=pd.DataFrame({"user_id": [f"u{i}" for i in range(n_users)]}),
        items=pd.DataFrame({"item_id": [f"i{i}" for i in range(n_items)], "release_s": 0.0}),
        user_text=np.zeros((n_users, item_text.shape[1]), np.float32),
        item_text=item_text,
        events=events,
        friends=np.zeros((0, 2), np.int64),
    )


def bare(model: MultiTaskModel, **terms: object) -> Recommender:
    """`model` as a recommender with an empty feature space (and the given term fields)."""
    return Recommender(model, FeatureSpace([], [], [], [], [], "m"), **terms)  # type: ignore[arg-type]


def head_ratings(
    model: MultiTaskModel,
    heads: HeadTables,
    users: np.ndarray,
    items: np.ndarray,
    term: RatingTerm | None = None,
) -> np.ndarray:
    """The contract's ratings (`Scores.ratings`) of `model` (and `term`) over `heads`."""
    empty = np.zeros((0, 0), np.float32)
    night = Scores(bare(model, rating_term=term), empty, empty, pd.DataFrame(), heads=heads)
    return night.ratings(users, items)
