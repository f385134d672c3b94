"""The nightly exam: what a split asks of every ranker, and the model's answers.

Ranking metrics are over the full released catalogue with each user's training items excluded; a
user is evaluable when they have a holdout item they had not seen in training. Cold items are
items with no training events; `cold_recall_at_10` counts only holdout events on them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from pipeline.evaluate.split import Split
from pipeline.learn.data.judged import judged_users, kept_for
from pipeline.learn.data.ranking import ScoreFn, first_event_times, ranked_lists, seen_matrix
from pipeline.learn.data.snapshot import Snapshot
from pipeline.learn.ensemble.fit import Fitted
from pipeline.learn.towers.feature_space import text_profiles
from pipeline.learn.towers.loop import both_directions
from pipeline.learn.towers.model import SECONDS_PER_DAY
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

K = 10


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
    at_s: float  # the holdout's middle: the moment of users without a holdout event
    user_s: np.ndarray  # per user row: their first holdout event's time, the moment they are judged

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
        at_s = split.cutoff_s + holdout_days * SECONDS_PER_DAY / 2
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
            at_s=at_s,
            user_s=first_event_times(hold, shape[0], at_s),
        )

    def judged_sample(self, n_items: int) -> Exam:
        """The same exam over a fixed sample of its users on a large night (`judged_users`):
        what a choice on the validation week ranks, grid point after grid point."""
        users = judged_users(self.users, n_items)
        if len(users) == len(self.users):
            return self
        return replace(
            self,
            users=users,
            truth=kept_for(self.truth, users),
            cold_truth=kept_for(self.cold_truth, users),
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
    """Every metric of the recommender on the exam, named as MLflow logs them; each user is
    scored at their own moment (their first holdout event), freshness and the terms included."""
    rec = fitted.recommender
    users_f, items_f = (f.to(rec.device) for f in rec.space.encode(snapshot, split.train))
    night = rec.judged(
        users_f,
        items_f,
        split.train,
        exam.user_s,
        snapshot.items["release_s"].to_numpy(dtype=float),
        rating=len(exam.rated) > 0,
        social=len(snapshot.friends) > 0,
    )
    metrics = exam.ranking(night.scores)
    metrics["interaction_auc"] = exam.interaction_auc(night.pair_scores)
    if len(exam.rated):
        truth = exam.rated["rating"].to_numpy()
        predicted = night.ratings(exam.rated["user"].to_numpy(), exam.rated["item"].to_numpy())
        metrics["rating_rmse"] = rmse(truth, predicted)
        metrics["rating_mae"] = mae(truth, predicted)
    if len(snapshot.friends):
        s = night.similar_vectors(text_profiles(snapshot, split.train))
        metrics["social_recall_at_10"] = exam.social_recall(lambda rows: s[rows] @ s.T)
    return metrics
