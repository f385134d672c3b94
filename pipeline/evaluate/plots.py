"""The pictures each nightly MLflow run carries, drawn to be read at the size the MLflow artifact
viewer shows them (about 1000 px wide) with no zooming: one question per figure, text at 11 pt or
more, the model in colour against grey baselines and every bar labelled with its value.

- `lead_over_baselines`: is the model ahead of the best baseline, metric by metric, and by how much?
- `vs_baselines`: every ranker on one group of metrics (ranking, coverage and AUC, rating, social).
- `loss_curves`: how training went, with the epoch the validation slice chose.
- `trends`: how the nightly numbers moved over the last nights (gathered from MLflow by
  `pipeline.train.trends`).
"""

from __future__ import annotations

import io
import itertools
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib

matplotlib.use("Agg")  # no display on workers

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pipeline.evaluate.comparison import comparison_table
from pipeline.evaluate.quality_report import verdicts
from pipeline.metrics.catalogue import BY_NAME, METRICS, lower_is_better

WIDTH = 10.0  # inches; at DPI this is the artifact viewer's width
DPI = 100
MODEL = "#1f6fb4"
BASELINE = "#b8b8b8"
AHEAD, BEHIND = "#2e8b57", "#c0392b"
STYLE = {
    "font.size": 12,
    "axes.titlesize": 14,
    "axes.labelsize": 12,
    "xtick.labelsize": 11,
    "ytick.labelsize": 12,
    "legend.fontsize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.dpi": DPI,
    "figure.dpi": DPI,
}

LEAD_CAP = 100.0  # % : the longest bar of the lead figure

# one figure per catalogue group, in the catalogue's order
GROUPS: dict[str, tuple[str, ...]] = {}
for _metric in METRICS:
    GROUPS[_metric.group] = (*GROUPS.get(_metric.group, ()), _metric.name)


@contextmanager
def legible() -> Iterator[None]:
    with plt.rc_context(STYLE):
        yield


def label(name: str) -> str:
    """`ndcg_at_10` -> `NDCG@10`, `cold_recall_at_10` -> `cold recall@10`."""
    text = name.replace("_at_", "@").replace("_", " ")
    for short in ("ndcg", "map", "auc", "rmse", "mae"):
        text = re.sub(rf"\b{short}\b", short.upper(), text)
    return text


def heading(group: str) -> str:
    """`coverage and AUC` -> `Coverage and AUC` (str.capitalize would lower the AUC)."""
    return group[:1].upper() + group[1:]


def slug(group: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", group.lower()).strip("_")


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes at the viewer's resolution (the HTML report embeds these)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _digits(values: list[float]) -> int:
    """Enough decimals to tell the closest two values apart (3 to 5)."""
    ordered = sorted(v for v in values if not math.isnan(v))
    gaps = [b - a for a, b in itertools.pairwise(ordered) if b > a]
    if not gaps or min(gaps) >= 1e-3:
        return 3
    return 4 if min(gaps) >= 1e-4 else 5


def _ranked_bars(ax: Axes, values: dict[str, float], metric: str) -> None:
    """One metric: a horizontal bar per ranker, the best at the top, the model in colour."""
    higher = not lower_is_better(metric)
    ranked = sorted(values.items(), key=lambda kv: kv[1], reverse=higher)
    names = [n for n, _ in ranked][::-1]  # barh draws bottom-up
    heights = [v for _, v in ranked][::-1]
    colours = [MODEL if n == "model" else BASELINE for n in names]
    ax.barh(range(len(names)), heights, color=colours, height=0.7)
    ax.set_yticks(range(len(names)), names)
    digits = _digits(heights)
    top = max(heights) if heights else 1.0
    for y, v in enumerate(heights):
        ax.text(v + top * 0.01, y, f"{v:.{digits}f}", va="center", fontsize=11)
    ax.set_xlim(0, top * 1.22 if top > 0 else 1)
    ax.set_title(label(metric) + (" (lower is better)" if not higher else ""), loc="left")
    for tick in ax.get_yticklabels():
        if tick.get_text() == "model":
            tick.set_fontweight("bold")
            tick.set_color(MODEL)


def vs_baselines(metrics: dict[str, float], group: str) -> Figure | None:
    """Every ranker on the metrics of one catalogue group; None when none of them was logged."""
    table = comparison_table(metrics).set_index("metric")
    names = [n for n in GROUPS[group] if n in table.index]
    panels = []
    for name in names:
        row = table.loc[name].drop(labels=["single_task"], errors="ignore")
        values = {str(k): float(v) for k, v in row.items() if v is not None and pd.notna(v)}
        if values:
            panels.append((name, values))
    if not panels:
        return None
    columns = 2 if len(panels) > 2 else 1
    rows = math.ceil(len(panels) / columns)
    tallest = max(len(v) for _, v in panels)
    with legible():
        fig, axes = plt.subplots(
            rows,
            columns,
            figsize=(WIDTH, max(3.0, rows * (0.34 * tallest + 1.0) + 0.6)),
            squeeze=False,
        )
        for ax, (name, values) in zip(axes.flat, panels, strict=False):
            _ranked_bars(ax, values, name)
        for ax in list(axes.flat)[len(panels) :]:
            ax.set_visible(False)
        fig.suptitle(f"{heading(group)}: the model (blue) and each baseline", fontsize=15)
        fig.tight_layout()
    return fig


def lead_over_baselines(metrics: dict[str, float]) -> Figure | None:
    """Per metric, the model's lead over the best baseline as a share of that baseline's value
    (green: ahead; red: behind), labelled with both values. None when nothing is comparable."""
    judged = verdicts(comparison_table(metrics))
    if not len(judged):
        return None
    judged = judged.iloc[::-1]  # the catalogue's first metric at the top
    leads = [
        100.0 * lead / abs(best) if best else math.nan
        for lead, best in zip(judged["model's lead"], judged["its value"], strict=True)
    ]
    # one huge lead (cold recall against a baseline near 0) would flatten every other bar: bars
    # are drawn up to LEAD_CAP and the label keeps the true value
    finite = [abs(x) for x in leads if not math.isnan(x)]
    span = min(max([*finite, 1.0]), LEAD_CAP)
    shown = [0.0 if math.isnan(x) else max(-span, min(span, x)) for x in leads]
    with legible():
        fig, ax = plt.subplots(figsize=(WIDTH, 0.55 * len(judged) + 1.6))
        ys = range(len(judged))
        ax.barh(
            list(ys),
            shown,
            color=[AHEAD if x >= 0 else BEHIND for x in leads],
            height=0.6,
        )
        ax.set_yticks(list(ys), [label(m) for m in judged["metric"]])
        ax.set_xlim(-span * 1.3, span * 3.2)
        ax.axvline(0, color="black", linewidth=1)
        for y, lead, at, (_, row) in zip(ys, leads, shown, judged.iterrows(), strict=True):
            text = f"{row['model']:.4f} vs {row['best baseline']} {row['its value']:.4f}"
            # every label right of its bar or of zero: a left one would run into the metric names
            ax.text(max(at, 0.0) + span * 0.04, y, f"{lead:+.1f}%  ({text})", va="center")
        ax.set_xlabel(
            "model's lead over the best baseline, % of its value (right is better; bars end at "
            f"±{span:.0f}%)"
        )
        ax.set_title("Is the model ahead of the best baseline?", loc="left")
        fig.tight_layout()
    return fig


def _best_epoch(key: str, values: list[float]) -> int | None:
    """Where the validation metric `val_<metric>` peaked (catalogue metrics only)."""
    name = key.removeprefix("val_")
    finite = [(v, i) for i, v in enumerate(values) if not math.isnan(v)]
    if name not in BY_NAME or not finite:
        return None
    return (min(finite) if lower_is_better(name) else max(finite))[1]


def loss_curves(history: list[dict[str, float]], title: str) -> Figure:
    """Training loss per task (top) and each validation metric on its own scale, the epoch the
    validation slice would choose marked."""
    epochs = [row["epoch"] for row in history]
    losses = sorted({k for row in history for k in row if k.startswith("loss_")})
    checks = sorted({k for row in history for k in row if k.startswith("val_")})
    rows = 1 + math.ceil(len(checks) / 2)
    with legible():
        fig = plt.figure(figsize=(WIDTH, 3.4 * rows))
        grid = fig.add_gridspec(rows, 2)
        top = fig.add_subplot(grid[0, :])
        for key in losses:
            top.plot(epochs, [r.get(key, math.nan) for r in history], marker="o", label=key[5:])
        top.set(xlabel="epoch", ylabel="loss")
        top.set_title(f"{title}: training loss per task", loc="left")
        if losses:
            top.legend()
        for n, key in enumerate(checks):
            ax = fig.add_subplot(grid[1 + n // 2, n % 2])
            values = [r.get(key, math.nan) for r in history]
            ax.plot(epochs, values, marker="o", color=MODEL)
            best = _best_epoch(key, values)
            if best is not None:
                ax.axvline(epochs[best], color="grey", linestyle="--")
                ax.annotate(
                    f"best {values[best]:.4f}\n(epoch {epochs[best]:g})",
                    (epochs[best], values[best]),
                    textcoords="offset points",
                    # inside the panel: below a peak, above a trough
                    xytext=(8, 8 if lower_is_better(key.removeprefix("val_")) else -32),
                    fontsize=11,
                )
            ax.margins(y=0.15)
            ax.set_xlabel("epoch")
            ax.set_title(f"validation {label(key.removeprefix('val_'))}", loc="left")
        fig.tight_layout()
    return fig


TREND_PANELS = ("recall_at_10", "cold_recall_at_10", "coverage_at_10")


def trends(nights: pd.DataFrame, gate_metric: str) -> Figure:
    """The last nights, one point each (columns: `run_date`, the metrics, `best_baseline` and
    `best_baseline_value` on the gate metric, `champion`: that night's model became champion):
    the gate metric against the best baseline, then recall, cold recall and coverage. Nights whose
    model became champion are starred and marked with a line across every panel."""
    nights = nights.sort_values("run_date")
    dates = pd.to_datetime(nights["run_date"])
    panels = (gate_metric, *(m for m in TREND_PANELS if m != gate_metric))
    crowned = nights["champion"].astype(bool).to_numpy()
    with legible():
        fig, axes = plt.subplots(len(panels), 1, figsize=(WIDTH, 2.5 * len(panels) + 1.0))
        for n, (ax, name) in enumerate(zip(axes, panels, strict=True)):
            values = nights.get(name, pd.Series(math.nan, index=nights.index)).astype(float)
            ax.plot(dates, values, marker="o", color=MODEL, label="model")
            ax.plot(
                dates[crowned],
                values[crowned],
                linestyle="none",
                marker="*",
                markersize=16,
                color="#e0a100",
                label="became champion",
            )
            if n == 0:
                ax.plot(
                    dates,
                    nights["best_baseline_value"].astype(float),
                    linestyle="--",
                    marker=".",
                    color="#555555",
                    label="best baseline",
                )
                last = nights.iloc[-1]
                if isinstance(last["best_baseline"], str):
                    ax.annotate(
                        last["best_baseline"],
                        (dates.iloc[-1], float(last["best_baseline_value"])),
                        textcoords="offset points",
                        xytext=(6, -14),
                        fontsize=11,
                        color="#555555",
                    )
                ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=3, frameon=False)
            if len(values) and not math.isnan(values.iloc[-1]):
                ax.annotate(
                    f"{values.iloc[-1]:.4f}",
                    (dates.iloc[-1], values.iloc[-1]),
                    textcoords="offset points",
                    xytext=(6, 6),
                    fontsize=11,
                    color=MODEL,
                )
            for day in dates[crowned]:
                ax.axvline(day, color="#e0a100", alpha=0.35, linewidth=1)
            ax.set_title(label(name) + (" (the gate metric)" if n == 0 else ""), loc="left")
            ax.margins(x=0.08, y=0.25)
            # a few nights: a few days either side, not matplotlib's years around one date
            ax.set_xlim(dates.min() - pd.Timedelta(days=2), dates.max() + pd.Timedelta(days=2))
            days = (dates.max() - dates.min()).days + 4
            ax.xaxis.set_major_locator(mdates.DayLocator(interval=max(1, days // 7)))
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
        axes[-1].set_xlabel("night (run date)")
        count = "night" if len(nights) == 1 else f"{len(nights)} nights"
        fig.suptitle(f"The last {count}", fontsize=15)
        fig.autofmt_xdate()
        fig.tight_layout()
    return fig
