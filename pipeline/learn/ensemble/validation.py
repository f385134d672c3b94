"""The validation slice as a judge: NDCG@10 of a model's lists among the items a user had not
seen, each user at their own moment (their first validation event), over the catalogue of that
time; the rating RMSE of its pairs. Early stopping reads it each epoch, and the item-item term's
choice (`item_item.choose_item_item_term`) asks it about sums of the towers' scores and the term's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.learn.data.judged import judged_users, kept_for
from pipeline.learn.data.ranking import ScoreFn, first_event_times, ranked_lists, seen_matrix
from pipeline.learn.data.snapshot import Snapshot
from pipeline.learn.ensemble.recommender import Recommender, Scores
from pipeline.learn.towers.model import TowerInputs
from pipeline.metrics.functions import ndcg_at_k, recall_at_k, rmse

# users whose score spread is measured (the first ones in row order: the same for every call)
SPREAD_USERS = 512


class ValidationSlice:
    """One fit's towers' view of the validation events, given the events they were fitted on
    (the terms are what it judges: they are given as `extra`, never read off the recommender)."""

    def __init__(
        self,
        rec: Recommender,
        users_f: TowerInputs,
        items_f: TowerInputs,
        snapshot: Snapshot,
        events: pd.DataFrame,
        validation: pd.DataFrame,
    ) -> None:
        self.users_f, self.items_f = users_f, items_f
        self.validation = validation
        times = validation["event_s"]
        user_times = first_event_times(
            validation, len(snapshot.users), float(times.min() + times.max()) / 2
        )
        self.release = snapshot.items["release_s"].to_numpy(dtype=float)
        # the towers alone: a recommender without terms
        self.night = Recommender(rec.towers, rec.space).judged(
            users_f, items_f, events, user_times, self.release
        )
        shape = (len(snapshot.users), len(snapshot.items))
        self.seen = seen_matrix(events["user"].to_numpy(), events["item"].to_numpy(), shape)
        unseen = ~np.asarray(
            self.seen[validation["user"].to_numpy(), validation["item"].to_numpy()]
        ).ravel()
        self.truth = validation[unseen].groupby("user")["item"].agg(set).to_dict()
        # validation events on items the fit never saw: what cold-start recall is measured on
        cold = np.bincount(events["item"].to_numpy(), minlength=shape[1]) == 0
        on_cold = validation[unseen & cold[validation["item"].to_numpy()]]
        self.cold_truth = on_cold.groupby("user")["item"].agg(set).to_dict()
        self.cold_share = len(on_cold) / max(int(unseen.sum()), 1)
        self.rows = judged_users(np.array(sorted(self.truth), dtype=np.int64), shape[1])
        if len(self.rows) < len(self.truth):
            self.truth = kept_for(self.truth, self.rows)
            self.cold_truth = kept_for(self.cold_truth, self.rows)
        self._towers: ScoreFn | None = None
        # The catalogue of that time: items released before the validation period ended.
        self.allowed = ~(self.release >= float(times.max()))

    def towers(self, rows: np.ndarray) -> np.ndarray:
        """The towers' interaction scores of `rows`, freshness at each user's moment (the
        judged users' are computed once: a term's choice asks for them a hundred times)."""
        if self._towers is None:
            self._towers = self.cached(self.night.towers)
        return self._towers(rows)

    def cached(self, fn: ScoreFn) -> ScoreFn:
        """`fn` with its scores of the judged users computed now, once (a grid's weights read
        the same scores again); other rows are scored by `fn` when asked."""
        table = np.empty((len(self.rows), len(self.allowed)), np.float32)
        for start in range(0, len(self.rows), 1024):
            chunk = self.rows[start : start + 1024]
            table[start : start + len(chunk)] = fn(chunk)

        def scores(rows: np.ndarray) -> np.ndarray:
            at = np.searchsorted(self.rows, rows)
            if len(rows) and (
                at.max() >= len(self.rows) or not np.array_equal(self.rows[at], rows)
            ):
                return fn(rows)
            return table[at]

        return scores

    def lists(self, extra: ScoreFn | None = None) -> dict[int, list[int]]:
        """Each validation user's top 10 by the towers' scores (plus `extra`'s)."""

        scores = self.towers if extra is None else lambda r: self.towers(r) + extra(r)
        return ranked_lists(scores, self.rows, 10, exclude=self.seen, allowed=self.allowed)

    def ndcg(self, extra: ScoreFn | None = None) -> float:
        return ndcg_at_k(self.truth, self.lists(extra), k=10)

    def alone(self, fn: ScoreFn) -> float:
        """NDCG@10 of `fn`'s scores without the towers'."""
        preds = ranked_lists(fn, self.rows, 10, exclude=self.seen, allowed=self.allowed)
        return ndcg_at_k(self.truth, preds, k=10)

    def judged(self, extra: ScoreFn | None = None) -> tuple[float, float]:
        """(NDCG@10, cold-item recall@10; NaN without validation events on cold items)."""
        preds = self.lists(extra)
        cold = recall_at_k(self.cold_truth, preds, k=10) if self.cold_truth else float("nan")
        return ndcg_at_k(self.truth, preds, k=10), cold

    def spread(self, fn: ScoreFn | None = None) -> float:
        """The median over validation users of the standard deviation of their scores of the
        catalogue of that time (`fn`'s, or the towers' own)."""
        rows = self.rows[:SPREAD_USERS]
        if not len(rows):
            return 0.0
        scores = (fn or self.towers)(rows)[:, self.allowed]
        return float(np.median(scores.std(axis=1))) if scores.size else 0.0

    def rated_heads(self) -> tuple[np.ndarray, pd.DataFrame]:
        """The model's rating of each rated validation pair, and those pairs."""
        rated = self.validation[self.validation["rating"].notna()]
        if not len(rated):
            return np.zeros(0, np.float32), rated
        night = self.night
        heads = night.recommender.towers.head_tables(self.users_f, self.items_f, social=False)
        with_heads = Scores(night.recommender, night.u, night.v, night.events, heads=heads)
        return with_heads.ratings(rated["user"].to_numpy(), rated["item"].to_numpy()), rated

    def rating_rmse(self) -> float | None:
        predicted, rated = self.rated_heads()
        return rmse(rated["rating"].to_numpy(), predicted) if len(rated) else None

    def metrics(self) -> dict[str, float]:
        """What an epoch logs (`val_<metric>`): NDCG@10 of the validation pairs among unseen
        items, and the rating RMSE on the rated ones."""
        out = {"val_ndcg_at_10": self.ndcg()}
        error = self.rating_rmse()
        if error is not None:
            out["val_rating_rmse"] = error
        return out
