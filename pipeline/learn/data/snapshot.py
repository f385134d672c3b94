"""Training data: exported from the warehouse to Parquet, read back as a `Snapshot`.

The export is a warehouse task; everything after it (training, evaluation, scoring) reads only the
Parquet folder, so it can run on a GPU worker that never opens the DuckDB file.

One folder per run date and purpose (`$RECSYS_HOME/train/<run_date>/`):
`users.parquet`, `items.parquet` (features and the text vector of the current embedding model,
null when the entity has no text), `events.parquet` (every clean event up to the end of the run
date), `friends.parquet` (undirected pairs, written once), `snapshot.json` (run date, embedding
model, counts).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.warehouse import connect, table_exists
from pipeline.embed.encoder import encoder_spec

SNAPSHOT_FILE = "snapshot.json"

USERS_SQL = """
select u.user_id, u.age_z, u.age_imputed, u.gender, u.occupation, e.embedding as text_vector
from marts.dim_users u
left join features.text_embeddings e
    on e.entity = 'user' and e.id = u.user_id and e.model_id = $model_id
order by u.user_id
"""
ITEMS_SQL = """
select i.item_id, i.title, i.category, i.price_z, i.price_imputed, i.price_clipped,
    epoch(i.release_ts) as release_s,
    -- released as of this export's run date (a backfill of an older date sees that day's catalogue)
    i.release_ts is null or i.release_ts < $run_end as is_released,
    e.embedding as text_vector
from marts.dim_items i
left join features.text_embeddings e
    on e.entity = 'item' and e.id = i.item_id and e.model_id = $model_id
order by i.item_id
"""
EVENTS_SQL = """
select user_id, item_id, epoch(event_ts) as event_s, rating
from marts.fct_interactions
where event_ts < $run_end
order by event_ts, user_id, item_id, source_file, source_row
"""
FRIENDS_SQL = """
select user_id, friend_id from marts.fct_social_edges order by user_id, friend_id
"""


def run_end(run_date: date) -> float:
    """Epoch seconds of the end of the run date (UTC): events before it belong to the run."""
    return datetime.combine(run_date + timedelta(days=1), time(), UTC).timestamp()


def snapshot_dir(settings: Settings, run_date: date) -> Path:
    return settings.home / "train" / run_date.isoformat()


def export_snapshot(settings: Settings, run_date: date, folder: Path | None = None) -> Path:
    """Write the run date's marts and text vectors to Parquet (a warehouse task); return the folder."""
    folder = folder or snapshot_dir(settings, run_date)
    folder.mkdir(parents=True, exist_ok=True)
    model_id = encoder_spec(settings).model_id()
    end = datetime.fromtimestamp(run_end(run_date), UTC)
    with connect(settings.warehouse_path, read_only=True) as con:
        for table in ("dim_users", "dim_items", "fct_interactions"):
            if not table_exists(con, "marts", table):
                raise RecsysError(f"marts.{table} is missing: run `recsys transform` first")
        if not table_exists(con, "features", "text_embeddings"):
            raise RecsysError("features.text_embeddings is missing: run `recsys embed` first")
        tables = {
            "users": con.sql(USERS_SQL, params={"model_id": model_id}).to_arrow_table(),
            "items": con.sql(
                ITEMS_SQL, params={"model_id": model_id, "run_end": end}
            ).to_arrow_table(),
            "events": con.sql(EVENTS_SQL, params={"run_end": end}).to_arrow_table(),
        }
        if table_exists(con, "marts", "fct_social_edges"):
            tables["friends"] = con.sql(FRIENDS_SQL).to_arrow_table()
    if tables["events"].num_rows == 0:
        raise RecsysError(
            "marts.fct_interactions has no events up to the run date: nothing to learn"
        )
    for name, table in tables.items():
        pq.write_table(table, folder / f"{name}.parquet")
    with_text = {
        name: int(tables[name].column("text_vector").null_count) for name in ("users", "items")
    }
    meta = {
        "run_date": run_date.isoformat(),
        "embedding_model": model_id,
        "rows": {name: table.num_rows for name, table in tables.items()},
        "without_text": with_text,
    }
    (folder / SNAPSHOT_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return folder


def _vectors(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A column of FLOAT[] or nulls -> (matrix with zero rows for nulls, has-text mask)."""
    present = column.notna().to_numpy()
    dims = {len(v) for v in column[present]}
    if len(dims) > 1:
        raise RecsysError(f"text vectors of different sizes in one snapshot: {sorted(dims)}")
    dim = dims.pop() if dims else 0
    matrix = np.zeros((len(column), dim), dtype=np.float32)
    if present.any():
        matrix[present] = np.stack(column[present].to_list()).astype(np.float32)
    return matrix, present


@dataclass
class Snapshot:
    """One run date's data, indexed: users and items by row, events and friends by those rows."""

    run_date: date
    embedding_model: str
    users: pd.DataFrame
    items: pd.DataFrame
    user_text: np.ndarray  # [users, dim], zero rows where a user has no text
    item_text: np.ndarray  # [items, dim]
    events: pd.DataFrame  # user, item (row indices), event_s, rating (NaN for implicit events)
    friends: np.ndarray  # [pairs, 2] user row indices, each undirected pair once

    @property
    def run_end(self) -> float:
        return run_end(self.run_date)

    @property
    def text_dim(self) -> int:
        return int(self.item_text.shape[1])

    @classmethod
    def load(cls, folder: Path) -> Snapshot:
        meta_path = folder / SNAPSHOT_FILE
        if not meta_path.is_file():
            raise RecsysError(f"no training snapshot in {folder}: run the export first")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        users = pq.read_table(folder / "users.parquet").to_pandas()
        items = pq.read_table(folder / "items.parquet").to_pandas()
        user_text, users["has_text"] = _vectors(users.pop("text_vector"))
        item_text, items["has_text"] = _vectors(items.pop("text_vector"))
        if user_text.shape[1] == 0:
            user_text = np.zeros((len(users), item_text.shape[1]), dtype=np.float32)
        user_row = pd.Series(np.arange(len(users)), index=users["user_id"])
        item_row = pd.Series(np.arange(len(items)), index=items["item_id"])
        raw = pq.read_table(folder / "events.parquet").to_pandas()
        events = pd.DataFrame(
            {
                "user": user_row.reindex(raw["user_id"]).to_numpy(),
                "item": item_row.reindex(raw["item_id"]).to_numpy(),
                "event_s": raw["event_s"].astype("float64").to_numpy(),
                "rating": raw["rating"].astype("float64").to_numpy(),
            }
        )
        if events[["user", "item"]].isna().any().any():
            raise RecsysError("events refer to users or items missing from the snapshot")
        events[["user", "item"]] = events[["user", "item"]].astype("int64")
        friends = np.zeros((0, 2), dtype=np.int64)
        if (folder / "friends.parquet").is_file():
            pairs = pq.read_table(folder / "friends.parquet").to_pandas()
            a = user_row.reindex(pairs["user_id"]).to_numpy()
            b = user_row.reindex(pairs["friend_id"]).to_numpy()
            keep = ~(np.isnan(a.astype(float)) | np.isnan(b.astype(float))) & (a != b)
            friends = np.stack([a[keep], b[keep]], axis=1).astype(np.int64)
        return cls(
            run_date=date.fromisoformat(meta["run_date"]),
            embedding_model=meta["embedding_model"],
            users=users,
            items=items,
            user_text=user_text,
            item_text=item_text,
            events=events,
            friends=friends,
        )

    def summary(self) -> dict[str, Any]:
        return {
            "users": len(self.users),
            "items": len(self.items),
            "events": len(self.events),
            "rated_events": int(self.events["rating"].notna().sum()),
            "friend_pairs": len(self.friends),
        }
