"""Which way tonight trains (`RECSYS_TRAIN_MODE`), and the warm-start state each run keeps.

Every run logs, beside its registered model, the two fitted models a later night can start from
(`warm_start/evaluated`: fitted before the holdout, the one the metrics judged; `warm_start/
served`: refitted on every event). A warm night starts its evaluated model from the parent's
evaluated one and its served model from the parent's served one, so the holdout stays unseen
by the model it judges. The parent is the champion (or, on a rerun of a night whose model
became champion, that model's own parent, so a rerun trains what the first run trained).

`auto` trains full when there is no champion, when the champion has no warm-start state, when
its text model differs from tonight's, every `RECSYS_TRAIN_FULL_EVERY_DAYS`, when the
architecture changed (`WarmStartError` from the fit) and when a warm candidate fails the gate.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient

from pipeline.core.config import Settings
from pipeline.core.modes import TrainMode
from pipeline.evaluate.baseline_registry import warm_params
from pipeline.learn.ensemble.bundle import load_bundle, save_model
from pipeline.learn.ensemble.fit import Fitted
from pipeline.learn.ensemble.warm_state import WarmStart
from pipeline.train.gate import champion_version

log = logging.getLogger(__name__)

WARM_ARTIFACT = "warm_start"
FULL, WARM = TrainMode.FULL, TrainMode.WARM


@dataclass
class TrainStart:
    """How tonight trains: `mode`, why, and for a warm night what it starts from."""

    mode: str  # full | warm
    reason: str
    full_trained_on: date  # the full retrain this model descends from (tonight's, when full)
    parent_version: str | None = None
    evaluated: WarmStart | None = None
    served: WarmStart | None = None
    # the parent's tuned baseline parameters: a warm night's baselines reuse them, untuned
    baseline_params: dict[str, float] = field(default_factory=dict)

    @classmethod
    def full(cls, run_date: date, reason: str) -> TrainStart:
        return cls(FULL, reason, run_date)

    def tags(self) -> dict[str, str]:
        return {
            "train_mode": self.mode,
            "train_mode_reason": self.reason,
            "full_trained_on": self.full_trained_on.isoformat(),
            "parent_version": self.parent_version or "none",
        }


def train_start(
    settings: Settings, client: MlflowClient, run_date: date, embedding_model: str
) -> TrainStart:
    """Tonight's mode under `RECSYS_TRAIN_MODE`, with the parent's states loaded when warm."""
    wanted = settings.train.mode
    if wanted == FULL:
        return TrainStart.full(run_date, "RECSYS_TRAIN_MODE=full")
    parent = _parent(client, settings.registered_model, run_date)
    if parent is None:
        return TrainStart.full(run_date, "no champion trained before this night")
    run = client.get_run(parent.run_id)
    tags = run.data.tags
    if tags.get("train_mode") is None:
        return TrainStart.full(run_date, f"version {parent.version} has no warm-start state")
    if run.data.params.get("embedding_model") != embedding_model:
        return TrainStart.full(run_date, f"the text model changed since version {parent.version}")
    full_on = date.fromisoformat(tags["full_trained_on"])
    age = (run_date - full_on).days
    if wanted == "auto" and age >= settings.train.full_every_days:
        return TrainStart.full(
            run_date, f"{age} days since the last full retrain (RECSYS_TRAIN_FULL_EVERY_DAYS)"
        )
    evaluated, served = states_of(parent.run_id)
    return TrainStart(
        WARM,
        f"from version {parent.version} of {tags.get('run_date')}",
        full_on,
        str(parent.version),
        evaluated,
        served,
        {k: v for k, v in run.data.metrics.items() if k in set(warm_params())},
    )


def _parent(client: MlflowClient, name: str, run_date: date) -> Any | None:
    """The champion, or along its parents the first trained before `run_date`."""
    version = champion_version(client, name)
    while version is not None:
        tags = client.get_run(version.run_id).data.tags
        trained = tags.get("run_date")
        if trained is not None and date.fromisoformat(trained) < run_date:
            return version
        parent = tags.get("parent_version", "none")
        version = None if parent == "none" else client.get_model_version(name, parent)
    return None


def states_of(run_id: str) -> tuple[WarmStart, WarmStart]:
    """The warm-start states (evaluated, served) a run logged."""
    with tempfile.TemporaryDirectory(prefix="recsys-warm-") as tmp:
        folder = Path(
            mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=WARM_ARTIFACT, dst_path=tmp
            )
        )
        return read_state(folder / "evaluated"), read_state(folder / "served")


def read_state(folder: Path) -> WarmStart:
    meta = WarmStart.read(folder)
    return WarmStart(load_bundle(folder), meta["data_end_s"], meta["epochs"], meta["moments"])


def log_states(
    evaluated: Fitted, served: Fitted, data_ends: tuple[float, float], epochs: int, on: date
) -> None:
    """Tonight's two fitted models as the run's warm-start state (in the active MLflow run)."""
    with tempfile.TemporaryDirectory(prefix="recsys-warm-") as tmp:
        for name, fitted, end in (
            ("evaluated", evaluated, data_ends[0]),
            ("served", served, data_ends[1]),
        ):
            folder = Path(tmp) / name
            fitted.recommender.trained_on = on
            save_model(fitted.recommender, folder)
            WarmStart(fitted.recommender, end, epochs, fitted.moments).write(folder)
        mlflow.log_artifacts(tmp, WARM_ARTIFACT)
