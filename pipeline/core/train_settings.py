"""Settings of training and tuning: `settings.train` and `settings.tune` of `Settings`
(pipeline/core/config.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field

from pipeline.core.embed_settings import DEVICE_PATTERN


class TrainSettings(BaseModel):
    """The training loop and the model's architecture (`recsys train`)."""

    seed: int = Field(default=42, description="Seed of every random draw of a night.")
    device: str = Field(default="auto", pattern=DEVICE_PATTERN, description="auto: CUDA if any.")
    max_epochs: int = Field(default=30, ge=1, description="Upper bound of training epochs.")
    patience: int = Field(
        default=5,
        ge=1,
        description="Epochs without a better validation; shrunk like the epochs a night's "
        "events budget allows (x allowed / RECSYS_TRAIN_MAX_EPOCHS, at least 1).",
    )
    epoch_event_budget: float = Field(
        default=3e6,
        gt=0,
        description="A fit trains at most this many events x epochs (at least one epoch): a "
        "large night trains fewer passes (1.1M training events: 2), decided by its size, never "
        "by a clock. Nights up to 100k events keep RECSYS_TRAIN_MAX_EPOCHS.",
    )
    distributed_processes: int = Field(
        default=0,
        ge=0,
        description="Train the towers as a data-parallel job of this many processes on the Spark "
        "master (TorchDistributor; gloo on CPU, nccl on GPU executors), for nights of at least "
        "RECSYS_TRAIN_DISTRIBUTED_MIN_EVENTS events. 0 or 1: in the task's process.",
    )
    distributed_min_events: int = Field(
        default=1_000_000,
        ge=0,
        description="Events of a night (its export) from which it trains as the distributed job (when "
        "RECSYS_TRAIN_DISTRIBUTED_PROCESSES > 1); a smaller night trains in the task's process, "
        "where starting the job would cost more than it saves.",
    )
    batch_size: int = Field(default=1024, ge=8, description="Events per training step.")
    negatives: int = Field(default=256, ge=1, description="Sampled negatives per batch.")
    lr: float = Field(default=3e-3, gt=0, description="Adam learning rate.")
    recency_half_life_days: float = Field(
        default=0.0,
        ge=0,
        description="Interaction events weigh 0.5 ** (age / this); 0: all alike (30 hurt the demo).",
    )
    recent_history_half_life: float = Field(
        default=0.0,
        ge=0,
        description="Id-based users (RECSYS_TRAIN_HISTORY_LENGTH=0): > 0: the user tower also "
        "reads the user's recent-history text vector, each past item weighted 0.5 ** (position "
        "back from the latest / this); 0: off.",
    )
    history_length: int = Field(
        default=200,
        ge=0,
        le=10_000,
        description="The user's vector is made of their latest this-many distinct items (a "
        "learned recency curve over the item tower's vectors) and their profile; 0: a per-user "
        "id embedding instead (the model before history encoding).",
    )
    history_cuts: int = Field(
        default=8, ge=1, description="History model: training cuts of a user's history per epoch."
    )
    history_horizon_days: float = Field(
        default=7.0,
        ge=0,
        description="History model: a cut's targets are the items the user took within this "
        "many days after it (the question a night's holdout asks); 0: every later item.",
    )
    history_batch: int = Field(default=256, ge=1, description="History model: cuts per step.")
    # the score terms were "paths" before 0.2.0: the old variables (RECSYS_TRAIN_ITEM_ITEM_PATH,
    # ..._FACTOR_PATH, ..._RATING_PATH) are still read
    item_item_term: Literal["auto", "ease", "itemknn", "off"] = Field(
        default="auto",
        validation_alias=AliasChoices("item_item_term", "item_item_path"),
        description="Item-item term of the interaction score (recency-weighted history x "
        "closed-form item-item weights, its weight chosen on validation; none where it does "
        "not help). auto: EASE up to 20,000 items, ItemKNN above; off: towers alone.",
    )
    factor_term: bool = Field(
        default=True,
        validation_alias=AliasChoices("factor_term", "factor_path"),
        description="Add iALS (users folded in) to the interaction score if it helps.",
    )
    transition_term: bool = Field(
        default=True,
        description="Add the transition term to the interaction score if it helps: what "
        "followed the user's latest items in other users' sequences (a first-order Markov "
        "chain over items; half-life and weight chosen on validation).",
    )
    text_term: bool = Field(
        default=True,
        description="Add the text term to the interaction score if it helps: each item's text "
        "vector against the user's recency-weighted history of text vectors (`content_recent` "
        "as a term; half-life and weight chosen on validation).",
    )
    rating_term: bool = Field(
        default=True,
        validation_alias=AliasChoices("rating_term", "rating_path"),
        description="Blend the rating head with kNN-with-baselines on the user's own ratings "
        "(least squares on validation, kept where it lowers the RMSE); false: the head alone.",
    )
    full_softmax_max_items: int = Field(
        default=50_000,
        ge=1,
        description="History model: a softmax over the whole catalogue up to this many items; "
        "above, over each batch's targets and RECSYS_TRAIN_NEGATIVES uniform negatives.",
    )
    full_softmax_budget: float = Field(
        default=3e8,
        gt=0,
        description="History model: the whole-catalogue softmax only while an epoch's cuts x "
        "items stays within this (its cost per epoch grows with users x items; ~50 s an epoch "
        "on 2 cores at the bound); above, the sampled softmax, whose epoch grows with the "
        "events. Last.fm (1,892 users x 17,632 items x 8 cuts: 2.7e8) stays whole.",
    )
    freshness_lr_scale: float = Field(
        default=3.0,
        ge=0,
        description="Learning rate of the freshness curve (score by days since release) over "
        "RECSYS_TRAIN_LR; 0 keeps the curve flat (no freshness term).",
    )
    refit: bool = Field(default=True, description="Refit on every event for serving.")
    mode: Literal["auto", "full", "warm"] = Field(
        default="auto",
        description="full: train from scratch; warm: start from the champion's weights and train "
        "RECSYS_TRAIN_WARM_EPOCHS on the events since its data (plus a replay sample), keeping "
        "its path choices; auto: warm, but full every RECSYS_TRAIN_FULL_EVERY_DAYS, without a "
        "champion, when the text model or the architecture changed, or when the warm candidate "
        "fails the gate.",
    )
    full_every_days: int = Field(
        default=7, ge=1, description="auto: a full retrain at least this often (days)."
    )
    warm_epochs: int = Field(
        default=1,
        ge=1,
        description="Warm training: epochs over the new events and the replay (the best on "
        "validation kept). 1: a second epoch moved the demo's validation NDCG@10 by -0.006 to "
        "+0.0014 over six warm nights and cost nearly half the warm train.",
    )
    warm_replay: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="Warm training: the share of ordinary (whole-history) training cuts "
        "replayed beside those of the new events (demo, night 2: 1.0 NDCG@10 0.1777, 0.5 0.154, "
        "0.25 0.167; a full retrain 0.180; with Adam's moments kept, one epoch at 0.5 0.171 "
        "against two at 1.0 0.182): without them the towers forget.",
    )
    warm_lr: float = Field(
        default=1e-3,
        gt=0,
        description="Warm training's learning rate: the weights start converged, so a smaller "
        "step than RECSYS_TRAIN_LR (demo night 2, before Adam's moments were kept with the "
        "weights: 1e-3 NDCG@10 0.1811, 3e-3 0.1777).",
    )
    architecture: Literal["shared_bottom", "mmoe"] = Field(
        default="shared_bottom",
        description="shared_bottom: every task reads the same tower outputs; mmoe: experts "
        "shared by the tasks with one gate per task (Ma et al. 2018).",
    )
    experts: int = Field(default=4, ge=1, le=16, description="MMoE: experts per tower.")
    loss_weighting: Literal["fixed", "uncertainty"] = Field(
        default="fixed",
        description="fixed: RECSYS_LOSS_WEIGHTS; uncertainty: learned per-task weights "
        "(Kendall et al. 2018; a loss weight of 0 still switches its task off).",
    )
    single_task_control: bool = Field(
        default=False,
        description="Also train each task alone with the same budget and log, per task, whether "
        "multi-task learning helped it (about one more fit per task).",
    )


class TuneSettings(BaseModel):
    """`recsys tune`: a search of the model's main knobs on the validation week (never nightly)."""

    trials: int = Field(default=20, ge=1, description="Configurations tried, the defaults first.")
    file: Path | None = Field(
        default=None,
        description="What `recsys tune` writes and nightly training reads where it exists "
        "(default $RECSYS_HOME/tuned.json); RECSYS_TRAIN_* and RECSYS_MODEL_OPTIONS set win.",
    )
    apply: bool = Field(default=True, description="false: nightly training ignores the file.")
