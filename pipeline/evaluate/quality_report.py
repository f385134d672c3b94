"""The night's one-page quality report (Markdown), logged beside the plots of its MLflow run.

It answers, in order: what was trained and what the gate decided; for every metric, whether the
model beats the best baseline (and which one that is); per task, whether multi-task learning
helped (when the single-task control ran); and how training went.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from pipeline.evaluate.baseline_registry import new_item_yardsticks
from pipeline.metrics.catalogue import (
    TASKS,
    better,
    lower_is_better,
    sign,
    single_key,
    task_metrics,
)

QUALITY_REPORT = "quality_report.md"
NOT_RANKERS = {"metric", "model", "single_task"}


@dataclass
class NightFacts:
    run_date: date
    model_version: str
    alias: str
    reason: str
    architecture: str
    loss_weighting: str
    epochs: int
    data: dict[str, Any]
    evaluable_users: int
    history: list[dict[str, float]] = field(default_factory=list)
    skipped_baselines: dict[str, str] = field(default_factory=dict)  # name -> why
    figures: dict[str, str] = field(default_factory=dict)  # artifact path -> caption, in order


def verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """Per metric: the model, the best baseline (name and value), the model's lead over it (in
    the metric's unit; negative: the model trails) and whether the model beats it."""
    rankers = [c for c in table.columns if c not in NOT_RANKERS | new_item_yardsticks()]
    rows = []
    for _, row in table.iterrows():
        metric, model = row["metric"], row["model"]
        scored = {r: row[r] for r in rankers if pd.notna(row[r])}
        if not scored or model is None or pd.isna(model):
            continue
        pick = min if lower_is_better(metric) else max
        best = pick(sorted(scored), key=lambda r: scored[r])
        rows.append(
            {
                "metric": metric,
                "model": model,
                "best baseline": best,
                "its value": scored[best],
                "model's lead": (model - scored[best]) * sign(metric),
                "model beats it": "yes" if better(metric, model, scored[best]) else "**no**",
            }
        )
    return pd.DataFrame(rows)


def multi_vs_single(metrics: dict[str, float]) -> pd.DataFrame:
    """Per task metric: multi-task, single-task, the difference and whether multi-task helped."""
    rows = []
    for task in TASKS:
        for name in task_metrics(task):
            alone = metrics.get(single_key(task, name))
            together = metrics.get(name)
            if alone is None or together is None or math.isnan(alone) or math.isnan(together):
                continue
            rows.append(
                {
                    "task": task,
                    "metric": name,
                    "multi-task": together,
                    "single-task": alone,
                    "difference": together - alone,
                    "multi-task helps": (
                        "equal"
                        if together == alone
                        else "yes"
                        if better(name, together, alone)
                        else "**no**"
                    ),
                }
            )
    return pd.DataFrame(rows)


def _markdown(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False, floatfmt=".4f")


def quality_report(facts: NightFacts, metrics: dict[str, float], table: pd.DataFrame) -> str:
    lines = [
        f"# Quality report: night {facts.run_date.isoformat()}",
        "",
        f"- Model version **{facts.model_version}** -> `{facts.alias}` ({facts.reason}).",
        f"- Architecture `{facts.architecture}`, loss weighting `{facts.loss_weighting}`, "
        f"{facts.epochs} epochs (chosen by early stopping when there was a validation week).",
        "- Data: " + ", ".join(f"{k} {v:,}" for k, v in facts.data.items()) + ".",
        f"- Judged on {facts.evaluable_users:,} users with a holdout item they had not seen.",
        "",
        "## The model against the best baseline",
        "",
        "Ranking metrics are @10 over the released catalogue, seen items excluded; lower is "
        "better for rating RMSE and MAE. `random_new` (a yardstick for new items only) is left "
        "out of the best-baseline column.",
        "",
    ]
    judged = verdicts(table)
    lines.append(_markdown(judged) if len(judged) else "No metric could be compared.")
    for name, why in facts.skipped_baselines.items():
        lines.append(f"\n`{name}` did not run tonight: {why}.")
    lines += ["", "## Multi-task vs each task trained alone", ""]
    deltas = multi_vs_single(metrics)
    if len(deltas):
        lines += [
            "Same data, seed, architecture and epoch budget. Each task alone is trained with "
            "fixed weight 1 and stopped on its own validation metric (interaction: NDCG@10, "
            "rating: RMSE; social: the multi-task epochs), while the multi-task model stops on "
            "NDCG@10: the rating comparison leans towards the single-task model.",
            "",
            _markdown(deltas),
        ]
    else:
        lines.append(
            "The single-task control did not run tonight "
            "(`RECSYS_TRAIN_SINGLE_TASK_CONTROL=true` turns it on)."
        )
    lines += ["", "## Every metric", "", _markdown(table), "", "## Training", ""]
    if facts.history:
        last = facts.history[-1]
        lines.append(
            f"{len(facts.history)} epochs run; last epoch: "
            + ", ".join(f"{k} {v:.4f}" for k, v in last.items() if k != "epoch")
            + "."
        )
    if facts.figures:
        lines += ["", "## Pictures", ""]
        for path, caption in facts.figures.items():
            lines += [f"### {caption}", "", f"![{caption}]({path})", ""]
    return "\n".join(lines)
