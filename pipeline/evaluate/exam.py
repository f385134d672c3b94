"""The nightly exam: a temporal holdout, the model and the baselines scored on it the same way.

Events in the last `holdout_days` before the end of the run date are the holdout; everything earlier
trains. Ranking metrics are over the full released catalogue with each user's training items
excluded; a user is evaluable when they have a holdout item they had not seen in training. Cold
items are items with no training events; `cold_recall_at_10` counts only holdout events on them.
Friend pairs carry no useful time order: a seeded random share of them is held out instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pipeline.evaluate import baselines
from pipeline.learn.feature_space import history_text
from pipeline.learn.fit import Fitted, both_directions
from pipeline.learn.model import SECONDS_PER_DAY
from pipeline.learn.scoring import ScoreFn, ranked_lists, seen_matrix
from pipeline.learn.snapshot import Snapshot
from pipeline.metrics.functions import (
    auc,
    coverage_at_k,
    hit_rate_at_k,
    mae,
    map_at_k,
    ndcg_at_k,
    recall_at_k,
    rmse,
)

log = logging.getLogger(__name__)

K = 10


@dataclass
class Split:
    train: pd.DataFrame
    holdout: pd.DataFrame
    cutoff_s: float
    friends_train: np.ndarray
    friends_holdout: np.ndarray

    def summary(self) -> dict[str, int]:
        return {
            "train_events": len(self.train),
            "holdout_events": len(self.holdout),
            "train_friend_pairs": len(self.friends_train),
            "holdout_friend_pairs": len(self.friends_holdout),
        }


def temporal_split(
    snapshot: Snapshot, holdout_days: int, *, social_holdout: float = 0.1, seed: int = 42
) -> Split:
    cutoff = snapshot.run_end - holdout_days * SECONDS_PER_DAY
    events = snapshot.events
    late = events["event_s"].to_numpy() >= cutoff
    rng = np.random.default_rng(seed)
    held = rng.random(len(snapshot.friends)) < social_holdout
    return Split(
        train=events[~late].reset_index(drop=True),
        holdout=events[late].reset_index(drop=True),
        cutoff_s=cutoff,
        friends_train=snapshot.friends[~held],
        friends_holdout=snapshot.friends[held],
    )


def validation_slice(events: pd.DataFrame, days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The last `days` of the training events validate (early stopping), the rest fit: the same
    shape of question as the holdout, one period earlier."""
    if events.empty:
        return events, events
    start = float(events["event_s"].max()) - days * SECONDS_PER_DAY
    late = events["event_s"].to_numpy() >= start
    return events[~late].reset_index(drop=True), events[late].reset_index(drop=True)


def validation_split(split: Split, days: int) -> Split:
    """The last `days` of the training period as a split of its own, one period before the
    holdout: what the baselines' hyper-parameters (and the model's epochs) are chosen on."""
    fit_events, val_events = validation_slice(split.train, days)
    return Split(
        train=fit_events,
        holdout=val_events,
        cutoff_s=split.cutoff_s - days * SECONDS_PER_DAY,
        friends_train=split.friends_train,
        friends_holdout=split.friends_holdout[:0],
    )


@dataclass
class Exam:
    """What a split asks of every ranker, computed once."""

    truth: dict[int, set[int]]
    cold_truth: dict[int, set[int]]
    users: np.ndarray
    seen: object  # scipy csr, users x items
    released: np.ndarray
    cold: np.ndarray  # items with no training events
    auc_pairs: tuple[np.ndarray, np.ndarray, np.ndarray]  # users, positive items, negative items
    rated: pd.DataFrame
    friend_truth: dict[int, set[int]]
    friend_seen: object
    at_s: float

    @classmethod
    def build(cls, snapshot: Snapshot, split: Split, holdout_days: int, seed: int) -> Exam:
        shape = (len(snapshot.users), len(snapshot.items))
        train, hold = split.train, split.holdout
        seen = seen_matrix(train["user"].to_numpy(), train["item"].to_numpy(), shape)
        pairs = hold[["user", "item"]].drop_duplicates()
        unseen = ~np.asarray(seen[pairs["user"].to_numpy(), pairs["item"].to_numpy()]).ravel()
        pairs = pairs[unseen]
        released = snapshot.items["is_released"].fillna(False).to_numpy(bool)
        counts = np.bincount(train["item"].to_numpy(), minlength=shape[1])
        cold = counts == 0
        truth = pairs.groupby("user")["item"].agg(set).to_dict()
        cold_pairs = pairs[cold[pairs["item"].to_numpy()]]
        cold_truth = cold_pairs.groupby("user")["item"].agg(set).to_dict()
        # One random released, unseen, non-holdout item per positive pair: the AUC's negatives.
        rng = np.random.default_rng(seed + 2)
        candidates = np.flatnonzero(released)
        negatives = candidates[rng.integers(0, len(candidates), size=len(pairs))]
        hold_set = set(zip(pairs["user"].tolist(), pairs["item"].tolist(), strict=True))
        for j, (u, i) in enumerate(zip(pairs["user"].tolist(), negatives.tolist(), strict=True)):
            tries = 0
            while (seen[u, i] or (u, i) in hold_set) and tries < 50:
                i = int(candidates[rng.integers(0, len(candidates))])
                tries += 1
            negatives[j] = i
        friend_truth: dict[int, set[int]] = {}
        for a, b in both_directions(split.friends_holdout).tolist():
            friend_truth.setdefault(a, set()).add(b)
        known = both_directions(split.friends_train)
        self_pairs = np.arange(shape[0])
        friend_seen = seen_matrix(
            np.concatenate([known[:, 0], self_pairs]) if len(known) else self_pairs,
            np.concatenate([known[:, 1], self_pairs]) if len(known) else self_pairs,
            (shape[0], shape[0]),
        )
        return cls(
            truth=truth,
            cold_truth=cold_truth,
            users=np.array(sorted(truth), dtype=np.int64),
            seen=seen,
            released=released,
            cold=cold,
            auc_pairs=(pairs["user"].to_numpy(), pairs["item"].to_numpy(), negatives),
            rated=hold[hold["rating"].notna()],
            friend_truth=friend_truth,
            friend_seen=friend_seen,
            at_s=split.cutoff_s + holdout_days * SECONDS_PER_DAY / 2,
        )

    @property
    def evaluable_users(self) -> int:
        return len(self.users)

    def ranking(self, score_fn: ScoreFn) -> dict[str, float]:
        preds = ranked_lists(score_fn, self.users, K, exclude=self.seen, allowed=self.released)
        return {
            "recall_at_10": recall_at_k(self.truth, preds, k=K),
            "ndcg_at_10": ndcg_at_k(self.truth, preds, k=K),
            "map_at_10": map_at_k(self.truth, preds, k=K),
            "hit_rate_at_10": hit_rate_at_k(self.truth, preds, k=K),
            "coverage_at_10": coverage_at_k(preds, int(self.released.sum()), k=K),
            "cold_recall_at_10": recall_at_k(self.cold_truth, preds, k=K),
        }

    def interaction_auc(self, pair_score: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> float:
        users, pos, neg = self.auc_pairs
        return auc(pair_score(users, pos), pair_score(users, neg))

    def social_recall(self, score_fn: ScoreFn) -> float:
        if not self.friend_truth:
            return float("nan")
        rows = np.array(sorted(self.friend_truth), dtype=np.int64)
        preds = ranked_lists(score_fn, rows, K, exclude=self.friend_seen)  # type: ignore[arg-type]
        return recall_at_k(self.friend_truth, preds, k=K)


def model_metrics(fitted: Fitted, snapshot: Snapshot, split: Split, exam: Exam) -> dict[str, float]:
    """Every metric of the model on the exam, named as MLflow logs them."""
    model, device = fitted.model, next(fitted.model.parameters()).device
    users_f, items_f = (f.to(device) for f in fitted.space.encode(snapshot, split.train))
    u, v = model.vector_tables(users_f, items_f, exam.at_s)
    metrics = exam.ranking(lambda rows: u[rows] @ v.T)
    metrics["interaction_auc"] = exam.interaction_auc(lambda a, b: np.sum(u[a] * v[b], axis=1))
    tables = model.head_tables(
        users_f, items_f, rating=len(exam.rated) > 0, social=len(snapshot.friends) > 0
    )
    if len(exam.rated):
        truth = exam.rated["rating"].to_numpy()
        predicted = model.predict_ratings(
            tables, exam.rated["user"].to_numpy(), exam.rated["item"].to_numpy()
        )
        metrics["rating_rmse"] = rmse(truth, predicted)
        metrics["rating_mae"] = mae(truth, predicted)
    if len(snapshot.friends):
        s = model.social_vectors(tables)
        metrics["social_recall_at_10"] = exam.social_recall(lambda rows: s[rows] @ s.T)
    return metrics


def evaluate(
    fitted: Fitted,
    snapshot: Snapshot,
    split: Split,
    exam: Exam,
    *,
    seed: int,
    tuning: tuple[Split, Exam] | None = None,
) -> dict[str, float]:
    """Every metric of the model and of each baseline, named as MLflow logs them; `tuning` (the
    validation split and its exam) chooses the collaborative baselines' hyper-parameters."""
    metrics = model_metrics(fitted, snapshot, split, exam)
    metrics.update(baseline_metrics(snapshot, split, exam, seed=seed, tuning=tuning))
    return metrics


def pair_scores(
    score_fn: ScoreFn, users: np.ndarray, items: np.ndarray, chunk: int = 1024
) -> np.ndarray:
    """score_fn's score of each (user, item) pair, computed a chunk of distinct users at a time."""
    out = np.empty(len(users), dtype=np.float32)
    distinct = np.unique(users)
    for start in range(0, len(distinct), chunk):
        rows = distinct[start : start + chunk]
        block = score_fn(rows)
        mask = np.isin(users, rows)
        out[mask] = block[np.searchsorted(rows, users[mask]), items[mask]]
    return out


def collaborative_metrics(
    name: str,
    fit: Callable[[sp.csr_matrix, float], baselines.ItemScorer],
    grid: tuple[float, ...],
    snapshot: Snapshot,
    split: Split,
    exam: Exam,
    tuning: tuple[Split, Exam] | None,
) -> dict[str, float]:
    """A collaborative baseline (EASE, ItemKNN, MF): its parameter chosen by validation NDCG@10
    from `grid` (the middle value without a validation slice), refitted on the training period."""
    shape = (len(snapshot.users), len(snapshot.items))
    if shape[1] > baselines.COLLABORATIVE_MAX_ITEMS:
        log.warning(
            "%s baseline skipped: %d items (limit %d)",
            name,
            shape[1],
            baselines.COLLABORATIVE_MAX_ITEMS,
        )
        return {}

    def matrix(events: pd.DataFrame) -> sp.csr_matrix:
        return baselines.binary_matrix(events["user"].to_numpy(), events["item"].to_numpy(), shape)

    best = grid[len(grid) // 2]
    if tuning is not None and tuning[1].evaluable_users and len(tuning[0].train):
        fit_x = matrix(tuning[0].train)
        scored = {}
        for value in grid:
            model = fit(fit_x, value)
            ranked = tuning[1].ranking(lambda rows, m=model: m.scores(fit_x, rows))
            scored[value] = ranked["ndcg_at_10"]
        best = max(grid, key=lambda v: (scored[v], -grid.index(v)))  # ties: the first
    x = matrix(split.train)
    model = fit(x, best)
    out = {
        f"baseline_{name}_{k}": v
        for k, v in exam.ranking(lambda rows: model.scores(x, rows)).items()
    }
    out[f"baseline_{name}_interaction_auc"] = exam.interaction_auc(
        lambda a, b: pair_scores(lambda rows: model.scores(x, rows), a, b)
    )
    out[f"baseline_{name}_param"] = float(best)
    return out


def biased_mf_metrics(
    snapshot: Snapshot, split: Split, exam: Exam, tuning: tuple[Split, Exam] | None
) -> dict[str, float]:
    """The `mf` baseline's rating metrics: biased MF, lambda chosen by validation RMSE."""
    shape = (len(snapshot.users), len(snapshot.items))
    if sum(shape) > baselines.BIASED_MF_MAX_ROWS:
        log.warning(
            "biased MF baseline skipped: %d users + items (limit %d)",
            sum(shape),
            baselines.BIASED_MF_MAX_ROWS,
        )
        return {}

    def fit(events: pd.DataFrame, lam: float) -> baselines.BiasedMF:
        rated = events[events["rating"].notna()]
        return baselines.BiasedMF.fit(
            rated["user"].to_numpy(),
            rated["item"].to_numpy(),
            rated["rating"].to_numpy(),
            shape,
            lam,
        )

    grid = baselines.BIASED_MF_LAMBDAS
    best = grid[len(grid) // 2]
    if tuning is not None and len(tuning[1].rated) and tuning[0].train["rating"].notna().any():
        val = tuning[1].rated
        errors = {
            lam: rmse(
                val["rating"].to_numpy(),
                fit(tuning[0].train, lam).predict(val["user"].to_numpy(), val["item"].to_numpy()),
            )
            for lam in grid
        }
        best = min(grid, key=lambda lam: (errors[lam], grid.index(lam)))
    predicted = fit(split.train, best).predict(
        exam.rated["user"].to_numpy(), exam.rated["item"].to_numpy()
    )
    truth = exam.rated["rating"].to_numpy()
    return {
        "baseline_mf_rating_rmse": rmse(truth, predicted),
        "baseline_mf_rating_mae": mae(truth, predicted),
        "baseline_mf_rating_param": float(best),
    }


def baseline_metrics(
    snapshot: Snapshot,
    split: Split,
    exam: Exam,
    *,
    seed: int,
    tuning: tuple[Split, Exam] | None = None,
) -> dict[str, float]:
    out: dict[str, float] = {}
    train, n_items = split.train, len(snapshot.items)

    def put(name: str, metrics: dict[str, float]) -> None:
        out.update({f"baseline_{name}_{metric}": value for metric, value in metrics.items()})

    out.update(
        collaborative_metrics(
            "ease", baselines.EASE.fit, baselines.EASE_LAMBDAS, snapshot, split, exam, tuning
        )
    )
    out.update(
        collaborative_metrics(
            "itemknn",
            lambda x, k: baselines.ItemKNN.fit(x, int(k)),
            tuple(float(k) for k in baselines.ITEMKNN_KS),
            snapshot,
            split,
            exam,
            tuning,
        )
    )
    out.update(
        collaborative_metrics(
            "mf", baselines.ImplicitMF.fit, baselines.MF_LAMBDAS, snapshot, split, exam, tuning
        )
    )

    pop = baselines.popularity(train["item"].to_numpy(), n_items)
    put("popularity", exam.ranking(lambda rows: np.broadcast_to(pop, (len(rows), n_items))))
    out["baseline_popularity_interaction_auc"] = exam.interaction_auc(lambda a, b: pop[b])

    profiles, _ = history_text(snapshot, train)
    item_text = snapshot.item_text
    put("content", exam.ranking(lambda rows: profiles[rows] @ item_text.T))
    out["baseline_content_interaction_auc"] = exam.interaction_auc(
        lambda a, b: np.sum(profiles[a] * item_text[b], axis=1)
    )

    candidates = exam.cold & exam.released
    noise = baselines.random_scores(len(snapshot.users), candidates, seed)
    put("random_new", exam.ranking(lambda rows: noise[rows]))

    rated = train[train["rating"].notna()]
    if len(exam.rated) and len(rated):
        bias = baselines.BiasBaseline.fit(
            rated["user"].to_numpy(),
            rated["item"].to_numpy(),
            rated["rating"].to_numpy(),
            (len(snapshot.users), n_items),
        )
        predicted = bias.predict(exam.rated["user"].to_numpy(), exam.rated["item"].to_numpy())
        out["baseline_bias_rating_rmse"] = rmse(exam.rated["rating"].to_numpy(), predicted)
        out["baseline_bias_rating_mae"] = mae(exam.rated["rating"].to_numpy(), predicted)
        out.update(biased_mf_metrics(snapshot, split, exam, tuning))

    if len(snapshot.friends):
        degree = np.bincount(
            both_directions(split.friends_train)[:, 0], minlength=len(snapshot.users)
        ).astype(np.float32)
        out["baseline_popularity_social_recall_at_10"] = exam.social_recall(
            lambda rows: np.broadcast_to(degree, (len(rows), len(degree)))
        )
        who = np.where(snapshot.users["has_text"].to_numpy()[:, None], snapshot.user_text, profiles)
        out["baseline_content_social_recall_at_10"] = exam.social_recall(
            lambda rows: who[rows] @ who.T
        )
    return out
