"""MLflow: one run per night, the served model registered as `recsys_mtl`, and the champion gate.

Gate (the only way the `champion` alias moves):
- too few evaluable users tonight (< `gate_min_eval_users`): a first model becomes champion with
  the reason `insufficient_holdout`; with a champion in place, the champion stays;
- otherwise the candidate must beat popularity (for a rating metric: the bias model) on the
  primary metric, and reach the primary metric
  its champion scored on its own night, less `gate_tolerance`;
- a candidate that fails becomes `challenger`; the reason is a tag on the version and the run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError

log = logging.getLogger(__name__)

CHAMPION, CHALLENGER = "champion", "challenger"
LOWER_IS_BETTER = {"rating_rmse", "rating_mae"}
SERVED_PACKAGES = ("mlflow", "torch", "numpy", "pandas", "pyarrow", "scipy")


class RecsysPyfunc(mlflow.pyfunc.PythonModel):
    """Scores (user_id, item_id) pairs with the vector tables of the night it was trained on.

    `score` is the interaction probability sigmoid(user · item); `rating` the rating head's prediction.
    Unknown ids get NaN. The nightly `recommend` stage uses `bundle` to encode its own night.
    """

    def load_context(self, context: Any) -> None:
        from pipeline.learn.bundle import Bundle, read_vectors

        folder = Path(context.artifacts["bundle"])
        self.bundle = Bundle.load(folder)
        user_ids, self.user_vectors = read_vectors(folder / "users.parquet", "user_id")
        item_ids, self.item_vectors = read_vectors(folder / "items.parquet", "item_id")
        _, self.user_rating = read_vectors(folder / "users.parquet", "user_id", "rating_vector")
        _, self.item_rating = read_vectors(folder / "items.parquet", "item_id", "rating_vector")
        self.user_row = {u: i for i, u in enumerate(user_ids)}
        self.item_row = {v: i for i, v in enumerate(item_ids)}

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        import numpy as np
        import torch

        frame = pd.DataFrame(model_input)
        u = frame["user_id"].astype(str).map(self.user_row)
        i = frame["item_id"].astype(str).map(self.item_row)
        known = (u.notna() & i.notna()).to_numpy()
        score = np.full(len(frame), np.nan)
        rating = np.full(len(frame), np.nan)
        if known.any():
            rows_u, rows_i = u[known].astype(int).to_numpy(), i[known].astype(int).to_numpy()
            uv, iv = self.user_vectors[rows_u], self.item_vectors[rows_i]
            score[known] = 1.0 / (1.0 + np.exp(-np.sum(uv * iv, axis=1)))
            with torch.no_grad():
                predicted = self.bundle.model.rating(
                    torch.as_tensor(self.user_rating[rows_u]),
                    torch.as_tensor(self.item_rating[rows_i]),
                )
            rating[known] = predicted.numpy()
        return pd.DataFrame({"score": score, "rating": rating})


def tracking_uri(settings: Settings) -> str:
    return settings.mlflow_tracking_uri or f"sqlite:///{settings.home / 'mlflow.db'}"


def use_tracking(settings: Settings) -> MlflowClient:
    """Point MLflow at this installation; create the experiment with local artifacts if new."""
    settings.home.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri(settings))
    mlflow.set_registry_uri(tracking_uri(settings))
    client = MlflowClient()
    if client.get_experiment_by_name(settings.mlflow_experiment) is None:
        root = settings.mlflow_artifact_root or (settings.home / "mlartifacts").as_uri()
        client.create_experiment(settings.mlflow_experiment, artifact_location=str(root))
    mlflow.set_experiment(settings.mlflow_experiment)
    return client


def champion_version(client: MlflowClient, name: str) -> Any | None:
    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


@dataclass
class Decision:
    alias: str
    reason: str
    champion_metric: float | None = None


def better_or_equal(metric: str, value: float, reference: float, tolerance: float) -> bool:
    if metric in LOWER_IS_BETTER:
        return value <= reference + tolerance
    return value >= reference - tolerance


def decide(
    settings: Settings, metrics: dict[str, float], evaluable_users: int, champion_metric: Any
) -> Decision:
    """The gate, as a pure function of tonight's metrics and the champion's own-night metric.

    `champion_metric` is None when there is no champion, else the champion's primary metric (NaN
    when its run did not log one)."""
    primary = settings.gate_metric
    has_champion = champion_metric is not None
    if evaluable_users < settings.gate_min_eval_users:
        return Decision(CHALLENGER if has_champion else CHAMPION, "insufficient_holdout")
    value = metrics.get(primary, float("nan"))
    # Ranking metrics must beat popularity; rating metrics (which popularity lacks) the bias model.
    yardstick = "bias" if primary in LOWER_IS_BETTER else "popularity"
    reference = metrics.get(f"baseline_{yardstick}_{primary}", float("nan"))
    beats = (value < reference) if primary in LOWER_IS_BETTER else (value > reference)
    if not beats:
        return Decision(CHALLENGER, f"does_not_beat_{yardstick}", champion_metric)
    if not has_champion:
        return Decision(CHAMPION, "first_model_beats_popularity")
    if champion_metric != champion_metric:  # NaN: the champion's run has no such metric
        return Decision(CHAMPION, "champion_has_no_primary_metric", champion_metric)
    if better_or_equal(primary, value, float(champion_metric), settings.gate_tolerance):
        return Decision(CHAMPION, "at_least_as_good_as_champion", champion_metric)
    return Decision(CHALLENGER, "below_champion", champion_metric)


def served_requirements() -> list[str]:
    return [f"{name}=={version(name)}" for name in SERVED_PACKAGES]


def log_served_model(bundle_dir: Path, settings: Settings, example: pd.DataFrame) -> Any:
    """Log the bundle as a pyfunc model and register it; return MLflow's ModelInfo."""
    model = RecsysPyfunc()
    context = type("Context", (), {"artifacts": {"bundle": str(bundle_dir)}})()
    model.load_context(context)
    signature = infer_signature(example, model.predict(context, example))
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=model,
        artifacts={"bundle": str(bundle_dir)},
        signature=signature,
        input_example=example,
        pip_requirements=served_requirements(),
        registered_model_name=settings.registered_model,
    )


def apply_decision(
    client: MlflowClient, settings: Settings, model_version: str, decision: Decision, run_id: str
) -> None:
    name = settings.registered_model
    client.set_registered_model_alias(name, decision.alias, model_version)
    for key, value in (("gate_reason", decision.reason), ("gate_alias", decision.alias)):
        client.set_model_version_tag(name, model_version, key, value)
        client.set_tag(run_id, key, value)


def load_champion(settings: Settings) -> tuple[Any, Any]:
    """(the champion's Bundle, its model version): never a challenger, never a hard-coded version."""
    client = use_tracking(settings)
    found = champion_version(client, settings.registered_model)
    if found is None:
        raise RecsysError(
            f"no `{CHAMPION}` version of the model {settings.registered_model!r} in "
            f"{tracking_uri(settings)}: run `recsys train` (a model that does not beat the "
            "baselines never becomes champion)"
        )
    # By the version the alias pointed to when read: a concurrent train moving the alias cannot
    # make the label and the weights disagree.
    loaded = mlflow.pyfunc.load_model(f"models:/{settings.registered_model}/{found.version}")
    return loaded.unwrap_python_model().bundle, found
