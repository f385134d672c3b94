"""The last nights of the experiment, read back from MLflow: what `plots/trends.png` draws.

One row per run date up to tonight's (a rerun of a date replaces it: its latest train run counts),
at most `NIGHTS` of them: the model's metrics, the best baseline on the gate metric and whether
that night's model became champion (the run's `gate_alias` tag).
"""

from __future__ import annotations

import math
from datetime import date

import pandas as pd
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from pipeline.evaluate.baseline_registry import baseline_names, new_item_yardsticks
from pipeline.metrics.catalogue import baseline_key, better

NIGHTS = 30
# the train runs of the experiment that are read; several per night are possible (reruns)
MAX_RUNS = 500


def best_baseline(metrics: dict[str, float], gate_metric: str) -> tuple[str | None, float]:
    """The baseline with the best value of the gate metric in one night's metrics."""
    best: tuple[str | None, float] = (None, math.nan)
    yardsticks = new_item_yardsticks()
    for name in baseline_names():
        value = metrics.get(baseline_key(name, gate_metric))
        if name in yardsticks or value is None or math.isnan(value):
            continue
        if best[0] is None or better(gate_metric, value, best[1]):
            best = (name, value)
    return best


def night_trends(
    client: MlflowClient,
    experiment_id: str,
    until: date,
    gate_metric: str,
    nights: int = NIGHTS,
) -> pd.DataFrame:
    """The last `nights` run dates up to `until`, one row each, oldest first."""
    runs = client.search_runs(
        [experiment_id],
        filter_string="tags.stage = 'train'",
        order_by=["attributes.start_time DESC"],
        max_results=MAX_RUNS,
    )
    latest: dict[str, Run] = {}
    for run in runs:  # newest first: the first run seen for a date is the one that counts
        day = run.data.tags.get("run_date")
        if day and day <= until.isoformat() and day not in latest:
            latest[day] = run
    rows = []
    for day in sorted(latest)[-nights:]:
        run = latest[day]
        metrics = dict(run.data.metrics)
        name, value = best_baseline(metrics, gate_metric)
        rows.append(
            {
                "run_date": day,
                **metrics,
                "best_baseline": name,
                "best_baseline_value": value,
                "champion": run.data.tags.get("gate_alias") == "champion",
            }
        )
    return pd.DataFrame(rows)
