"""The training loop of the towers, and nothing else: every task in each step, the losses
weighted (`loss_weights.py`, `losses.py`), early stopping on what the caller's `validate` says.

A history-based user tower learns the interaction task from cut histories (`next_items.py`); an
id-based one from a sampled softmax over single events. Deterministic on CPU for a given seed:
numpy (`rng`) draws the batches and negatives, torch is seeded by the caller, and nothing
depends on the clock or on thread timing. In a data-parallel run (`distributed.py`) each process
keeps its `Shard` of every step's rows and the gradients are averaged after each backward pass.
"""

from __future__ import annotations

import copy
import logging
import math
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from pipeline.learn.towers.feature_space import FeatureSpace
from pipeline.learn.towers.loss_weights import LossWeights, recency_weights
from pipeline.learn.towers.losses import (
    interaction_loss,
    next_items_loss,
    rating_loss,
    social_loss,
)
from pipeline.learn.towers.model import SECONDS_PER_DAY, MultiTaskModel, TowerInputs
from pipeline.learn.towers.next_items import (
    Cuts,
    UserSequences,
    full_softmax,
    sampled_columns,
    step_sizes,
)
from pipeline.learn.towers.shard import Shard
from pipeline.learn.towers.step_items import StepItems, step_reads
from pipeline.learn.towers.train_config import TrainConfig
from pipeline.learn.towers.warm_start import Moments, adam_moments, restore_moments
from pipeline.metrics import catalogue

log = logging.getLogger(__name__)

TASKS = ("interaction", "rating", "social")
# what a validation slice computes each epoch, logged as `val_<metric>`; one is `select_on`
VALIDATION_METRICS = ("ndcg_at_10", "rating_rmse")
SELECT_ON = tuple(f"val_{m}" for m in VALIDATION_METRICS)


@dataclass
class WarmFrom:
    """Where a warm loop starts: the newest event its weights learned from, and Adam's state of
    them over the vocabularies `space`."""

    data_end_s: float
    moments: Moments | None
    space: FeatureSpace


@dataclass
class Trained:
    epoch_log: list[dict[str, float]]  # one row per epoch: losses and validation metrics
    epochs: int  # epochs of the returned weights (the best on validation, when there was one)
    moments: Moments  # Adam's state of the returned weights
    active: dict[str, bool]  # the tasks that trained


def both_directions(pairs: np.ndarray) -> np.ndarray:
    return np.concatenate([pairs, pairs[:, ::-1]]) if len(pairs) else pairs


class TowerLoop:
    """Trains `model`'s towers on `events` (and friend `pairs`), `users_f`/`items_f` encoded."""

    def __init__(self, cfg: TrainConfig, device: torch.device, shard: Shard = Shard.ALONE) -> None:
        self.cfg, self.device, self.shard = cfg, device, shard

    def run(
        self,
        model: MultiTaskModel,
        users_f: TowerInputs,
        items_f: TowerInputs,
        events: pd.DataFrame,
        pairs: np.ndarray,
        rng: np.random.Generator,
        *,
        epochs: int,
        label: str,
        space: FeatureSpace,
        validate: Callable[[], dict[str, float]] | None = None,
        warm: WarmFrom | None = None,
    ) -> Trained:
        """Train `epochs` epochs (fewer when `validate` stops them: `cfg.patience` epochs
        without a better `cfg.select_on`), leaving `model` with the best epoch's weights."""
        cfg, dev, shard = self.cfg, self.device, self.shard
        if cfg.select_on not in SELECT_ON:
            raise ValueError(
                f"unknown select_on {cfg.select_on!r}: choose one of {', '.join(SELECT_ON)}"
            )
        select_sign = catalogue.sign(cfg.select_on.removeprefix("val_"))
        # Adam moves a weight by about lr per step: the freshness curve spans several units of
        # logit, so it learns with a larger rate than the towers.
        lr = cfg.lr if warm is None else cfg.warm_lr
        fresh = list(model.freshness.parameters())
        rest = [p for n, p in model.named_parameters() if not n.startswith("freshness.")]
        weights = {t: cfg.loss_weights.get(t, 0.0) for t in TASKS}
        weighting = LossWeights(weights, cfg.loss_weighting).to(dev)
        opt = torch.optim.AdamW(
            [
                {"params": rest},
                {"params": fresh, "lr": lr * cfg.freshness_lr_scale, "weight_decay": 0.0},
                {"params": list(weighting.parameters()), "weight_decay": 0.0},
            ],
            lr=lr,
            weight_decay=cfg.weight_decay,
        )
        if warm is not None:
            restore_moments(warm.moments, warm.space, space, model, opt)

        ev_u = torch.as_tensor(events["user"].to_numpy(), device=dev)
        ev_i = torch.as_tensor(events["item"].to_numpy(), device=dev)
        ev_t = torch.as_tensor(events["event_s"].to_numpy(), device=dev)
        ev_w = torch.as_tensor(
            recency_weights(events["event_s"].to_numpy(), cfg.recency_half_life_days), device=dev
        )
        rated = events[events["rating"].notna()]
        r_u = torch.as_tensor(rated["user"].to_numpy(), device=dev)
        r_i = torch.as_tensor(rated["item"].to_numpy(), device=dev)
        r_y = torch.as_tensor(rated["rating"].to_numpy(np.float32), device=dev)
        friends = torch.as_tensor(both_directions(pairs), device=dev)
        active = {
            "interaction": weights["interaction"] > 0,
            "rating": weights["rating"] > 0 and len(rated) > 0,
            "social": weights["social"] > 0 and len(friends) > 0,
        }

        batch = cfg.batch_size
        data_end = float(events["event_s"].max()) if len(events) else 0.0
        sequences = (
            UserSequences(
                events,
                cfg.history_length,
                pad=len(items_f),
                horizon_s=cfg.history_horizon_days * SECONDS_PER_DAY or np.inf,
            )
            if model.history is not None
            else None
        )
        full = sequences is not None and full_softmax(
            sequences.cuts_per_epoch(cfg.history_cuts),
            len(items_f),
            cfg.full_softmax_max_items,
            cfg.full_softmax_budget,
        )
        # cuts per step, and rating and social pairs per step: with the sampled softmax the
        # steps grow with the catalogue (`step_sizes`) and the other tasks keep a pass of
        # their pairs per epoch in them; with the whole-catalogue softmax, the settings' sizes
        per_step = cfg.history_batch
        rated_per_step = social_per_step = batch
        if sequences is not None:
            per_step = step_sizes(
                sequences, len(items_f), cfg.history_cuts, cfg.history_batch, full=full
            )
            epoch_steps = math.ceil(sequences.cuts_per_epoch(cfg.history_cuts) / per_step)
            if not full:
                rated_per_step = max(batch, math.ceil(len(r_y) / max(epoch_steps, 1)))
                social_per_step = max(batch, math.ceil(len(friends) / max(epoch_steps, 1)))
            log.info(
                "%s: %s softmax over %d items, %d cuts a step",
                *(label, "whole-catalogue" if full else "sampled", len(items_f), per_step),
            )
        epoch_log: list[dict[str, float]] = []
        best: tuple[float, int, dict, Moments] | None = None
        stale = 0
        bar = tqdm(range(epochs), desc=label, unit="epoch", disable=not cfg.progress, leave=False)
        for epoch in bar:
            model.train()
            sums: dict[str, float] = defaultdict(float)
            steps = 0
            for step in self._steps(sequences, events, rng, warm, per_step):
                losses: dict[str, torch.Tensor] = {}
                # every draw of the step first: a history-based user is made of item vectors,
                # and the item tower runs over the items the step reads (`StepItems`)
                columns = None
                if isinstance(step, Cuts) and not full:
                    columns = sampled_columns(step, len(items_f), cfg.negatives, rng)
                rated_of = None
                if active["rating"]:
                    size = rated_per_step
                    pick = torch.as_tensor(rng.integers(0, len(r_y), size=size), device=dev)
                    pick = shard.take(pick)
                    rated_of = (r_u[pick], r_i[pick], r_y[pick])
                social_of = None
                if active["social"]:
                    size = social_per_step
                    pick = torch.as_tensor(rng.integers(0, len(friends), size=size), device=dev)
                    pick = shard.take(pick)
                    negs = torch.as_tensor(
                        rng.integers(0, len(users_f), size=cfg.negatives), device=dev
                    )
                    social_of = (friends[pick], negs)
                items = None
                if sequences is not None:
                    items = StepItems.of(
                        model, items_f, step_reads(step, users_f, rated_of, social_of, columns)
                    )
                table = None if items is None else items.table()
                place = None if items is None else items.place
                if active["interaction"] and isinstance(step, Cuts):
                    assert items is not None
                    w = torch.as_tensor(
                        recency_weights(
                            step.at_s.cpu().numpy(), cfg.recency_half_life_days, data_end
                        ),
                        device=dev,
                    )
                    losses["interaction"] = next_items_loss(
                        model, users_f, items_f, items, step, w, columns
                    )
                elif active["interaction"]:
                    idx = step
                    events_of = (ev_u[idx], ev_i[idx], ev_t[idx], ev_w[idx])
                    losses["interaction"] = interaction_loss(
                        model, users_f, items_f, events_of, cfg.negatives, rng
                    )
                if rated_of is not None:
                    losses["rating"] = rating_loss(model, users_f, items_f, rated_of, table, place)
                if social_of is not None:
                    losses["social"] = social_loss(
                        model,
                        users_f,
                        social_of[0],
                        social_of[1],
                        cfg.social_temperature,
                        table,
                        place,
                    )
                if not losses:
                    raise ValueError(f"{label}: no task to train (every loss weight is 0)")
                total = weighting(losses)
                opt.zero_grad(set_to_none=True)
                total.backward()
                shard.average_gradients(p for group in opt.param_groups for p in group["params"])
                opt.step()
                for t, loss in losses.items():
                    sums[t] += float(loss.detach())
                steps += 1
            row: dict[str, float] = {"epoch": epoch + 1}
            losses_mean = shard.mean({t: s / max(steps, 1) for t, s in sums.items()})
            row.update({f"loss_{t}": v for t, v in losses_mean.items()})
            if cfg.loss_weighting != "fixed":
                trained = [t for t in TASKS if active[t]]
                row.update({f"task_weight_{t}": w for t, w in weighting.effective(trained).items()})
            if validate is not None:
                row.update(validate())
                score = select_sign * row.get(cfg.select_on, math.nan)
                if math.isnan(score):
                    raise ValueError(f"{label}: validation gave no {cfg.select_on}")
                if best is None or score > best[0]:
                    kept = copy.deepcopy(model.state_dict())
                    best, stale = (score, epoch + 1, kept, adam_moments(model, opt)), 0
                else:
                    stale += 1
            epoch_log.append(row)
            bar.set_postfix({k: round(v, 4) for k, v in row.items() if k != "epoch"})
            log.info("%s epoch %d: %s", label, epoch + 1, _fmt(row))
            if validate is not None and stale >= cfg.patience:
                break
        bar.close()
        if best is not None:
            model.load_state_dict(best[2])
            return Trained(epoch_log, best[1], best[3], active)
        return Trained(epoch_log, len(epoch_log), adam_moments(model, opt), active)

    def _steps(
        self,
        sequences: UserSequences | None,
        events: pd.DataFrame,
        rng: np.random.Generator,
        warm: WarmFrom | None,
        per_step: int,
    ) -> Iterator[Cuts | torch.Tensor]:
        """One epoch's steps: batches of cuts for a history-based model, else of event rows; a
        warm fit's are of the events after its start's data, and a replay share of the rest."""
        cfg = self.cfg
        since = None if warm is None else warm.data_end_s
        if sequences is not None:
            yield from sequences.batches(
                rng, cfg.history_cuts, per_step, self.device, since, cfg.warm_replay, self.shard
            )
            return
        order = rng.permutation(len(events))
        if since is not None:
            new = events["event_s"].to_numpy()[order] > since
            order = order[new | (rng.random(len(order)) < cfg.warm_replay)]
        for start in range(0, len(order), self.cfg.batch_size):
            rows = order[start : start + self.cfg.batch_size]
            if self.shard.fits(len(rows)):
                yield torch.as_tensor(self.shard.take(rows), device=self.device)


def _fmt(row: dict[str, float]) -> str:
    return ", ".join(
        f"{k}={v:.4f}" for k, v in row.items() if k != "epoch" and not math.isnan(float(v))
    )
