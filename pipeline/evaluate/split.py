"""The temporal holdout: the last `holdout_days` before the end of the run date are judged, every
earlier event trains; the `holdout_days` before them validate (early stopping, baselines' tuning).
Friend pairs carry no useful time order: a seeded random share of them is held out instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.learn.data.snapshot import Snapshot
from pipeline.learn.towers.model import SECONDS_PER_DAY


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
