"""`recsys tune`: search the model's main knobs on the validation week, write the tuned file.

The search never touches the holdout week a night is judged on: each trial fits on the events
before the validation week (as a night's first fit does) and scores validation NDCG@10 of what
it would serve (the towers plus the item-item term chosen for them). Optuna's TPE sampler,
seeded by `RECSYS_TRAIN_SEED`, proposes the trials; the first is the current configuration, so the
file is never worse on validation than not tuning. Trials run one at a time and each fit is
seeded: the same snapshot, seed and trial count write the same file.

Never part of the nightly DAG: a search costs `RECSYS_TUNE_TRIALS` fits. Nights read the file
(`tuned.py`); a retune is a deliberate act, like a schema change.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, fields, replace
from datetime import date
from pathlib import Path
from typing import Any

import optuna
import torch

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.evaluate.split import temporal_split, validation_split
from pipeline.learn.data.snapshot import Snapshot, export_snapshot
from pipeline.learn.ensemble.fit import Trainer
from pipeline.learn.towers.config import ModelConfig
from pipeline.learn.towers.train_config import TrainConfig
from pipeline.train.tuned_settings import write_tuned

log = logging.getLogger(__name__)

METRIC = "val_ndcg_at_10"


@dataclass(frozen=True)
class Knob:
    """One searched setting: a train setting or a model option, and the values it may take."""

    name: str
    where: str  # "train" (TrainSettings) or "model" (ModelConfig, via model options)
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.choices:
            return trial.suggest_categorical(self.name, list(self.choices))
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def holds(self, value: Any) -> bool:
        if self.choices:
            return value in self.choices
        return isinstance(value, int | float) and self.low <= value <= self.high


# The knobs that moved the validation metric most in the benchmarks (learning rate, width,
# regularisation, how many and which cuts train the history encoder); each range holds its
# default. The item-item term is not here: every night chooses it on validation already.
SPACE = (
    Knob("lr", "train", 1e-3, 1e-2, log=True),
    Knob("history_cuts", "train", choices=(4, 8, 16)),
    Knob("history_horizon_days", "train", choices=(3.0, 7.0, 14.0, 0.0)),
    Knob("history_length", "train", choices=(50, 100, 200, 400)),
    Knob("dim", "model", choices=(32, 64, 128)),
    Knob("hidden", "model", choices=(128, 256, 512)),
    Knob("dropout", "model", 0.0, 0.3),
    Knob("history_dropout", "model", 0.2, 0.7),
    Knob("item_id_dropout", "model", 0.1, 0.6),
    Knob("history_half_life", "model", 2.0, 25.0, log=True),
)


def configured(base: TrainConfig, params: dict[str, Any]) -> TrainConfig:
    """`base` with a trial's values."""
    train = {k.name: params[k.name] for k in SPACE if k.where == "train" and k.name in params}
    model = {k.name: params[k.name] for k in SPACE if k.where == "model" and k.name in params}
    return replace(base, **train, model={**base.model, **model}, progress=False)


def current(base: TrainConfig) -> dict[str, Any]:
    """The knobs' values in `base` (what a night runs without the tuned file)."""
    model_defaults = {f.name: f.default for f in fields(ModelConfig)}
    return {
        k.name: getattr(base, k.name)
        if k.where == "train"
        else base.model.get(k.name, model_defaults[k.name])
        for k in SPACE
    }


def searched(settings: Settings, base: TrainConfig) -> tuple[Knob, ...]:
    """The knobs to search: not one the deployment set explicitly (it wins over the tuned file
    anyway), nor one whose current value lies outside its range (an id-based model's
    `history_length` 0, say): those stay as they are."""
    pinned = set(settings.train.model_fields_set) | set(settings.model_options)
    values = current(base)
    outside = [k.name for k in SPACE if k.name not in pinned and not k.holds(values[k.name])]
    if pinned & {k.name for k in SPACE} or outside:
        log.info(
            "tune: not searched: %s", ", ".join(sorted(pinned & {k.name for k in SPACE}) + outside)
        )
    return tuple(k for k in SPACE if k.name not in pinned and k.name not in outside)


def search(
    snapshot: Snapshot, settings: Settings, base: TrainConfig, trials: int
) -> tuple[optuna.Study, tuple[Knob, ...]]:
    """`trials` fits on the events before the validation week, judged on that week."""
    days = settings.holdout_days
    split = temporal_split(snapshot, days, social_holdout=settings.social_holdout, seed=base.seed)
    tuning = validation_split(split, days)
    if not len(tuning.holdout):
        raise RecsysError(f"the {days} days before the holdout have no events: nothing to tune on")
    knobs = searched(settings, base)
    if not knobs:
        raise RecsysError("every tuned knob is set explicitly: nothing to search")
    started = time.perf_counter()

    def objective(trial: optuna.Trial) -> float:
        params = {knob.name: knob.suggest(trial) for knob in knobs}
        fitted = Trainer(snapshot, configured(base, params)).fit(
            tuning.train,
            split.friends_train,
            validation=tuning.holdout,
            label=f"trial {trial.number}",
        )
        trial.set_user_attr("epochs", fitted.epochs)
        if math.isnan(fitted.validation_ndcg):
            raise RecsysError("a trial gave no validation NDCG@10")
        return fitted.validation_ndcg

    def progress(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        log.info(
            "tune: trial %d/%d %s %.4f (best %.4f, trial %d), %.0f s so far",
            trial.number + 1,
            trials,
            METRIC,
            trial.value if trial.value is not None else math.nan,
            study.best_value,
            study.best_trial.number,
            time.perf_counter() - started,
        )

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.use_deterministic_algorithms(True, warn_only=True)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=base.seed, n_startup_trials=min(10, trials)),
        study_name="recsys-tune",
    )
    values = current(base)
    study.enqueue_trial({k.name: values[k.name] for k in knobs})  # trial 0: not tuning
    study.optimize(objective, n_trials=trials, callbacks=[progress])
    return study, knobs


def tune(
    settings: Settings, run_date: date, trials: int | None = None, out: Path | None = None
) -> dict[str, Any]:
    """Export the night's data, search, write the tuned file; the summary says what won."""
    started = time.perf_counter()
    trials = trials or settings.tune.trials
    path = out or settings.tuned_path
    snapshot = Snapshot.load(export_snapshot(settings, run_date))
    base = TrainConfig.from_settings(settings, progress=False)
    study, knobs = search(snapshot, settings, base, trials)
    best, first = study.best_trial, study.trials[0]
    params = best.params
    record = {
        "run_date": run_date.isoformat(),
        "seed": base.seed,
        "metric": METRIC,
        "trials": trials,
        "best": {
            "trial": best.number,
            "value": round(float(best.value or 0.0), 6),
            "untuned_value": round(float(first.value or 0.0), 6),
            "epochs": best.user_attrs.get("epochs"),
        },
        "train": {k.name: params[k.name] for k in knobs if k.where == "train"},
        "model_options": {k.name: params[k.name] for k in knobs if k.where == "model"},
        "history": [
            {"trial": t.number, "value": round(float(t.value or 0.0), 6), "params": t.params}
            for t in study.trials
        ],
    }
    write_tuned(path, record)
    log.info(
        "tune %s: %d trials -> %s (%s %.4f, untuned %.4f)",
        *(run_date, trials, path, METRIC, record["best"]["value"], record["best"]["untuned_value"]),
    )
    return {
        "stage": "tune",
        "run_date": run_date.isoformat(),
        "status": "ok",
        "file": str(path),
        "trials": trials,
        "best_trial": best.number,
        METRIC: record["best"]["value"],
        f"untuned_{METRIC}": record["best"]["untuned_value"],
        "train": record["train"],
        "model_options": record["model_options"],
        "seconds": round(time.perf_counter() - started, 1),
    }
