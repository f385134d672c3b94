"""The served model: an MLflow pyfunc over the vector tables of the night it was trained on."""

from __future__ import annotations

import importlib
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

SERVED_PACKAGES = ("mlflow", "torch", "numpy", "pandas", "pyarrow", "scipy")
# Versions registered before the package was split into stage subpackages pickled their classes
# under these module names (pipeline.registry.RecsysPyfunc, pipeline.bundle.Bundle, ...): each
# maps to the module that holds those classes now, so a champion of that time still loads.
LEGACY_MODULES = {
    "pipeline.registry": "pipeline.train.served_model",
    "pipeline.bundle": "pipeline.learn.bundle",
    "pipeline.model": "pipeline.learn.model",
    "pipeline.feature_space": "pipeline.learn.feature_space",
}


def register_legacy_modules() -> None:
    """Make the old module names importable (as the new modules) before unpickling a model."""
    for old, new in LEGACY_MODULES.items():
        sys.modules.setdefault(old, importlib.import_module(new))


class RecsysPyfunc(mlflow.pyfunc.PythonModel):
    """Scores (user_id, item_id) pairs with the vector tables of the night it was trained on.

    `score` is the interaction probability sigmoid(user · item); `rating` the rating head's prediction.
    Unknown ids get NaN. The nightly `recommend` stage uses `bundle` to encode its own night.
    """

    def __getstate__(self) -> dict[str, Any]:
        # what `load_context` loaded (the bundle, every user's vectors) is rebuilt on load: the
        # pickle MLflow stores holds none of it, so no user id lives in python_model.pkl
        return {}

    def load_context(self, context: Any) -> None:
        from pipeline.learn.bundle import RATING_USERS_FILE, Bundle, read_vectors
        from pipeline.learn.rating_path import UserRatings

        folder = Path(context.artifacts["bundle"])
        self.bundle = Bundle.load(folder)
        user_ids, self.user_vectors = read_vectors(folder / "users.parquet", "user_id")
        item_ids, self.item_vectors = read_vectors(folder / "items.parquet", "item_id")
        _, self.user_rating = read_vectors(folder / "users.parquet", "user_id", "rating_vector")
        _, self.item_rating = read_vectors(folder / "items.parquet", "item_id", "rating_vector")
        # the rating path's view of the night's users (bundles with a rating path only)
        state = folder / RATING_USERS_FILE
        self.rating_users = UserRatings.from_bytes(state.read_bytes()) if state.exists() else None
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
            rating[known] = self.bundle.model.with_rating_path(
                predicted.numpy(), self.rating_users, rows_u, rows_i
            )
        return pd.DataFrame({"score": score, "rating": rating})


def served_requirements() -> list[str]:
    return [f"{name}=={version(name)}" for name in SERVED_PACKAGES]
