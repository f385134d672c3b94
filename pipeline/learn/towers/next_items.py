"""The interaction task of a history-based user tower: from what a user had taken by some moment,
predict what they took next.

Each epoch cuts every user's training events at `cuts` random points. A cut after c events is one
example: its history is the distinct items of those c events (newest first, as the served user's
history is), its moment the time of event c + 1 (freshness and the released catalogue are taken
then), its targets the items not in that history that the user took within `horizon_s` of that
moment (a night predicts its holdout window, not the rest of time). A user with one event gets the empty cut:
a user with no history yet, scored from profile and features alone.

The loss is the multinomial likelihood of the targets (Liang et al. 2018) under a softmax over the
items released at the cut's moment, its history left out (the served lists leave seen items out
too): over the whole catalogue while a whole-catalogue epoch fits its budget (`full_softmax`),
above it over the batch's targets and uniformly drawn negatives (uniform draws need no logQ
correction).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from pipeline.learn.towers.shard import Shard

MASKED = -1e9  # a logit that never wins; finite so that no row is all -inf


@dataclass
class Cuts:
    """One batch of cuts as tensors."""

    users: torch.Tensor  # [b] user rows
    history: torch.Tensor  # [b, L] item rows, newest first, padded with the number of items
    at_s: torch.Tensor  # [b] float64: the moment of the cut
    seen: torch.Tensor  # [2, s] (batch row, item) pairs of the histories
    targets: torch.Tensor  # [2, t] (batch row, item) pairs to predict


def full_softmax(cuts_per_epoch: int, n_items: int, max_items: int, budget: float) -> bool:
    """Whether an epoch's softmax runs over the whole catalogue: up to `max_items` items and
    while cuts x items (an epoch's logits, and the item tower's rows a step reads) stays
    within `budget`; above, a sampled softmax keeps an epoch linear in the cuts."""
    return n_items <= max_items and cuts_per_epoch * n_items <= budget


def step_sizes(sequences: UserSequences, n_items: int, cuts: int, least: int, *, full: bool) -> int:
    """Cuts per step. With the whole-catalogue softmax, `least` (every step runs the item tower
    over the catalogue: the size quality was measured with). With the sampled one, also enough
    cuts that a step's histories read about as many item rows as the catalogue holds: the item
    tower's rows per step saturate at the catalogue, so fewer, larger steps keep an epoch's
    tower work within the rows it reads (linear in the events, not users x items)."""
    if full or not len(sequences.items):
        return least
    reads = float(np.mean([min(len(s) / 2, sequences.length) + 1 for s in sequences.items]))
    return max(least, math.ceil(n_items / reads))


def sampled_columns(
    cuts: Cuts, n_items: int, negatives: int, rng: np.random.Generator
) -> torch.Tensor:
    """A sampled softmax's columns for `cuts`: their targets and `negatives` uniform draws."""
    drawn = torch.as_tensor(rng.integers(0, n_items, size=negatives), device=cuts.users.device)
    return torch.unique(torch.cat([cuts.targets[1], drawn]))


class UserSequences:
    """Every user's training events in time order, cut into examples."""

    def __init__(
        self, events: pd.DataFrame, length: int, pad: int, horizon_s: float = np.inf
    ) -> None:
        frame = events.sort_values(["user", "event_s", "item"], kind="stable")
        self.length, self.pad, self.horizon_s = length, pad, horizon_s
        users = frame["user"].to_numpy()
        bounds = np.flatnonzero(np.diff(users)) + 1
        self.users = users[np.r_[0, bounds]] if len(users) else users
        self.items = np.split(frame["item"].to_numpy(), bounds) if len(users) else []
        self.times = np.split(frame["event_s"].to_numpy(np.float64), bounds) if len(users) else []
        # plain lists for `cuts`: per-cut numpy calls on short arrays cost more than the work
        self._items = [s.tolist() for s in self.items]
        self._times = [s.tolist() for s in self.times]

    def cuts_per_epoch(self, cuts: int) -> int:
        """An ordinary epoch's cuts: `cuts` per user."""
        return len(self.items) * cuts

    def draw(
        self,
        rng: np.random.Generator,
        cuts: int,
        since_s: float | None = None,
        replay: float = 0.0,
    ) -> np.ndarray:
        """[n, 2] (sequence index, cut) pairs: `cuts` per user, in a random order. With
        `since_s` (a warm start), `cuts` per user among the cuts whose moment is after it (the
        events a warm start has not learned), plus a `replay` share of the ordinary draw."""
        sizes = np.array([len(s) for s in self.items], dtype=np.int64)
        seq = np.repeat(np.arange(len(sizes)), cuts)
        # a cut after 1..n-1 events; a user with a single event gets the empty cut
        upper = np.maximum(sizes[seq] - 1, 1)
        cut = np.where(sizes[seq] > 1, 1 + (rng.random(len(seq)) * upper).astype(np.int64), 0)
        pairs = np.stack([seq, cut], axis=1)
        if since_s is not None:
            kept = pairs[rng.random(len(pairs)) < replay]
            pairs = np.concatenate([self._new_cuts(rng, cuts, since_s), kept])
        return pairs[rng.permutation(len(pairs))]

    def _new_cuts(self, rng: np.random.Generator, cuts: int, since_s: float) -> np.ndarray:
        """`cuts` per user with events after `since_s`, drawn among the cuts at those events
        (a user whose only event is new gets the empty cut)."""
        # the first event after since_s: cuts at it and after have a new moment
        first = np.array([np.searchsorted(t, since_s, side="right") for t in self.times])
        sizes = np.array([len(t) for t in self.times], dtype=np.int64)
        who = np.flatnonzero(first < sizes)
        if not len(who):
            return np.zeros((0, 2), dtype=np.int64)
        seq = np.repeat(who, cuts)
        low = np.maximum(first[seq], 1)  # a cut is after >= 1 event, except the empty cut
        span = np.maximum(sizes[seq] - low, 1)
        cut = low + (rng.random(len(seq)) * span).astype(np.int64)
        cut = np.where(sizes[seq] > 1, np.minimum(cut, sizes[seq] - 1), 0)
        return np.stack([seq, cut], axis=1)

    def batches(
        self,
        rng: np.random.Generator,
        cuts: int,
        batch: int,
        device: torch.device,
        since_s: float | None = None,
        replay: float = 0.0,
        shard: Shard = Shard.ALONE,
    ) -> Iterator[Cuts]:
        """An epoch's steps of `batch` cuts each; in a data-parallel run, this process's share
        of each (a last step too small to share is skipped by every process)."""
        pairs = self.draw(rng, cuts, since_s, replay)
        for start in range(0, len(pairs), batch):
            step = pairs[start : start + batch]
            if shard.fits(len(step)):
                yield self.cuts(shard.take(step), device)

    def cuts(self, pairs: np.ndarray, device: torch.device) -> Cuts:
        history = np.full((len(pairs), self.length), self.pad, dtype=np.int64)
        at = np.zeros(len(pairs), dtype=np.float64)
        seen: list[tuple[np.ndarray, np.ndarray]] = []
        targets: list[tuple[np.ndarray, np.ndarray]] = []
        for row, (s, c) in enumerate(pairs.tolist()):
            items, times = self._items[s], self._times[s]
            past = list(dict.fromkeys(reversed(items[:c])))  # distinct, newest first
            history[row, : min(len(past), self.length)] = past[: self.length]
            at[row] = times[c]
            # what the user took within the horizon of the cut: the question a night asks
            soon = bisect_left(times, at[row] + self.horizon_s, lo=c)
            future = sorted(set(items[c:soon]).difference(past))
            seen.append((np.full(len(past), row), np.array(past, dtype=np.int64)))
            targets.append((np.full(len(future), row), np.array(future, dtype=np.int64)))

        def pairs_tensor(parts: list[tuple[np.ndarray, np.ndarray]]) -> torch.Tensor:
            rows = np.concatenate([p[0] for p in parts]).astype(np.int64)
            cols = np.concatenate([p[1] for p in parts]).astype(np.int64)
            return torch.as_tensor(np.stack([rows, cols]), device=device)

        return Cuts(
            users=torch.as_tensor(self.users[pairs[:, 0]], device=device),
            history=torch.as_tensor(history, device=device),
            at_s=torch.as_tensor(at, device=device),
            seen=pairs_tensor(seen),
            targets=pairs_tensor(targets),
        )
