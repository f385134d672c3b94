"""Every task's loss, in one place: what the training loop (`ensemble/fit.py`) adds up each step,
weighted by `loss_weights.py`.

- interaction, a history-based user: `next_items_loss`, the multinomial likelihood of the items
  after a cut of the history (Liang et al. 2018), over the whole catalogue or sampled negatives,
  from the item vectors of only the items the step reads (`step_items.py`);
- interaction, an id-based user: `interaction_loss`, a sampled softmax over single events;
- rating: `rating_loss`, the squared error of the rating head;
- social: `social_loss`, a sampled softmax over users after the social projection.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from pipeline.learn.towers.model import MultiTaskModel, TowerInputs
from pipeline.learn.towers.next_items import MASKED, Cuts
from pipeline.learn.towers.step_items import StepItems


def sampled_softmax(
    pos: torch.Tensor,
    neg: torch.Tensor,
    neg_mask: torch.Tensor,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy of the positive against shared sampled negatives (masked ones excluded),
    optionally weighted per row (weights are normalised to mean 1 over the batch)."""
    neg = neg.masked_fill(neg_mask, -math.inf)
    logits = torch.cat([pos[:, None], neg], dim=1)
    target = torch.zeros(len(pos), dtype=torch.long, device=pos.device)
    if weights is None:
        return F.cross_entropy(logits, target)
    losses = F.cross_entropy(logits, target, reduction="none")
    return (losses * weights).sum() / weights.sum()


def interaction_loss(
    model: MultiTaskModel,
    users_f: TowerInputs,
    items_f: TowerInputs,
    events: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    negatives: int,
    rng: np.random.Generator,
) -> torch.Tensor:
    """Sampled softmax: each positive (user row, item row, time, weight) against negatives
    shared by the batch. A negative is masked when it is the positive itself or was not yet
    released at the event's time."""
    u_rows, i_rows, t, w = events
    negs = torch.as_tensor(rng.integers(0, len(items_f), size=negatives), device=u_rows.device)
    u = model.users(users_f, u_rows)
    v, b = model.items(items_f, torch.cat([i_rows, negs]))
    release = items_f.release_s
    assert release is not None
    k = len(i_rows)
    pos = (u * v[:k]).sum(1) + b[:k] + model.fresh(t, release[i_rows])
    released = release[negs]
    neg = u @ v[k:].T + b[k:][None, :] + model.fresh(t[:, None], released[None, :])
    mask = (negs[None, :] == i_rows[:, None]) | (released[None, :] > t[:, None])
    return sampled_softmax(pos, neg, mask, w)


def rating_loss(
    model: MultiTaskModel,
    users_f: TowerInputs,
    items_f: TowerInputs,
    rated: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    table: torch.Tensor | None,
    place: torch.Tensor | None = None,
) -> torch.Tensor:
    """Squared error of the rating head on (user rows, item rows, ratings); each pair's user is
    read from their history without the rated item, as a rating is asked for. `table`,
    `place`: the step's item vectors (`StepItems`)."""
    users, items, ratings = rated
    u = model.rating_users(users_f, users, table, without=items, place=place)
    v, _ = model.items(items_f, items, "rating")
    return F.mse_loss(model.rating(u, v), ratings)


def social_loss(
    model: MultiTaskModel,
    users_f: TowerInputs,
    pairs: torch.Tensor,
    negs: torch.Tensor,
    temperature: float,
    table: torch.Tensor | None = None,
    place: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sampled softmax of each friend against users `negs` drawn for the batch (neither of the
    pair). `table`, `place`: the step's item vectors (`StepItems`)."""
    a, b = pairs[:, 0], pairs[:, 1]
    users = torch.cat([a, b, negs])
    s = model.social(model.users(users_f, users, "social", table, place=place))
    k = len(a)
    sa, sb, sn = s[:k], s[k : 2 * k], s[2 * k :]
    pos = (sa * sb).sum(1) / temperature
    neg = sa @ sn.T / temperature
    mask = (negs[None, :] == b[:, None]) | (negs[None, :] == a[:, None])
    return sampled_softmax(pos, neg, mask)


def next_items_loss(
    model: MultiTaskModel,
    users_f: TowerInputs,
    items_f: TowerInputs,
    step: StepItems,
    cuts: Cuts,
    weights: torch.Tensor,
    columns: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean over the batch's cuts (weighted) of the targets' mean negative log-likelihood,
    a softmax over `columns` (item rows; None: the whole catalogue). `step`: the item tower's
    vectors of every item the cuts read (their histories and the columns)."""
    table = step.table()
    u = model.users(users_f, cuts.users, table=table, history=step.place[cuts.history])
    n, m = len(cuts.users), len(items_f)
    if columns is None:
        columns = torch.arange(m, device=table.device)
    release = items_f.release_s
    assert release is not None
    # in order of release: the freshness buckets of the logits are then counted in place
    # (`MultiTaskModel.age_buckets`); the softmax does not care about the columns' order
    columns = columns[torch.argsort(release[columns], stable=True)]
    at = step.place[columns]
    v, b = step.vectors[at], step.bias[at]
    column_of = torch.full((m,), -1, dtype=torch.long, device=v.device)  # item row -> column
    column_of[columns] = torch.arange(len(columns), device=v.device)
    released = release[columns]
    logits = u @ v.T + b[None, :] + model.fresh(cuts.at_s[:, None], released[None, :])
    target = torch.zeros((n, len(columns)), device=v.device)
    target[cuts.targets[0], column_of[cuts.targets[1]]] = 1.0
    # Not yet released at the cut's moment: left out, targets too. A later cut learns them at
    # their own age; kept here, the newest age bucket would learn "released after the cut means
    # taken" and push every new item up at serving time.
    masked = released[None, :] > cuts.at_s[:, None]  # a negative age
    target = target.masked_fill(masked, 0.0)
    kept = column_of[cuts.seen[1]] >= 0
    masked[cuts.seen[0][kept], column_of[cuts.seen[1][kept]]] = True
    log_p = F.log_softmax(logits.masked_fill(masked, MASKED), dim=1)
    counts = target.sum(1)
    has = counts > 0  # a cut whose later items were all in its history teaches nothing
    per_cut = -(log_p * target).sum(1)[has] / counts[has]
    w = weights[has]
    return (per_cut * w).sum() / w.sum().clamp(min=1e-12)
