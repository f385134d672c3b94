"""`recsys recommend`: the champion scores every active user against the catalogue.

Three steps, so the scoring can run on a GPU worker that never opens the warehouse:
1. export (warehouse): tonight's marts and text vectors -> Parquet (the training export's format);
2. score (Parquet in, Parquet out): vector tables from the champion, chunked matrix products and a
   top-k per chunk (memory bounded by the chunk), seen items excluded, ties broken by item id; the
   explaining item; similar users from the social head;
3. write (warehouse): one transaction per run date replaces that date's rows and drops rows older
   than the retention window. A crash at any point leaves the previous state.
"""

from __future__ import annotations

import logging
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.special import expit
from tqdm import tqdm

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.warehouse import connect, ensure_schemas, transaction
from pipeline.learn.bundle import Bundle
from pipeline.learn.feature_space import text_profiles
from pipeline.learn.model import HeadTables
from pipeline.learn.paths import interaction_paths, with_paths
from pipeline.learn.scoring import chunked_top_k, seen_matrix
from pipeline.learn.snapshot import Snapshot, export_snapshot
from pipeline.train.registry import load_champion

log = logging.getLogger(__name__)

RECOMMENDATIONS_DDL = """
create table if not exists marts.recommendations (
    run_date date not null,
    user_id varchar not null,
    rank integer not null,
    item_id varchar not null,
    score double not null,
    model_version varchar not null,
    because_item_id varchar,
    primary key (run_date, user_id, rank)
)
"""
SIMILAR_USERS_DDL = """
create table if not exists marts.similar_users (
    run_date date not null,
    user_id varchar not null,
    rank integer not null,
    similar_user_id varchar not null,
    score double not null,
    primary key (run_date, user_id, rank)
)
"""


def score_dir(settings: Settings, run_date: date) -> Path:
    return settings.home / "score" / run_date.isoformat()


def export_scoring_data(settings: Settings, run_date: date) -> Path:
    """Step 1 (warehouse task)."""
    return export_snapshot(settings, run_date, score_dir(settings, run_date) / "input")


def because_items(
    users: np.ndarray,
    recommended: np.ndarray,
    history: Any,
    item_text: np.ndarray,
    has_text: np.ndarray,
) -> np.ndarray:
    """For each user's recommended items, the user's past item nearest in text space (ties:
    the lower item row, i.e. the smaller item id). Past items without text only explain when
    no past item has text."""
    out = np.empty_like(recommended)
    for r, user in enumerate(users.tolist()):
        past = np.sort(history.indices[history.indptr[user] : history.indptr[user + 1]])
        similarity = item_text[recommended[r]] @ item_text[past].T  # [k, history]
        if has_text[past].any():
            similarity[:, ~has_text[past]] = -np.inf
        out[r] = past[np.argmax(similarity, axis=1)]
    return out


def score(
    bundle: Bundle,
    snapshot: Snapshot,
    top_n: int,
    *,
    chunk_size: int = 2048,
    rerank_by_rating: bool = False,
    progress: bool = True,
) -> tuple[pa.Table, pa.Table, dict[str, Any]]:
    """Step 2: (recommendations, similar users, counts) for every active user of `snapshot`."""
    events = snapshot.events
    n_users, n_items = len(snapshot.users), len(snapshot.items)
    u, v, heads = bundle.tables(snapshot, events)
    seen = seen_matrix(events["user"].to_numpy(), events["item"].to_numpy(), (n_users, n_items))
    active = np.flatnonzero(np.diff(seen.indptr) > 0)
    released = snapshot.items["is_released"].fillna(False).to_numpy(bool)
    has_text = snapshot.items["has_text"].to_numpy(bool)
    # Released items each active user has not seen yet (an event may predate a release date).
    available = released.sum() - (seen[active] @ released.astype(np.int64)) if len(active) else []
    if top_n > released.sum():
        raise RecsysError(
            f"only {int(released.sum())} items are released: cannot recommend {top_n}; lower top_n"
        )
    # A user who has seen nearly everything gets fewer rows (ranks still 1..m), not a failed night.
    short = int(np.sum(np.asarray(available) < top_n)) if len(active) else 0
    if short:
        log.warning("%d active users have fewer than %d unseen released items", short, top_n)
    # Re-ranking by the rating head looks deeper than top_n, then orders by rating x probability.
    depth = top_n * 5 if rerank_by_rating else top_n
    rec_users, rec_ranks, rec_items, rec_scores, rec_because = [], [], [], [], []
    bar = tqdm(total=len(active), desc="recommend", unit="user", disable=not progress, leave=False)
    paths = interaction_paths(bundle.model)
    scores = with_paths(paths, lambda r: u[r] @ v.T, events, n_users)
    for rows, columns, values in chunked_top_k(
        scores, active, depth, exclude=seen, allowed=released, chunk_size=chunk_size
    ):
        if rerank_by_rating:
            columns, values = _rerank(bundle, heads, rows, columns, values, top_n)
        real = np.isfinite(values).ravel()  # excluded candidates (-inf) only ever trail a row
        rec_users.append(np.repeat(rows, top_n)[real])
        rec_ranks.append(np.tile(np.arange(1, top_n + 1), len(rows))[real])
        rec_items.append(columns.ravel()[real])
        rec_scores.append(values.ravel()[real])
        because = because_items(rows, columns, seen, snapshot.item_text, has_text)
        rec_because.append(because.ravel()[real])
        bar.update(len(rows))
    bar.close()
    users_col = np.concatenate(rec_users) if rec_users else np.zeros(0, np.int64)
    items_col = np.concatenate(rec_items) if rec_items else np.zeros(0, np.int64)
    user_ids = snapshot.users["user_id"].to_numpy(dtype=object)
    item_ids = snapshot.items["item_id"].to_numpy(dtype=object)
    recommendations = pa.table(
        {
            "user_id": pa.array(user_ids[users_col], pa.string()),
            "rank": pa.array(np.concatenate(rec_ranks) if rec_ranks else [], pa.int32()),
            "item_id": pa.array(item_ids[items_col], pa.string()),
            "score": pa.array(np.concatenate(rec_scores) if rec_scores else [], pa.float64()),
            "because_item_id": pa.array(
                item_ids[np.concatenate(rec_because)] if rec_because else [], pa.string()
            ),
        }
    )
    texts = text_profiles(snapshot, events)  # the social score's text term, where it has one
    similar = similar_users(bundle, heads, texts, active, user_ids, top_n, chunk_size)
    cold = np.bincount(events["item"].to_numpy(), minlength=n_items) == 0
    counts = {
        "active_users": len(active),
        "recommendations": recommendations.num_rows,
        "users_with_fewer_than_top_n": short,
        "distinct_items": len(np.unique(items_col)),
        "cold_item_share": round(float(cold[items_col].mean()) if len(items_col) else 0.0, 4),
        "similar_users": similar.num_rows,
    }
    return recommendations, similar, counts


def _rerank(
    bundle: Bundle,
    heads: HeadTables,
    rows: np.ndarray,
    columns: np.ndarray,
    values: np.ndarray,
    top_n: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Order the deeper candidate list by expected rating x interaction probability."""
    pairs_u = np.repeat(rows, columns.shape[1])
    rating = bundle.model.predict_ratings(heads, pairs_u, columns.ravel()).reshape(columns.shape)
    # Excluded candidates (-inf) stay last; expit never overflows.
    combined = np.where(np.isfinite(values), rating * expit(values), -np.inf)
    order = np.lexsort((columns, -combined), axis=1)[:, :top_n]
    return np.take_along_axis(columns, order, 1), np.take_along_axis(combined, order, 1)


def similar_users(
    bundle: Bundle,
    heads: HeadTables,
    texts: np.ndarray,
    active: np.ndarray,
    user_ids: np.ndarray,
    top_n: int,
    chunk_size: int,
) -> pa.Table:
    """People with similar taste: the social head's score (its cosine, plus the text term where
    the night chose one); never the user themself."""
    s = bundle.model.social_vectors(heads, texts)
    n = len(s)
    k = min(top_n, n - 1)
    own = seen_matrix(np.arange(n), np.arange(n), (n, n))
    parts_u, parts_s, parts_v = [], [], []
    for rows, columns, values in chunked_top_k(
        lambda r: s[r] @ s.T, active, k, exclude=own, chunk_size=chunk_size
    ):
        parts_u.append(np.repeat(rows, k))
        parts_s.append(columns.ravel())
        parts_v.append(values.ravel())
    users_col = np.concatenate(parts_u) if parts_u else np.zeros(0, np.int64)
    return pa.table(
        {
            "user_id": pa.array(user_ids[users_col], pa.string()),
            "rank": pa.array(np.tile(np.arange(1, k + 1), len(active)), pa.int32()),
            "similar_user_id": pa.array(
                user_ids[np.concatenate(parts_s)] if parts_s else [], pa.string()
            ),
            "score": pa.array(np.concatenate(parts_v) if parts_v else [], pa.float64()),
        }
    )


def score_night(
    settings: Settings, run_date: date, top_n: int, bundle: Bundle, folder: Path | None = None
) -> dict[str, Any]:
    """Step 2 from Parquet to Parquet (the part that may run on a GPU worker)."""
    folder = folder or score_dir(settings, run_date)
    snapshot = Snapshot.load(folder / "input")
    recommendations, similar, counts = score(
        bundle,
        snapshot,
        top_n,
        chunk_size=settings.recommend.chunk_users,
        rerank_by_rating=settings.recommend.rerank_by_rating,
    )
    pq.write_table(recommendations, folder / "recommendations.parquet")
    pq.write_table(similar, folder / "similar_users.parquet")
    return counts


def write_night(
    settings: Settings, run_date: date, model_version: str, folder: Path | None = None
) -> dict[str, int]:
    """Step 3 (warehouse task): replace the run date's rows in one transaction."""
    folder = folder or score_dir(settings, run_date)
    recommendations = pq.read_table(folder / "recommendations.parquet")
    similar = pq.read_table(folder / "similar_users.parquet")
    oldest = run_date - timedelta(days=settings.recommend.retention_days)
    with connect(settings.warehouse_path) as con:
        ensure_schemas(con)
        con.execute(RECOMMENDATIONS_DDL)
        con.execute(SIMILAR_USERS_DDL)
        with transaction(con):
            con.register("new_recommendations", recommendations)
            con.register("new_similar", similar)
            con.execute(
                "delete from marts.recommendations where run_date = $day", {"day": run_date}
            )
            con.execute(
                """
                insert into marts.recommendations
                select $day, user_id, rank, item_id, score, $version, because_item_id
                from new_recommendations
                """,
                {"day": run_date, "version": model_version},
            )
            insert_similar_users(con, run_date)
            removed = con.execute(
                "delete from marts.recommendations where run_date < $oldest", {"oldest": oldest}
            ).fetchall()
            con.execute(
                "delete from marts.similar_users where run_date < $oldest", {"oldest": oldest}
            )
    return {
        "rows_written": recommendations.num_rows,
        "similar_rows_written": similar.num_rows,
        "rows_expired": int(removed[0][0]) if removed else 0,
    }


def insert_similar_users(con: Any, run_date: date) -> None:
    con.execute("delete from marts.similar_users where run_date = $day", {"day": run_date})
    con.execute(
        """
        insert into marts.similar_users
        select $day, user_id, rank, similar_user_id, score from new_similar
        """,
        {"day": run_date},
    )


def score_with_champion(
    settings: Settings, run_date: date, top_n: int | None = None
) -> dict[str, Any]:
    """Step 2 with the model: load `@champion`, score the exported night; counts and version."""
    top_n = top_n or settings.top_n
    bundle, version = load_champion(settings)
    counts = score_night(settings, run_date, top_n, bundle)
    return {"model_version": str(version.version), "top_n": top_n, **counts}


def recommend(settings: Settings, run_date: date, top_n: int | None = None) -> dict[str, Any]:
    """The whole stage in one process: export, score with the champion, write."""
    started = time.perf_counter()
    export_scoring_data(settings, run_date)
    scored = score_with_champion(settings, run_date, top_n)
    written = write_night(settings, run_date, scored["model_version"])
    return {
        "stage": "recommend",
        "run_date": run_date.isoformat(),
        "status": "ok",
        **scored,
        **written,
        "seconds": round(time.perf_counter() - started, 1),
    }
