"""What one fit needs: `TrainConfig`, from the deployment's `Settings` and the loop's constants."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import torch

from pipeline.core.config import Settings


@dataclass
class TrainConfig:
    """What one fit needs. The knobs a deployment sets come from `Settings` (`from_settings`,
    defaults declared there only); the rest are the loop's own constants."""

    max_epochs: int
    patience: int
    batch_size: int
    negatives: int
    lr: float
    # Next week looks more like last week than like last year: recent events weigh more.
    recency_half_life_days: float  # 0: every event weighs the same
    loss_weights: dict[str, float]
    loss_weighting: str  # "fixed" or "uncertainty"
    seed: int
    device: str
    recent_history_half_life: float  # 0: no recent-history text for users
    freshness_lr_scale: float  # the freshness curve's learning rate / lr (0: kept flat)
    # > 0: users are their latest items (next_items.py trains them); 0: id-based users
    history_length: int
    history_cuts: int  # training examples per user per epoch
    history_batch: int  # cuts per step
    full_softmax_max_items: int
    full_softmax_budget: float  # cuts per epoch x items of a whole-catalogue softmax
    epoch_event_budget: float  # events x epochs a fit may train (`fit.budgeted_epochs`)
    history_horizon_days: float  # a cut's targets: the items taken this soon after it (0: all)
    item_item_term: str  # "auto", "ease", "itemknn" or "off" (`ensemble/item_item_term.py`)
    factor_term: bool = True  # the interaction's iALS term (`ensemble/factor_term.py`)
    transition_term: bool = True  # the interaction's order term (`ensemble/transition_term.py`)
    text_term: bool = True  # the interaction's text term (`ensemble/text_term.py`)
    rating_term: bool = True  # the rating's neighbourhood blend (`ensemble/rating_term.py`)
    warm_lr: float = 1e-3  # a warm fit's learning rate
    warm_replay: float = 1.0  # a warm fit's share of ordinary cuts beside tonight's (`warm_start`)
    weight_decay: float = 1e-5
    social_temperature: float = 0.1
    # the validation metric that picks the epoch: "val_" + a metric of VALIDATION_METRICS
    select_on: str = "val_ndcg_at_10"
    progress: bool = True
    model: dict = field(default_factory=dict)  # ModelConfig overrides: dim, hidden, dropouts...

    @classmethod
    def from_settings(cls, settings: Settings, *, progress: bool = True) -> TrainConfig:
        train = settings.train
        shared = {f.name for f in fields(cls)} & set(type(train).model_fields) - {"device"}
        return cls(
            **train.model_dump(include=shared),
            loss_weights=dict(settings.loss_weights),
            device=resolve_device(train.device),
            progress=progress,
            model={
                "architecture": train.architecture,
                "experts": train.experts,
                **settings.model_options,
            },
        )


def resolve_device(device: str) -> str:
    """`auto` is CUDA when this process sees a GPU, else the CPU."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device
