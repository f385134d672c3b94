"""Warm start: tonight's model begins where the champion's left off.

The champion's weights are copied into a model built for tonight's vocabularies: a row of an
id or category table follows its id to its new position; ids the champion never saw get the
row of the unknown id (index 0), which is how the champion itself scored them (as a cold
entity). Every other weight is copied as it is, so an unchanged architecture is required
(`WarmStartError` otherwise: the night trains from scratch).

The warm fit then trains a bounded budget on cuts whose moment is after the newest event the
champion learned from (tonight's events) plus a replay sample of ordinary cuts of the whole
history, and keeps the champion's score-term choices, refitted on tonight's events.
"""

from __future__ import annotations

import numpy as np
import torch

from pipeline.learn.towers.feature_space import FeatureSpace
from pipeline.learn.towers.model import ModelConfig

MOMENTS_FILE = "adam_moments.pt"

# weight -> the vocabulary its rows follow (index 0: the unknown id)
VOCAB_ROWS = {
    "user_tower.ids.weight": "user_ids",
    "item_tower.ids.weight": "item_ids",
    "user_tower.cats.0.weight": "genders",
    "user_tower.cats.1.weight": "occupations",
    "item_tower.cats.0.weight": "categories",
    "rating_bias.weight": "user_ids",
}


# weight name -> Adam's state of it (step, exp_avg, exp_avg_sq)
Moments = dict[str, dict[str, torch.Tensor]]


class WarmStartError(ValueError):
    """The champion's weights do not fit tonight's model: train from scratch."""


def adam_moments(model: torch.nn.Module, opt: torch.optim.Optimizer) -> Moments:
    """A copy of the optimiser's state of every weight of `model`, by name (on the CPU: a GPU
    night's state loads on any machine, and holds no GPU memory meanwhile)."""
    return {
        name: {k: v.detach().cpu().clone() for k, v in opt.state[p].items()}
        for name, p in model.named_parameters()
        if opt.state.get(p)
    }


def restore_moments(
    moments: Moments | None,
    old_space: FeatureSpace,
    space: FeatureSpace,
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
) -> None:
    """A warm start's Adam state (over `old_space`) into `opt` for `model` (over `space`), rows
    following ids as the weights' do: a warm fit's first steps are then as measured as its
    start's last ones, instead of Adam's first steps, which move every weight by about the
    learning rate."""
    if not moments:
        return
    for name, p in model.named_parameters():
        state = moments.get(name)
        if state is not None:
            opt.state[p] = {
                key: value.clone()
                if key == "step"
                else follow_ids(name, value, old_space, space, p.detach())
                for key, value in state.items()
            }


# what may differ between a warm start and tonight's model: vocabulary sizes, chosen weights
NOT_ARCHITECTURE = {
    *("n_users", "n_items", "n_genders", "n_occupations", "n_categories"),
    "social_text_weight",
}


def check_architecture(old: ModelConfig, new: ModelConfig) -> None:
    """Raise WarmStartError where tonight's model is not the warm start's architecture."""
    a, b = old.to_dict(), new.to_dict()
    keys = (a.keys() | b.keys()) - NOT_ARCHITECTURE
    changed = sorted(k for k in keys if a.get(k) != b.get(k))
    if changed:
        raise WarmStartError(
            "the architecture changed since the warm start's model: "
            + ", ".join(f"{k} {a.get(k)!r} -> {b.get(k)!r}" for k in changed)
        )


def row_map(old: list[str], new: list[str]) -> np.ndarray:
    """For each row of a table over `new` (0 = unknown, then `new` in order), the row of the
    table over `old` it starts from: the same id's, else the unknown row 0."""
    where = {v: i + 1 for i, v in enumerate(old)}
    return np.array([0, *(where.get(v, 0) for v in new)], dtype=np.int64)


def follow_ids(
    name: str,
    old: torch.Tensor,
    old_space: FeatureSpace,
    new_space: FeatureSpace,
    like: torch.Tensor,
) -> torch.Tensor:
    """Weight `name` (or its Adam state) over `old_space`, shaped like `like` over `new_space`:
    rows of an id or category table follow their ids (`row_map`). Raises WarmStartError where
    it does not fit."""
    vocab = VOCAB_ROWS.get(name)
    if vocab is not None:
        if old.shape[0] != len(getattr(old_space, vocab)) + 1:
            raise WarmStartError(f"{name}: {old.shape[0]} rows for its vocabulary")
        old = old[torch.as_tensor(row_map(getattr(old_space, vocab), getattr(new_space, vocab)))]
    if old.shape != like.shape:
        raise WarmStartError(
            f"{name}: the champion's is {tuple(old.shape)}, tonight's model wants "
            f"{tuple(like.shape)} (architecture changed)"
        )
    return old.to(like.device, like.dtype).clone()


def extend_state(
    old: dict[str, torch.Tensor],
    old_space: FeatureSpace,
    new_space: FeatureSpace,
    target: dict[str, torch.Tensor],
) -> dict[str, torch.Tensor]:
    """`old` (a state dict over `old_space`) as a state dict shaped like `target` (over
    `new_space`). Raises WarmStartError where a weight is missing or changed shape."""
    missing = sorted(set(target) - set(old))
    if missing:
        raise WarmStartError(f"the champion has no weight {missing[0]!r} (architecture changed)")
    extra = sorted(set(old) - set(target))
    if extra:
        raise WarmStartError(f"the champion has weights tonight's model lacks: {extra[:3]}")
    return {
        name: follow_ids(name, old[name], old_space, new_space, like)
        for name, like in target.items()
    }
