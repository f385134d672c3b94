"""The pictures each nightly MLflow run carries: loss curves and metrics beside the baselines."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # no display on workers

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from pipeline.metrics.catalogue import BASELINES, METRICS, baseline_key, lower_is_better

# one panel per catalogue group, in the catalogue's order
GROUPS: dict[str, tuple[str, ...]] = {}
for _metric in METRICS:
    GROUPS[_metric.group] = (*GROUPS.get(_metric.group, ()), _metric.name)
RANKERS = ("model", *BASELINES)


def loss_curves(history: list[dict[str, float]], title: str) -> Figure:
    fig, (losses, validation) = plt.subplots(1, 2, figsize=(10, 3.8))
    epochs = [row["epoch"] for row in history]
    for key in sorted({k for row in history for k in row if k.startswith("loss_")}):
        losses.plot(epochs, [row.get(key, math.nan) for row in history], marker="o", label=key[5:])
    losses.set(title=f"{title}: training loss per task", xlabel="epoch", ylabel="loss")
    losses.legend()
    for key in sorted({k for row in history for k in row if k.startswith("val_")}):
        validation.plot(epochs, [row.get(key, math.nan) for row in history], marker="o", label=key)
    validation.set(title="validation slice", xlabel="epoch")
    if validation.lines:
        validation.legend()
    fig.tight_layout()
    return fig


def metrics_vs_baselines(metrics: dict[str, float]) -> Figure:
    fig, axes = plt.subplots(1, len(GROUPS), figsize=(4.2 * len(GROUPS), 4))
    for ax, (title, names) in zip(axes, GROUPS.items(), strict=True):
        width = 0.8 / len(RANKERS)
        for r, ranker in enumerate(RANKERS):
            values = [
                metrics.get(name if ranker == "model" else baseline_key(ranker, name), math.nan)
                for name in names
            ]
            xs = [n + (r - len(RANKERS) / 2) * width + width / 2 for n in range(len(names))]
            ax.bar(xs, [0 if math.isnan(v) else v for v in values], width, label=ranker)
        ax.set_xticks(range(len(names)), [n.replace("_at_10", "@10") for n in names], rotation=30)
        lower = all(lower_is_better(n) for n in names)
        ax.set_title(f"{title} (lower is better)" if lower else title)
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    return fig
