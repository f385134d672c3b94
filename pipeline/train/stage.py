"""`recsys train`: export the night's data (warehouse task), then fit, judge, log and gate (no
warehouse: this part may run on a GPU worker).

1. temporal split; a validation slice of the training pairs picks the number of epochs;
2. the model and every baseline are scored on the holdout;
3. the model is refit on every event up to the run date for serving (`train_refit`);
4. one MLflow run holds params, per-epoch losses, metrics, baselines, a metrics-vs-baselines table,
   plots and the served model, registered as `recsys_mtl`; the gate sets `champion` or `challenger`.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import torch

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.evaluate.exam import (
    Exam,
    evaluate,
    temporal_split,
    validation_split,
)
from pipeline.evaluate.plots import loss_curves, metrics_vs_baselines
from pipeline.evaluate.quality_report import QUALITY_REPORT, NightFacts, quality_report
from pipeline.evaluate.single_task import single_task_metrics
from pipeline.learn.bundle import Bundle
from pipeline.learn.fit import Fitted, TrainConfig, Trainer
from pipeline.learn.snapshot import Snapshot, export_snapshot, snapshot_dir
from pipeline.train.registry import (
    apply_decision,
    champion_version,
    decide,
    log_served_model,
    tracking_uri,
    use_tracking,
)

log = logging.getLogger(__name__)

MODEL_METRICS = (
    "rating_rmse",
    "rating_mae",
    "interaction_auc",
    "recall_at_10",
    "ndcg_at_10",
    "map_at_10",
    "hit_rate_at_10",
    "coverage_at_10",
    "cold_recall_at_10",
    "social_recall_at_10",
)


def device_for(settings: Settings) -> str:
    if settings.train_device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return settings.train_device


def train_config(settings: Settings, *, progress: bool = True) -> TrainConfig:
    return TrainConfig(
        max_epochs=settings.train_max_epochs,
        patience=settings.train_patience,
        batch_size=settings.train_batch_size,
        negatives=settings.train_negatives,
        lr=settings.train_lr,
        recency_half_life_days=settings.train_recency_half_life_days,
        loss_weights=dict(settings.loss_weights),
        loss_weighting=settings.train_loss_weighting,
        seed=settings.train_seed,
        device=device_for(settings),
        progress=progress,
        model={
            "architecture": settings.train_architecture,
            "experts": settings.train_experts,
            **settings.model_options,
        },
    )


def export_training_data(settings: Settings, run_date: date) -> dict[str, Any]:
    """The warehouse half of training: marts and text vectors -> Parquet."""
    folder = export_snapshot(settings, run_date)
    return {
        "stage": "export",
        "run_date": run_date.isoformat(),
        "status": "ok",
        "folder": str(folder),
    }


def _split_metric(rest: str) -> tuple[str, str] | None:
    """`<name>_<metric>` -> (name, metric); a name may hold underscores (`random_new`), so the
    longest metric matching the end wins (`..._cold_recall_at_10` is cold recall, not recall)."""
    metric = max((m for m in MODEL_METRICS if rest.endswith(f"_{m}")), key=len, default=None)
    return None if metric is None else (rest[: -len(metric) - 1], metric)


def comparison_table(metrics: dict[str, float]) -> pd.DataFrame:
    """One row per metric: the model's value, each baseline's (`baseline_<ranker>_<metric>`) and,
    when the single-task control ran, the task trained alone (`single_<task>_<metric>`)."""
    by_ranker: dict[str, dict[str, float]] = {}
    single: dict[str, float] = {}
    for key, value in metrics.items():
        if key.startswith("baseline_") and (parsed := _split_metric(key[len("baseline_") :])):
            by_ranker.setdefault(parsed[0], {})[parsed[1]] = value
        elif key.startswith("single_") and (parsed := _split_metric(key[len("single_") :])):
            single[parsed[1]] = value
    names = [m for m in MODEL_METRICS if m in metrics or any(m in b for b in by_ranker.values())]
    rows = []
    for name in names:
        row: dict[str, Any] = {"metric": name, "model": metrics.get(name)}
        if single:
            row["single_task"] = single.get(name)
        for ranker in sorted(by_ranker):
            row[ranker] = by_ranker[ranker].get(name)
        rows.append(row)
    return pd.DataFrame(rows)


def train_model(settings: Settings, run_date: date, folder: Path | None = None) -> dict[str, Any]:
    """Fit, judge, log and gate from the exported Parquet snapshot (never opens the warehouse)."""
    started = time.perf_counter()
    folder = folder or snapshot_dir(settings, run_date)
    snapshot = Snapshot.load(folder)
    if snapshot.run_date != run_date:
        raise RecsysError(
            f"the training export in {folder} is of {snapshot.run_date}, not {run_date}: "
            "export the night first"
        )
    cfg = train_config(settings)
    torch.use_deterministic_algorithms(True, warn_only=True)
    split = temporal_split(
        snapshot, settings.holdout_days, social_holdout=settings.social_holdout, seed=cfg.seed
    )
    # the week before the holdout picks the model's epochs and the baselines' parameters
    tuning = validation_split(split, settings.holdout_days)
    trainer = Trainer(snapshot, cfg)
    log.info("train %s: %s on %s", run_date, split.summary(), cfg.device)
    evaluated = trainer.fit(
        tuning.train, split.friends_train, validation=tuning.holdout, label="train"
    )
    exam = Exam.build(snapshot, split, settings.holdout_days, cfg.seed)
    tuning_exam = Exam.build(snapshot, tuning, settings.holdout_days, cfg.seed)
    metrics = evaluate(
        evaluated, snapshot, split, exam, seed=cfg.seed, tuning=(tuning, tuning_exam)
    )
    if settings.train_single_task_control:
        metrics.update(single_task_metrics(snapshot, cfg, split, tuning, exam, evaluated.epochs))
    served: Fitted = evaluated
    if settings.train_refit:
        served = trainer.fit(
            snapshot.events, snapshot.friends, epochs=evaluated.epochs, label="refit"
        )
    summary = log_night(settings, run_date, snapshot, split, exam, cfg, evaluated, served, metrics)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    return summary


def log_night(
    settings: Settings,
    run_date: date,
    snapshot: Snapshot,
    split: Any,
    exam: Exam,
    cfg: TrainConfig,
    evaluated: Fitted,
    served: Fitted,
    metrics: dict[str, float],
) -> dict[str, Any]:
    client = use_tracking(settings)
    champion = champion_version(client, settings.registered_model)
    champion_metric = None
    if champion is not None:
        logged = client.get_run(champion.run_id).data.metrics
        champion_metric = logged.get(settings.gate_metric, math.nan)
    decision = decide(settings, metrics, exam.evaluable_users, champion_metric)
    finite = {k: v for k, v in metrics.items() if not math.isnan(v)}
    with mlflow.start_run(run_name=f"night {run_date}") as run:
        mlflow.set_tags({"run_date": run_date.isoformat(), "stage": "train"})
        params = {
            **{k: v for k, v in asdict(cfg).items() if k not in ("model", "loss_weights")},
            **{f"loss_weight_{k}": v for k, v in cfg.loss_weights.items()},
            **{f"model_{k}": v for k, v in evaluated.model.cfg.to_dict().items()},
            "run_date": run_date.isoformat(),
            "holdout_days": settings.holdout_days,
            "embedding_model": snapshot.embedding_model,
            "architecture": evaluated.model.cfg.architecture,
            "single_task_control": settings.train_single_task_control,
            "epochs_chosen": evaluated.epochs,
            "refit": settings.train_refit,
            "gate_metric": settings.gate_metric,
            "gate_tolerance": settings.gate_tolerance,
            **{f"data_{k}": v for k, v in {**snapshot.summary(), **split.summary()}.items()},
            "evaluable_users": exam.evaluable_users,
            "cold_evaluable_users": len(exam.cold_truth),
        }
        mlflow.log_params(params)
        for prefix, fitted in (
            ("", evaluated),
            ("refit_", served if served is not evaluated else None),
        ):
            for row in fitted.history if fitted else []:
                step = int(row["epoch"])
                mlflow.log_metrics(
                    {f"{prefix}{k}": v for k, v in row.items() if k != "epoch"}, step=step
                )
        mlflow.log_metrics(finite)
        mlflow.log_metric("evaluable_users", exam.evaluable_users)
        table = comparison_table(metrics)
        mlflow.log_table(table, artifact_file="metrics_vs_baselines.json")
        mlflow.log_text(table.to_markdown(index=False, floatfmt=".4f"), "metrics_vs_baselines.md")
        mlflow.log_figure(loss_curves(evaluated.history, "evaluation fit"), "plots/loss_curves.png")
        if served is not evaluated:
            mlflow.log_figure(loss_curves(served.history, "serving refit"), "plots/refit_loss.png")
        mlflow.log_figure(metrics_vs_baselines(metrics), "plots/metrics_vs_baselines.png")
        with tempfile.TemporaryDirectory(prefix="recsys-model-") as tmp:
            bundle = Bundle(model=served.model, space=served.space, trained_on=run_date)
            bundle_dir = bundle.save(Path(tmp) / "bundle", snapshot)
            first = snapshot.events.iloc[: min(5, len(snapshot.events))]
            example = pd.DataFrame(
                {
                    "user_id": snapshot.users["user_id"].iloc[first["user"]].astype(str).tolist(),
                    "item_id": snapshot.items["item_id"].iloc[first["item"]].astype(str).tolist(),
                }
            )
            info = log_served_model(bundle_dir, settings, example)
        model_version = str(info.registered_model_version)
        apply_decision(client, settings, model_version, decision, run.info.run_id)
        mlflow.set_tag("model_version", model_version)
        report = quality_report(
            NightFacts(
                run_date=run_date,
                model_version=model_version,
                alias=decision.alias,
                reason=decision.reason,
                architecture=evaluated.model.cfg.architecture,
                loss_weighting=cfg.loss_weighting,
                epochs=evaluated.epochs,
                data={**snapshot.summary(), **split.summary()},
                evaluable_users=exam.evaluable_users,
                history=evaluated.history,
            ),
            metrics,
            table,
        )
        mlflow.log_text(report, QUALITY_REPORT)
    log.info(
        "train %s: version %s -> %s (%s); %s %.4f vs popularity %.4f",
        run_date,
        model_version,
        decision.alias,
        decision.reason,
        settings.gate_metric,
        metrics.get(settings.gate_metric, math.nan),
        metrics.get(f"baseline_popularity_{settings.gate_metric}", math.nan),
    )
    return {
        "stage": "train",
        "run_date": run_date.isoformat(),
        "status": "ok",
        "model_version": model_version,
        "alias": decision.alias,
        "reason": decision.reason,
        "champion_metric": decision.champion_metric,
        "mlflow_run_id": run.info.run_id,
        "tracking_uri": tracking_uri(settings),
        "evaluable_users": exam.evaluable_users,
        "epochs": evaluated.epochs,
        "metrics": {k: round(v, 5) for k, v in finite.items()},
    }


def train(settings: Settings, run_date: date) -> dict[str, Any]:
    """The whole stage in one process: export, then fit, judge, log and gate."""
    folder = export_snapshot(settings, run_date)
    return train_model(settings, run_date, folder)
