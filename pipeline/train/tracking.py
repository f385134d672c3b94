"""What one night's MLflow run records: params, per-epoch losses, metrics beside the baselines
(a table and plots) and the one-page quality report."""

from __future__ import annotations

import math
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Any

import matplotlib.pyplot as plt
import mlflow
import pandas as pd
from matplotlib.figure import Figure
from mlflow.tracking import MlflowClient

from pipeline.core.config import Settings
from pipeline.evaluate.baseline_registry import skipped_baselines
from pipeline.evaluate.comparison import comparison_table
from pipeline.evaluate.exam import Exam
from pipeline.evaluate.html_report import QUALITY_REPORT_HTML, html_page
from pipeline.evaluate.plots import (
    GROUPS,
    heading,
    lead_over_baselines,
    loss_curves,
    png,
    slug,
    trends,
    vs_baselines,
)
from pipeline.evaluate.quality_report import QUALITY_REPORT, NightFacts, quality_report
from pipeline.evaluate.split import Split
from pipeline.learn.data.snapshot import Snapshot
from pipeline.learn.ensemble.fit import Fitted
from pipeline.learn.towers.train_config import TrainConfig
from pipeline.train.gate import Decision
from pipeline.train.train_start import TrainStart
from pipeline.train.trends import night_trends
from pipeline.train.tuned_settings import tuned_record

TRENDS = "plots/trends.png"


@dataclass
class TrainedNight:
    """Everything a night's training produced: what is logged, registered and gated."""

    run_date: date
    snapshot: Snapshot
    split: Split
    exam: Exam
    cfg: TrainConfig
    evaluated: Fitted  # fitted before the holdout: the one the metrics judge
    served: Fitted  # refitted on every event (or `evaluated` itself): the one registered
    metrics: dict[str, float]
    start: TrainStart = field(default_factory=lambda: TrainStart.full(date.min, "full"))
    # the newest event each fit learned from (evaluated, served): a later warm start's "since"
    data_ends: tuple[float, float] = (0.0, 0.0)
    full_epochs: int = 0  # epochs of the full fit this model descends from

    @property
    def data(self) -> dict[str, int]:
        return {**self.snapshot.summary(), **self.split.summary()}

    @property
    def finite_metrics(self) -> dict[str, float]:
        return {k: v for k, v in self.metrics.items() if not math.isnan(v)}


def run_params(settings: Settings, night: TrainedNight) -> dict[str, Any]:
    cfg, model_cfg = night.cfg, night.evaluated.model.cfg
    return {
        **{k: v for k, v in asdict(cfg).items() if k not in ("model", "loss_weights")},
        **{f"loss_weight_{k}": v for k, v in cfg.loss_weights.items()},
        **{f"model_{k}": v for k, v in model_cfg.to_dict().items()},
        "run_date": night.run_date.isoformat(),
        "holdout_days": settings.holdout_days,
        "embedding_model": night.snapshot.embedding_model,
        "architecture": model_cfg.architecture,
        "single_task_control": settings.train.single_task_control,
        "epochs_chosen": night.evaluated.epochs,
        "train_mode": night.start.mode,
        "parent_version": night.start.parent_version or "none",
        **night.evaluated.recommender.describe(),
        "refit": settings.train.refit,
        "gate_metric": settings.gate.metric,
        "gate_tolerance": settings.gate.tolerance,
        "gate_baselines": ",".join(settings.gate.baselines),
        "tuned_config": str(settings.tuned_path) if tuned_record(settings) else "none",
        **{f"data_{k}": v for k, v in night.data.items()},
        "evaluable_users": night.exam.evaluable_users,
        "cold_evaluable_users": len(night.exam.cold_truth),
    }


def log_history(night: TrainedNight) -> None:
    """Per-epoch losses and validation metrics; the serving refit's under `refit_`."""
    fits = [("", night.evaluated)]
    if night.served is not night.evaluated:
        fits.append(("refit_", night.served))
    for prefix, fitted in fits:
        for row in fitted.epoch_log:
            values = {f"{prefix}{k}": v for k, v in row.items() if k != "epoch"}
            mlflow.log_metrics(values, step=int(row["epoch"]))


@dataclass
class Pictures:
    """The night's figures as logged: artifact path -> (caption, PNG bytes), in report order."""

    logged: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    def log(self, path: str, caption: str, fig: Figure | None, first: bool = False) -> None:
        if fig is None:
            return
        image = png(fig)  # drawn once: the artifact and the HTML page get the same bytes
        plt.close(fig)  # a night draws a dozen; matplotlib keeps every open one
        with tempfile.TemporaryDirectory() as tmp:
            file = Path(tmp) / PurePosixPath(path).name
            file.write_bytes(image)
            mlflow.log_artifact(str(file), str(PurePosixPath(path).parent))
        entry = {path: (caption, image)}
        self.logged = {**entry, **self.logged} if first else {**self.logged, **entry}

    @property
    def captions(self) -> dict[str, str]:
        return {path: caption for path, (caption, _) in self.logged.items()}

    @property
    def images(self) -> dict[str, bytes]:
        return {path: image for path, (_, image) in self.logged.items()}


def log_evaluation(night: TrainedNight) -> tuple[pd.DataFrame, Pictures]:
    """Metrics, the metrics-vs-baselines table and the figures; returns the table and figures."""
    log_history(night)
    mlflow.log_metrics(night.finite_metrics)
    mlflow.log_metric("evaluable_users", night.exam.evaluable_users)
    table = comparison_table(night.metrics)
    mlflow.log_table(table, artifact_file="metrics_vs_baselines.json")
    mlflow.log_text(table.to_markdown(index=False, floatfmt=".4f"), "metrics_vs_baselines.md")
    pictures = Pictures()
    pictures.log(
        "plots/lead_over_baselines.png",
        "The model's lead over the best baseline",
        lead_over_baselines(night.metrics),
    )
    for group in sorted(GROUPS, key=lambda g: g != "ranking"):  # the lists first
        pictures.log(
            f"plots/vs_baselines_{slug(group)}.png",
            f"{heading(group)}: every ranker",
            vs_baselines(night.metrics, group),
        )
    pictures.log(
        "plots/loss_curves.png",
        "Training (evaluation fit)",
        loss_curves(night.evaluated.epoch_log, "evaluation fit"),
    )
    if night.served is not night.evaluated:
        pictures.log(
            "plots/refit_loss.png",
            "Training (serving refit)",
            loss_curves(night.served.epoch_log, "serving refit"),
        )
    return table, pictures


def trends_figure(
    client: MlflowClient, settings: Settings, night: TrainedNight, run_id: str
) -> Figure | None:
    """What `plots/trends.png` shows: the experiment's last nights, tonight's (and its gate
    decision) included."""
    experiment_id = client.get_run(run_id).info.experiment_id
    nights = night_trends(client, experiment_id, night.run_date, settings.gate.metric)
    return trends(nights, settings.gate.metric) if len(nights) else None


def log_quality_report(
    night: TrainedNight,
    model_version: str,
    decision: Decision,
    table: pd.DataFrame,
    pictures: Pictures,
) -> None:
    """The one-page report, as Markdown and as a self-contained HTML page."""
    facts = NightFacts(
        run_date=night.run_date,
        model_version=model_version,
        alias=decision.alias,
        reason=decision.reason,
        architecture=night.evaluated.model.cfg.architecture,
        loss_weighting=night.cfg.loss_weighting,
        epochs=night.evaluated.epochs,
        data=night.data,
        evaluable_users=night.exam.evaluable_users,
        history=night.evaluated.epoch_log,
        skipped_baselines=skipped_baselines(night.snapshot),
        figures=pictures.captions,
    )
    text = quality_report(facts, night.metrics, table)
    mlflow.log_text(text, QUALITY_REPORT)
    title = f"Quality report: night {night.run_date.isoformat()}"
    mlflow.log_text(html_page(text, pictures.images, title), QUALITY_REPORT_HTML)
