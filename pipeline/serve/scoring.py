"""The champion scores a night, one chunk of active users at a time.

`Scorer` holds what every chunk reads (the vector tables, seen items, the released catalogue, the
social vectors), built once per process: once in-process, once per Python worker on Spark. A chunk
is always the same users (active users in row order, `chunk_size` at a time), so the in-process
path and the Spark job (`score_job.py`) score the same rows and return the same rows, bit for bit
(the products are summed in float64, `products.products`, and the towers' forward passes run on
one thread: a float32 product's last bits depend on the thread count, one in a Spark task, every
core in a process). On a GPU the products are float32 on the device: a GPU engine and a CPU one
agree to float32 precision, not to the bit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
import torch
from scipy.special import expit
from threadpoolctl import threadpool_limits

from pipeline.core.errors import RecsysError
from pipeline.learn.data.products import products, right_side
from pipeline.learn.data.ranking import chunked_top_k, seen_matrix
from pipeline.learn.data.snapshot import Snapshot
from pipeline.learn.ensemble.recommender import Recommender, Scores
from pipeline.learn.towers.feature_space import text_profiles

log = logging.getLogger(__name__)

# One chunk's rows, by row index: (kind, user, rank, item, score, because); kind "rec" is a
# recommendation (item: the recommended item), "sim" a similar user (item: that user's row).
CHUNK_SCHEMA = pa.schema(
    [
        ("kind", pa.string()),
        ("user", pa.int64()),
        ("rank", pa.int32()),
        ("item", pa.int64()),
        ("score", pa.float64()),
        ("because", pa.int64()),
    ]
)


@dataclass
class Scorer:
    recommender: Recommender
    snapshot: Snapshot
    night: Scores  # the recommender's scores of the snapshot's night
    seen: sp.csr_matrix
    active: np.ndarray  # user rows with at least one event, ascending
    released: np.ndarray
    social: np.ndarray  # the vectors whose dot products rank similar users
    social_t: np.ndarray  # their `right_side`
    top_n: int
    chunk_size: int
    rerank_by_rating: bool

    @classmethod
    def build(
        cls,
        recommender: Recommender,
        snapshot: Snapshot,
        top_n: int,
        *,
        chunk_size: int = 2048,
        rerank_by_rating: bool = False,
    ) -> Scorer:
        events = snapshot.events
        n_users, n_items = len(snapshot.users), len(snapshot.items)
        with one_thread():
            night = recommender.served(snapshot, events)
        seen = seen_matrix(events["user"].to_numpy(), events["item"].to_numpy(), (n_users, n_items))
        released = snapshot.items["is_released"].fillna(False).to_numpy(bool)
        if top_n > released.sum():
            raise RecsysError(
                f"only {int(released.sum())} items are released: cannot recommend {top_n}; "
                "lower top_n"
            )
        texts = text_profiles(snapshot, events)  # the social score's text term, where it has one
        with one_thread():
            social = night.similar_vectors(texts)
        return cls(
            recommender=recommender,
            snapshot=snapshot,
            night=night,
            seen=seen,
            active=np.flatnonzero(np.diff(seen.indptr) > 0),
            released=released,
            social=social,
            social_t=right_side(social),
            top_n=top_n,
            chunk_size=chunk_size,
            rerank_by_rating=rerank_by_rating,
        )

    @property
    def chunks(self) -> int:
        return -(-len(self.active) // self.chunk_size)

    def chunk(self, index: int) -> pa.RecordBatch:
        """Recommendations and similar users of the `index`-th chunk of active users."""
        rows = self.active[index * self.chunk_size : (index + 1) * self.chunk_size]
        rec = self._recommend(rows)
        sim = self._similar(rows)
        kinds = ["rec"] * len(rec[0]) + ["sim"] * len(sim[0])
        columns = [np.concatenate([r, s]) for r, s in zip(rec, sim, strict=True)]
        return pa.RecordBatch.from_arrays(
            [pa.array(kinds, pa.string())]
            + [pa.array(c, f.type) for c, f in zip(columns, list(CHUNK_SCHEMA)[1:], strict=True)],
            schema=CHUNK_SCHEMA,
        )

    def _recommend(self, rows: np.ndarray) -> tuple[np.ndarray, ...]:
        top_n = self.top_n
        # Re-ranking by the rating head looks deeper than top_n, then orders by rating x probability.
        depth = top_n * 5 if self.rerank_by_rating else top_n
        ((_, columns, values),) = chunked_top_k(
            self.night.scores,
            rows,
            depth,
            exclude=self.seen,
            allowed=self.released,
            chunk_size=len(rows),
        )
        if self.rerank_by_rating:
            columns, values = _rerank(self.night, rows, columns, values, top_n)
        real = np.isfinite(values).ravel()  # excluded candidates (-inf) only ever trail a row
        has_text = self.snapshot.items["has_text"].to_numpy(bool)
        because = because_items(rows, columns, self.seen, self.snapshot.item_text, has_text)
        return (
            np.repeat(rows, top_n)[real],
            np.tile(np.arange(1, top_n + 1), len(rows))[real],
            columns.ravel()[real],
            values.ravel()[real].astype(np.float64),
            because.ravel()[real],
        )

    def _similar(self, rows: np.ndarray) -> tuple[np.ndarray, ...]:
        """People with similar taste: the social head's score (its cosine, plus the text term
        where the night chose one); never the user themself."""
        s, s_t = self.social, self.social_t
        n = len(s)
        k = min(self.top_n, n - 1)
        own = sp.csr_matrix((np.ones(len(rows), bool), (rows, rows)), shape=(n, n))
        ((_, columns, values),) = chunked_top_k(
            lambda r: products(s[r], s_t), rows, k, exclude=own, chunk_size=len(rows)
        )
        return (
            np.repeat(rows, k),
            np.tile(np.arange(1, k + 1), len(rows)),
            columns.ravel(),
            values.ravel().astype(np.float64),
            np.full(len(rows) * k, -1, np.int64),
        )


@contextmanager
def one_thread() -> Iterator[None]:
    """The towers' forward passes on one thread, as a Spark task runs them: a float32 product's
    last bits depend on the thread count. It costs little: the 20k-user shop's served vectors
    took 1.2 s on one thread, 0.9-1.6 s on two."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1, "blas"):
            yield
    finally:
        torch.set_num_threads(before)


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
        similarity = products(item_text[recommended[r]], item_text[past].T)  # [k, history]
        if has_text[past].any():
            similarity[:, ~has_text[past]] = -np.inf
        out[r] = past[np.argmax(similarity, axis=1)]
    return out


def _rerank(
    night: Scores,
    rows: np.ndarray,
    columns: np.ndarray,
    values: np.ndarray,
    top_n: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Order the deeper candidate list by expected rating x interaction probability."""
    pairs_u = np.repeat(rows, columns.shape[1])
    with one_thread():  # the rating head's network, as in a Spark task
        rating = night.ratings(pairs_u, columns.ravel()).reshape(columns.shape)
    # Excluded candidates (-inf) stay last; expit never overflows.
    combined = np.where(np.isfinite(values), rating * expit(values), -np.inf)
    order = np.lexsort((columns, -combined), axis=1)[:, :top_n]
    return np.take_along_axis(columns, order, 1), np.take_along_axis(combined, order, 1)


def night_tables(
    snapshot: Snapshot, batches: Iterable[pa.RecordBatch | pa.Table]
) -> tuple[pa.Table, pa.Table]:
    """(recommendations, similar users) with ids, in (user row, rank) order, from chunk rows in
    any order (Spark's partitions finish in any order; the tables never depend on it)."""
    parts = [pa.Table.from_batches([b]) if isinstance(b, pa.RecordBatch) else b for b in batches]
    table = pa.concat_tables(parts).cast(CHUNK_SCHEMA) if parts else CHUNK_SCHEMA.empty_table()
    user_ids = snapshot.users["user_id"].to_numpy(dtype=object)
    item_ids = snapshot.items["item_id"].to_numpy(dtype=object)

    def of(kind: str) -> dict[str, np.ndarray]:
        mask = np.asarray(table["kind"].to_numpy(zero_copy_only=False) == kind)
        cols = {c: table[c].to_numpy()[mask] for c in ("user", "rank", "item", "score", "because")}
        order = np.lexsort((cols["rank"], cols["user"]))
        return {c: values[order] for c, values in cols.items()}

    rec, sim = of("rec"), of("sim")
    recommendations = pa.table(
        {
            "user_id": pa.array(user_ids[rec["user"]], pa.string()),
            "rank": pa.array(rec["rank"], pa.int32()),
            "item_id": pa.array(item_ids[rec["item"]], pa.string()),
            "score": pa.array(rec["score"], pa.float64()),
            "because_item_id": pa.array(item_ids[rec["because"]], pa.string()),
        }
    )
    similar = pa.table(
        {
            "user_id": pa.array(user_ids[sim["user"]], pa.string()),
            "rank": pa.array(sim["rank"], pa.int32()),
            "similar_user_id": pa.array(user_ids[sim["item"]], pa.string()),
            "score": pa.array(sim["score"], pa.float64()),
        }
    )
    return recommendations, similar


def night_counts(
    snapshot: Snapshot, top_n: int, recommendations: pa.Table, similar: pa.Table
) -> dict[str, Any]:
    """The scoring summary, from the snapshot and the written tables (either engine)."""
    events = snapshot.events
    n_users, n_items = len(snapshot.users), len(snapshot.items)
    seen = seen_matrix(events["user"].to_numpy(), events["item"].to_numpy(), (n_users, n_items))
    active = np.flatnonzero(np.diff(seen.indptr) > 0)
    released = snapshot.items["is_released"].fillna(False).to_numpy(bool)
    # Released items each active user has not seen yet (an event may predate a release date).
    available = released.sum() - (seen[active] @ released.astype(np.int64))
    # A user who has seen nearly everything gets fewer rows (ranks still 1..m), not a failed night.
    short = int(np.sum(np.asarray(available) < top_n))
    if short:
        log.warning("%d active users have fewer than %d unseen released items", short, top_n)
    item_row = {item: i for i, item in enumerate(snapshot.items["item_id"].tolist())}
    items = np.array([item_row[i] for i in recommendations["item_id"].to_pylist()], np.int64)
    cold = np.bincount(events["item"].to_numpy(), minlength=n_items) == 0
    return {
        "active_users": len(active),
        "recommendations": recommendations.num_rows,
        "users_with_fewer_than_top_n": short,
        "distinct_items": len(np.unique(items)),
        "cold_item_share": round(float(cold[items].mean()) if len(items) else 0.0, 4),
        "similar_users": similar.num_rows,
    }
