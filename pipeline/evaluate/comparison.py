"""The metrics-vs-baselines table: one row per metric, one column per ranker."""

from __future__ import annotations

from typing import Any

import pandas as pd

from pipeline.evaluate.baseline_registry import baseline_names
from pipeline.metrics.catalogue import NAMES, parse_key


def comparison_table(
    metrics: dict[str, float], baselines: tuple[str, ...] | None = None
) -> pd.DataFrame:
    """One row per metric: the model's value, each baseline's and, when the single-task control
    ran, the task trained alone. Keys are read through the catalogue (`parse_key`)."""
    by_ranker: dict[str, dict[str, float]] = {}
    single: dict[str, float] = {}
    for key, value in metrics.items():
        parsed = parse_key(key, baseline_names() if baselines is None else baselines)
        if parsed is None or parsed.source == "model":
            continue
        if parsed.source == "baseline":
            by_ranker.setdefault(str(parsed.name), {})[parsed.metric] = value
        else:
            single[parsed.metric] = value
    names = [m for m in NAMES if m in metrics or any(m in b for b in by_ranker.values())]
    rows = []
    for name in names:
        row: dict[str, Any] = {"metric": name, "model": metrics.get(name)}
        if single:
            row["single_task"] = single.get(name)
        for ranker in sorted(by_ranker):
            row[ranker] = by_ranker[ranker].get(name)
        rows.append(row)
    return pd.DataFrame(rows)
