"""The last nights read back from MLflow for `plots/trends.png`."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from pipeline.evaluate.plots import png, trends
from pipeline.train.trends import best_baseline, night_trends


@pytest.fixture
def client(tmp_path: Path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment("trends", artifact_location=(tmp_path / "a").as_uri())
    yield MlflowClient(uri), experiment
    mlflow.set_tracking_uri(None)


def night(experiment: str, day: str, ndcg: float, alias: str, ease: float = 0.1) -> None:
    with mlflow.start_run(experiment_id=experiment):
        mlflow.set_tags({"stage": "train", "run_date": day, "gate_alias": alias})
        mlflow.log_metrics(
            {
                "ndcg_at_10": ndcg,
                "recall_at_10": 2 * ndcg,
                "baseline_ease_ndcg_at_10": ease,
                "baseline_popularity_ndcg_at_10": 0.05,
                "baseline_random_new_ndcg_at_10": 0.9,  # a new-item yardstick, never "best"
            }
        )


def test_three_nights_one_row_each_reruns_replace_and_later_dates_wait(client) -> None:
    client, experiment = client
    night(experiment, "2026-03-01", 0.11, "champion")
    night(experiment, "2026-03-02", 0.10, "champion")
    night(experiment, "2026-03-02", 0.12, "challenger")  # a rerun of the 2nd: it counts
    night(experiment, "2026-03-03", 0.13, "champion", ease=0.14)
    night(experiment, "2026-03-04", 0.50, "champion")  # after the night being drawn
    with mlflow.start_run(experiment_id=experiment):
        mlflow.set_tags({"stage": "embed", "run_date": "2026-03-03"})  # not a train run

    nights = night_trends(client, experiment, date(2026, 3, 3), "ndcg_at_10")
    assert list(nights["run_date"]) == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert list(nights["ndcg_at_10"]) == [0.11, 0.12, 0.13]
    assert list(nights["champion"]) == [True, False, True]
    assert list(nights["best_baseline"]) == ["ease"] * 3
    assert list(nights["best_baseline_value"]) == [0.1, 0.1, 0.14]
    assert list(
        night_trends(client, experiment, date(2026, 3, 3), "ndcg_at_10", 2)["run_date"]
    ) == [
        "2026-03-02",
        "2026-03-03",
    ]

    fig = trends(nights, "ndcg_at_10")
    width, height = Image.open(io.BytesIO(png(fig))).size
    assert width == 1000 and 600 <= height <= 1400
    assert len(fig.axes[0].lines[0].get_xdata()) == 3


def test_the_best_baseline_follows_the_metric_direction() -> None:
    metrics = {"baseline_mf_rating_rmse": 0.9, "baseline_bias_rating_rmse": 0.95}
    assert best_baseline(metrics, "rating_rmse") == ("mf", 0.9)
    assert best_baseline({}, "ndcg_at_10")[0] is None
