"""The recommender as files: weights, configuration, vocabularies, its score terms, and the night
it was trained on (vector tables and history).

MLflow stores the bundle as the artifact of a pyfunc model (`RecsysPyfunc`): the pyfunc scores
that night from these files exactly as `recommend` scored it (`saved_night`); `recommend` loads
the recommender to encode *its* night's users and items with the same weights and vocabularies.
Format 2 (`FORMAT`); what older formats need to load is in `compat.py`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from pipeline.learn.data.snapshot import Snapshot
from pipeline.learn.ensemble.compat import (
    empty_events,
    legacy_history,
    legacy_rating_vectors,
    legacy_term_file,
    legacy_weights,
)
from pipeline.learn.ensemble.rating_term import UserRatings
from pipeline.learn.ensemble.recommender import TERM_TYPES, Recommender, Scores
from pipeline.learn.towers.feature_space import FeatureSpace
from pipeline.learn.towers.model import HeadTables, ModelConfig, MultiTaskModel

FORMAT = 2
META_FILE = "bundle.json"
WEIGHTS_FILE = "weights.pt"
USERS_FILE, ITEMS_FILE = "users.parquet", "items.parquet"
# the night's events the terms read each user from (user and item rows of the tables above)
HISTORY_FILE = "history.parquet"
# what the rating term reads of the night's users, when it has one
RATING_USERS_FILE = "rating_users.npz"


def save_bundle(rec: Recommender, folder: Path, snapshot: Snapshot) -> Path:
    """The recommender (`save_model`) and the night of `snapshot` it serves: its users' and
    items' vector tables, the users' history and what the rating term reads of them."""
    save_model(rec, folder)
    night = rec.served(snapshot, snapshot.events, social=False)
    assert night.heads is not None
    rating_users = folder / RATING_USERS_FILE
    rating_users.unlink(missing_ok=True)
    state = night.rating_users()
    if rec.rating_term is not None and state is not None:
        rating_users.write_bytes(state.to_bytes())
    elif rec.rating_term is not None:  # the served pyfunc reads the term only with the users'
        (folder / rec.rating_term.file).unlink(missing_ok=True)
    users, items = snapshot.users["user_id"], snapshot.items["item_id"]
    _write_vectors(folder / USERS_FILE, "user_id", users, night.u, night.heads.rating_user)
    _write_vectors(folder / ITEMS_FILE, "item_id", items, night.v, night.heads.rating_item)
    events = snapshot.events
    history = pa.table(
        {
            "user": pa.array(events["user"].to_numpy(np.int64)),
            "item": pa.array(events["item"].to_numpy(np.int64)),
            "event_s": pa.array(events["event_s"].to_numpy(np.float64)),
            "rating": pa.array(events["rating"].to_numpy(np.float64)),
        }
    )
    pq.write_table(history, folder / HISTORY_FILE)
    return folder


def save_model(rec: Recommender, folder: Path) -> Path:
    """Weights, configuration, vocabularies and the score terms: what `load_bundle` reads."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(rec.towers.state_dict(), folder / WEIGHTS_FILE)
    meta = {
        "format": FORMAT,
        "model": rec.towers.cfg.to_dict(),
        "space": asdict(rec.space),
        "trained_on": None if rec.trained_on is None else rec.trained_on.isoformat(),
        "terms": [t.name for t in rec.all_terms()],
    }
    (folder / META_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    chosen = {t.name: t for t in rec.all_terms()}
    for kind in TERM_TYPES:
        path = folder / kind.file
        if kind.name in chosen:
            path.write_bytes(chosen[kind.name].to_bytes())
        else:
            path.unlink(missing_ok=True)
    return folder


def bundle_format(folder: Path) -> int:
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    return int(meta.get("format", 1))


def load_bundle(folder: Path, device: str = "cpu") -> Recommender:
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    fmt = int(meta.get("format", 1))
    towers = MultiTaskModel(ModelConfig(**meta["model"]))
    # tensors only: a weights file that asks to run code is refused, not executed
    state = torch.load(folder / WEIGHTS_FILE, map_location=device, weights_only=True)
    towers.load_state_dict(legacy_weights(state))
    towers.to(device).eval()
    terms = []
    for kind in TERM_TYPES:  # a term the night did not choose has no file
        path = folder / legacy_term_file(fmt, kind.name, kind.file)
        if path.exists():
            terms.append(kind.from_bytes(path.read_bytes()))
    items = folder / ITEMS_FILE  # a served bundle's night: what its terms are over
    rec = Recommender(
        towers=towers,
        space=FeatureSpace(**meta["space"]),
        trained_on=date.fromisoformat(meta["trained_on"]) if meta.get("trained_on") else None,
        term_items=_ids(pq.read_table(items, columns=["item_id"]), "item_id")
        if items.exists()
        else None,
        source=folder,
    )
    rec.set_terms(terms)
    return rec


def saved_night(rec: Recommender, folder: Path) -> tuple[list[str], list[str], Scores]:
    """(user ids, item ids, the scores of the night the bundle was saved with), from its files
    alone: the same tables and history `recommend` scored that night with."""
    users, items = pq.read_table(folder / USERS_FILE), pq.read_table(folder / ITEMS_FILE)
    user_ids, item_ids = _ids(users, "user_id"), _ids(items, "item_id")
    u, rating_user = _vectors(users, "vector"), _vectors(users, "rating_vector")
    v, rating_item = _vectors(items, "vector"), _vectors(items, "rating_vector")
    state = folder / RATING_USERS_FILE
    heads = HeadTables(
        rating_user=rating_user,
        rating_item=rating_item,
        social_user=np.zeros((0, rec.towers.cfg.dim), np.float32),
    )
    rating_state = UserRatings.from_bytes(state.read_bytes()) if state.exists() else None
    path = folder / HISTORY_FILE
    if path.exists():
        history = pq.read_table(path).to_pandas()
    else:
        legacy_history(bundle_format(folder))
        history = pd.DataFrame(empty_events())
    return user_ids, item_ids, Scores(rec, u, v, history, heads=heads, rating_state=rating_state)


def _write_vectors(
    path: Path, key: str, ids: pd.Series, vectors: np.ndarray, rating: np.ndarray
) -> None:
    """One row per entity: its interaction vector and the rating head's vector."""

    def column(matrix: np.ndarray) -> pa.Array:
        flat = pa.array(matrix.reshape(-1), pa.float32())
        return pa.FixedSizeListArray.from_arrays(flat, matrix.shape[1])

    table = pa.table(
        {
            key: pa.array(ids.astype(str).tolist(), pa.string()),
            "vector": column(vectors),
            "rating_vector": column(rating),
        }
    )
    pq.write_table(table, path)


def read_vectors(path: Path, key: str, column: str = "vector") -> tuple[list[str], np.ndarray]:
    """(ids, one vector column) of a vector table file."""
    table = pq.read_table(path)
    return _ids(table, key), _vectors(table, column)


def _ids(table: pa.Table, key: str) -> list[str]:
    return table.column(key).to_pylist()


def _vectors(table: pa.Table, column: str) -> np.ndarray:
    name, drop_last = legacy_rating_vectors(table, column)
    flat = table.column(name).combine_chunks().flatten().to_numpy()
    vectors = flat.reshape(table.num_rows, -1) if table.num_rows else np.zeros((0, 0), np.float32)
    return vectors[:, :-1] if drop_last else vectors
