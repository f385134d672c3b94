"""`recsys train`: export the night's data (warehouse task), then fit, judge, log and gate (no
warehouse: this part may run on a GPU worker).

1. temporal split; a validation slice of the training pairs picks the number of epochs;
2. the model and every baseline are scored on the holdout;
3. the model is refit on every event up to the run date for serving (`RECSYS_TRAIN_REFIT`);
4. one MLflow run holds params (and the `recsys tune` file used, `tuned.py`), per-epoch losses,
   metrics, baselines, a metrics-vs-baselines table, plots and the served model, registered as
   `recsys_mtl`; the gate sets `champion` or `challenger`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import torch

from pipeline.core import allocator, stopwatch
from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.modes import TrainMode
from pipeline.embed.spark_submit import SparkJob
from pipeline.evaluate.baseline_registry import baseline_metrics, skipped_baselines
from pipeline.evaluate.exam import Exam, model_metrics
from pipeline.evaluate.quality_report import verdicts
from pipeline.evaluate.single_task import single_task_metrics
from pipeline.evaluate.split import temporal_split, validation_split
from pipeline.learn.data.snapshot import Snapshot, export_snapshot, snapshot_dir
from pipeline.learn.ensemble.fit import Trainer
from pipeline.learn.towers.train_config import TrainConfig
from pipeline.learn.towers.warm_start import WarmStartError
from pipeline.metrics.catalogue import baseline_key
from pipeline.train.champion_exam import champion_score
from pipeline.train.distributed_towers import towers_of
from pipeline.train.gate import (
    CHAMPION,
    NO_CHAMPION_METRIC,
    Decision,
    apply_decision,
    champion_version,
    check_gate_settings,
    decide,
    trained_for,
)
from pipeline.train.registry import register_model, tracking_uri, use_tracking
from pipeline.train.rerun import FINGERPRINT_TAG, already_trained, night_fingerprint
from pipeline.train.tracking import (
    TRENDS,
    TrainedNight,
    log_evaluation,
    log_quality_report,
    run_params,
    trends_figure,
)
from pipeline.train.train_start import WARM, TrainStart, log_states, train_start
from pipeline.train.tuned_settings import tuned_record, with_tuned

log = logging.getLogger(__name__)


def export_training_data(settings: Settings, run_date: date) -> dict[str, Any]:
    """The warehouse half of training: marts and text vectors -> Parquet."""
    folder = export_snapshot(settings, run_date)
    return {
        "stage": "export",
        "run_date": run_date.isoformat(),
        "status": "ok",
        "folder": str(folder),
    }


def fit_and_judge(
    settings: Settings,
    snapshot: Snapshot,
    start: TrainStart | None = None,
    submit: Callable[[SparkJob], None] | None = None,
) -> TrainedNight:
    """Split, fit on the training period, score the model and every baseline on the holdout,
    then (by default) refit on every event for serving. A warm `start` starts both fits from
    its parent's (`pipeline/train/warm.py`); either raises WarmStartError before training
    where the architecture changed. The towers of a large night may train as a Spark job
    (`distributed_towers.py`), handed to `submit` (default: spark-submit)."""
    start = start or TrainStart.full(snapshot.run_date, "a full fit was asked for")
    warm = start.mode == WARM
    budget = settings.train.warm_epochs if warm else None
    cfg = TrainConfig.from_settings(settings)
    torch.use_deterministic_algorithms(True, warn_only=True)
    days = settings.holdout_days
    split = temporal_split(snapshot, days, social_holdout=settings.social_holdout, seed=cfg.seed)
    # the week before the holdout picks the model's epochs and the baselines' parameters
    tuning = validation_split(split, days)
    trainer = Trainer(snapshot, cfg, towers_of(settings, snapshot, submit))
    log.info("train %s: %s on %s", snapshot.run_date, split.summary(), cfg.device)
    evaluated = trainer.fit(
        tuning.train,
        split.friends_train,
        validation=tuning.holdout,
        label="warm" if warm else "train",
        epochs=budget,
        warm=start.evaluated,
    )
    exam = Exam.build(snapshot, split, days, cfg.seed)
    # the baselines' grids rank the validation week's users as the model's choices do
    tuning_exam = Exam.build(snapshot, tuning, days, cfg.seed).judged_sample(len(snapshot.items))
    metrics = model_metrics(evaluated, snapshot, split, exam)
    metrics.update(
        baseline_metrics(
            snapshot,
            split,
            exam,
            seed=cfg.seed,
            tuning=(tuning, tuning_exam),
            # a warm night's parent's choices, and the ones tonight's fit made for a term whose
            # baseline twin searches the same grid on the same week (iALS): each grid once
            reuse={**(start.baseline_params if warm else {}), **evaluated.grid_choices} or None,
        )
    )
    if settings.train.single_task_control:
        weight = evaluated.model.cfg.social_text_weight
        metrics.update(
            single_task_metrics(snapshot, cfg, split, tuning, exam, evaluated.epochs, weight)
        )
    served = evaluated
    if settings.train.refit:
        served = trainer.fit(
            snapshot.events,
            snapshot.friends,
            epochs=evaluated.epochs,  # a warm fit: the best of its budget on validation
            label="warm refit" if warm else "refit",
            terms_of=evaluated.recommender,
            social_text_weight=evaluated.model.cfg.social_text_weight,
            warm=start.served,
        )
    ends = (
        _data_end(tuning.train),
        _data_end(snapshot.events if served is not evaluated else tuning.train),
    )
    full_epochs = start.evaluated.epochs if start.evaluated is not None else evaluated.epochs
    return TrainedNight(
        snapshot.run_date,
        snapshot,
        split,
        exam,
        cfg,
        evaluated,
        served,
        metrics,
        start=start,
        data_ends=ends,
        full_epochs=full_epochs,
    )


def _data_end(events: pd.DataFrame) -> float:
    return float(events["event_s"].max()) if len(events) else 0.0


def log_and_gate(
    settings: Settings, night: TrainedNight, fingerprint: str | None = None
) -> dict[str, Any]:
    """One MLflow run: params, metrics, plots, the registered model, the gate's decision."""
    client = use_tracking(settings)
    champion = champion_version(client, settings.registered_model)
    older = champion is not None and (trained_for(client, champion) or night.run_date) > (
        night.run_date
    )

    def judged(champion_value: float | None) -> Decision:
        return decide(
            settings,
            night.metrics,
            night.exam.evaluable_users,
            champion_value,
            older_than_champion=older,
        )

    score = None
    decision = judged(None if champion is None else math.nan)
    if champion is not None and decision.reason == NO_CHAMPION_METRIC:
        # the candidate beat the yardsticks: only now is the champion's exam worth its cost
        score = champion_score(settings, client, champion, night)
        decision = judged(score.value)
    with mlflow.start_run(run_name=f"night {night.run_date} ({night.start.mode})") as run:
        mlflow.set_tags(
            {"run_date": night.run_date.isoformat(), "stage": "train", **night.start.tags()}
        )
        if fingerprint:
            mlflow.set_tag(FINGERPRINT_TAG, fingerprint)
        mlflow.log_params(run_params(settings, night))
        tuned = tuned_record(settings)
        if tuned is not None:
            mlflow.log_dict(tuned, "tuned.json")
        table, pictures = log_evaluation(night)
        version = register_model(settings, night.served, night.snapshot, night.run_date)
        log_states(
            night.evaluated, night.served, night.data_ends, night.full_epochs, night.run_date
        )
        if score is not None:  # both numbers, and on which exam the champion's was measured
            mlflow.log_metric(f"champion_{settings.gate.metric}", score.value)
            mlflow.set_tags(
                {"gate_exam": score.exam, "gate_exam_why": score.why or "the same holdout"}
            )
        if champion is not None:
            mlflow.set_tag("gate_champion_version", str(champion.version))
        decision = apply_decision(client, settings, version, decision, run.info.run_id, champion)
        mlflow.set_tag("model_version", version)
        trend = trends_figure(client, settings, night, run.info.run_id)
        pictures.log(TRENDS, "The last nights", trend, first=True)
        log_quality_report(night, version, decision, table, pictures)
    return train_summary(settings, night, version, decision, run.info.run_id, table)


def train_summary(
    settings: Settings,
    night: TrainedNight,
    version: str,
    decision: Decision,
    run_id: str,
    table: pd.DataFrame,
) -> dict[str, Any]:
    primary = settings.gate.metric
    yardsticks = ", ".join(
        f"{b} {night.metrics.get(baseline_key(b, primary), math.nan):.4f}"
        for b in decision.yardsticks
    )
    log.info(
        "train %s: version %s -> %s (%s); %s %.4f vs %s",
        night.run_date,
        version,
        decision.alias,
        decision.reason,
        primary,
        night.metrics.get(primary, math.nan),
        yardsticks,
    )
    return {
        "stage": "train",
        "run_date": night.run_date.isoformat(),
        "status": "ok",
        "model_version": version,
        "alias": decision.alias,
        "reason": decision.reason,
        "champion_metric": decision.champion_metric,
        "mlflow_run_id": run_id,
        "tracking_uri": tracking_uri(settings),
        "evaluable_users": night.exam.evaluable_users,
        "epochs": night.evaluated.epochs,
        "metrics": {k: round(v, 5) for k, v in night.finite_metrics.items()},
        "skipped_baselines": skipped_baselines(night.snapshot),
        # per metric: the strongest baseline tonight and the model's lead over it (< 0: trails)
        "versus_best_baseline": {
            row["metric"]: {
                "baseline": row["best baseline"],
                "value": round(row["its value"], 5),
                "model_lead": round(row["model's lead"], 5),
            }
            for row in verdicts(table).to_dict("records")
        },
    }


def train_model(
    settings: Settings,
    run_date: date,
    folder: Path | None = None,
    submit: Callable[[SparkJob], None] | None = None,
) -> dict[str, Any]:
    """Fit, judge, log and gate from the exported Parquet snapshot (never opens the warehouse);
    a distributed towers' job goes to `submit` (Airflow's hook; default: spark-submit)."""
    started = time.perf_counter()
    stopwatch.reset()
    allocator.keep_freed_memory()  # a step's large tensors from kept memory, not fresh pages
    check_gate_settings(settings)  # a typo in the gate's settings fails now, not after the fit
    settings = with_tuned(settings)  # `recsys tune`'s file, where there is one
    folder = folder or snapshot_dir(settings, run_date)
    snapshot = Snapshot.load(folder)
    if snapshot.run_date != run_date:
        raise RecsysError(
            f"the training export in {folder} is of {snapshot.run_date}, not {run_date}: "
            "export the night first"
        )
    client = use_tracking(settings)
    fingerprint = night_fingerprint(settings, folder)
    champion = champion_version(client, settings.registered_model)
    if already_trained(client, champion, fingerprint):
        log.info("train %s: version %s was trained on this very export", run_date, champion.version)
        return {
            "stage": "train",
            "run_date": run_date.isoformat(),
            "status": "ok",
            "model_version": str(champion.version),
            "alias": CHAMPION,
            "reason": "already_trained_on_this_export",
            "mlflow_run_id": champion.run_id,
            "tracking_uri": tracking_uri(settings),
            "train_mode": "reused",
            "train_mode_reason": f"version {champion.version}: the same export and settings",
            "seconds": round(time.perf_counter() - started, 1),
        }
    start = train_start(settings, client, run_date, snapshot.embedding_model)
    log.info("train %s: %s (%s)", run_date, start.mode, start.reason)
    try:
        night = fit_and_judge(settings, snapshot, start, submit)
    except WarmStartError as exc:
        start = TrainStart.full(run_date, str(exc))
        log.warning("train %s: full retrain: %s", run_date, exc)
        night = fit_and_judge(settings, snapshot, start, submit)
    summary = log_and_gate(settings, night, fingerprint)
    if (
        start.mode == WARM
        and summary["alias"] != CHAMPION
        and settings.train.mode == TrainMode.AUTO
    ):
        log.warning(
            "train %s: the warm candidate (version %s) failed the gate (%s): full retrain",
            run_date,
            summary["model_version"],
            summary["reason"],
        )
        warm_attempt = {k: summary[k] for k in ("model_version", "alias", "reason")}
        start = TrainStart.full(
            run_date, f"the warm version {summary['model_version']} failed the gate"
        )
        night = fit_and_judge(settings, snapshot, start, submit)
        summary = log_and_gate(settings, night, fingerprint)
        summary["warm_attempt"] = warm_attempt
    summary["train_mode"] = start.mode
    summary["train_mode_reason"] = start.reason
    summary["seconds"] = round(time.perf_counter() - started, 1)
    summary["seconds_by_part"] = stopwatch.seconds_by_part()  # item_item: grows with items²
    return summary


def train(settings: Settings, run_date: date) -> dict[str, Any]:
    """The whole stage in one process: export, then fit, judge, log and gate."""
    folder = export_snapshot(settings, run_date)
    return train_model(settings, run_date, folder)
