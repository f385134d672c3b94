"""The served model: an MLflow pyfunc that scores the night it was trained on exactly as the night
ranked it.

`score` is the number `marts.recommendations` of that night was ranked by (the towers' interaction
score plus every score term), so the pyfunc's top-N of a user's unseen items is the night's list;
`rating` the rating head's prediction blended with the rating term. Both come from the bundle's
`Scores` (`pipeline.learn.ensemble.recommender`), the one contract every caller scores through.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

# the factor term folds users in with `implicit` (its BLAS held to one thread by threadpoolctl)
SERVED_PACKAGES = (
    "mlflow", "torch", "numpy", "pandas", "pyarrow", "scipy", "implicit", "threadpoolctl",
)  # fmt: skip


class RecsysPyfunc(mlflow.pyfunc.PythonModel):
    """Scores (user_id, item_id) pairs of the night it was trained on.

    `score`: the interaction score the night's lists were ranked by (higher ranks first);
    `rating`: the predicted rating. Unknown ids get NaN. The nightly `recommend` stage uses
    `recommender` to encode its own night.
    """

    def __getstate__(self) -> dict[str, Any]:
        # what `load_context` loaded (the recommender, every user's vectors) is rebuilt on load:
        # the pickle MLflow stores holds none of it, so no user id lives in python_model.pkl
        return {}

    def load_context(self, context: Any) -> None:
        from pipeline.learn.ensemble.bundle import load_bundle, saved_night

        folder = Path(context.artifacts["bundle"])
        self.recommender = load_bundle(folder)
        user_ids, item_ids, self.night = saved_night(self.recommender, folder)
        self.user_row = {u: i for i, u in enumerate(user_ids)}
        self.item_row = {v: i for i, v in enumerate(item_ids)}

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        import numpy as np

        frame = pd.DataFrame(model_input)
        u = frame["user_id"].astype(str).map(self.user_row)
        i = frame["item_id"].astype(str).map(self.item_row)
        known = (u.notna() & i.notna()).to_numpy()
        score = np.full(len(frame), np.nan)
        rating = np.full(len(frame), np.nan)
        if known.any():
            rows_u, rows_i = u[known].astype(int).to_numpy(), i[known].astype(int).to_numpy()
            score[known] = self.night.scores_of(rows_u, rows_i)
            rating[known] = self.night.ratings(rows_u, rows_i)
        return pd.DataFrame({"score": score, "rating": rating})


def served_requirements() -> list[str]:
    return [f"{name}=={version(name)}" for name in SERVED_PACKAGES]
