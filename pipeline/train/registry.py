"""MLflow: where this installation's runs and registry live, the served model's registration,
and the champion the nightly `recommend` serves."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.learn.data.snapshot import Snapshot
from pipeline.learn.ensemble.bundle import save_bundle
from pipeline.learn.ensemble.fit import Fitted
from pipeline.train.gate import CHAMPION, champion_version
from pipeline.train.model_integrity import load_verified, sign_version
from pipeline.train.served_model import RecsysPyfunc, served_requirements


def tracking_uri(settings: Settings) -> str:
    return settings.mlflow.tracking_uri or f"sqlite:///{settings.home / 'mlflow.db'}"


def use_tracking(settings: Settings) -> MlflowClient:
    """Point MLflow at this installation; create the experiment with local artifacts if new."""
    settings.home.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri(settings))
    mlflow.set_registry_uri(tracking_uri(settings))
    client = MlflowClient()
    if client.get_experiment_by_name(settings.mlflow.experiment) is None:
        root = settings.mlflow.artifact_root or None  # empty (compose's default): unset
        if root is None and not tracking_uri(settings).startswith(("http://", "https://")):
            root = (settings.home / "mlartifacts").as_uri()
        # None: a tracking server's own default, `mlflow-artifacts:/<experiment id>` (proxied);
        # its authentication maps such paths to the experiment's permissions
        client.create_experiment(settings.mlflow.experiment, artifact_location=root)
    mlflow.set_experiment(settings.mlflow.experiment)
    return client


def log_served_model(bundle_dir: Path, settings: Settings, example: pd.DataFrame) -> Any:
    """Log the bundle as a pyfunc model and register it; return MLflow's ModelInfo."""
    model = RecsysPyfunc()
    context = type("Context", (), {"artifacts": {"bundle": str(bundle_dir)}})()
    model.load_context(context)
    signature = infer_signature(example, model.predict(context, example))
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=model,
        artifacts={"bundle": str(bundle_dir)},
        signature=signature,
        input_example=example,
        pip_requirements=served_requirements(),
        registered_model_name=settings.registered_model,
    )
    # before anyone can serve it: the gate moves the alias only after this returns
    sign_version(MlflowClient(), settings.registered_model, str(info.registered_model_version))
    return info


def register_model(settings: Settings, served: Fitted, snapshot: Snapshot, trained_on: date) -> str:
    """Save the served recommender with its night, log and register it; returns the
    new model version."""
    with tempfile.TemporaryDirectory(prefix="recsys-model-") as tmp:
        served.recommender.trained_on = trained_on
        bundle_dir = save_bundle(served.recommender, Path(tmp) / "bundle", snapshot)
        first = snapshot.events.iloc[: min(5, len(snapshot.events))]
        example = pd.DataFrame(
            {
                "user_id": snapshot.users["user_id"].iloc[first["user"]].astype(str).tolist(),
                "item_id": snapshot.items["item_id"].iloc[first["item"]].astype(str).tolist(),
            }
        )
        info = log_served_model(bundle_dir, settings, example)
    return str(info.registered_model_version)


def load_champion(settings: Settings) -> tuple[Any, Any]:
    """(the champion's Recommender, its model version): never a challenger, never a hard-coded version."""
    client = use_tracking(settings)
    found = champion_version(client, settings.registered_model)
    if found is None:
        raise RecsysError(
            f"no `{CHAMPION}` version of the model {settings.registered_model!r} in "
            f"{tracking_uri(settings)}: run `recsys train` (a model that does not beat the "
            "baselines never becomes champion)"
        )
    # By the version the alias pointed to when read: a concurrent train moving the alias cannot
    # make the label and the weights disagree. Its files are checked against the manifest
    # recorded at registration, and the pickle is never loaded (`model_integrity.py`).
    return load_verified(client, found), found
