"""The one metric vocabulary: every metric the night logs, its task and its direction, and the
names under which the baselines' and the single-task control's values are logged.

MLflow keys: a metric of the model is logged under its own name (`ndcg_at_10`); a baseline's as
`baseline_<baseline>_<metric>` and a task trained alone as `single_<task>_<metric>`. Build them
with `baseline_key` / `single_key` and read them back with `parse_key`, which only accepts the
baselines, tasks and metrics named here: nothing is guessed from a key's suffix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Task = Literal["interaction", "rating", "social"]
TASKS: tuple[Task, ...] = ("interaction", "rating", "social")


@dataclass(frozen=True)
class Metric:
    name: str
    task: Task
    higher_is_better: bool
    group: str  # the panel of the metrics-vs-baselines plot
    description: str


METRICS: tuple[Metric, ...] = (
    Metric("rating_rmse", "rating", False, "rating", "root mean squared rating error"),
    Metric("rating_mae", "rating", False, "rating", "mean absolute rating error"),
    Metric(
        "interaction_auc",
        "interaction",
        True,
        "coverage and AUC",
        "P(a holdout item scores above a random unseen one)",
    ),
    Metric("recall_at_10", "interaction", True, "ranking", "holdout items found in the top 10"),
    Metric("ndcg_at_10", "interaction", True, "ranking", "rank-discounted hits in the top 10"),
    Metric("map_at_10", "interaction", True, "ranking", "mean average precision at 10"),
    Metric("hit_rate_at_10", "interaction", True, "ranking", "users with a hit in the top 10"),
    Metric(
        "coverage_at_10",
        "interaction",
        True,
        "coverage and AUC",
        "share of the catalogue shown in some top 10",
    ),
    Metric(
        "cold_recall_at_10",
        "interaction",
        True,
        "ranking",
        "recall counting only items with no training events",
    ),
    Metric("social_recall_at_10", "social", True, "social", "held-out friends found in the top 10"),
)
BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def metric(name: str) -> Metric:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}: one of {', '.join(NAMES)}") from None


def task_metrics(task: str) -> tuple[str, ...]:
    return tuple(m.name for m in METRICS if m.task == task)


def lower_is_better(name: str) -> bool:
    return not metric(name).higher_is_better


def better(name: str, value: float, reference: float) -> bool:
    """`value` is strictly better than `reference` on this metric."""
    return value > reference if metric(name).higher_is_better else value < reference


def at_least_as_good(name: str, value: float, reference: float, tolerance: float = 0.0) -> bool:
    """`value` is no worse than `reference`, allowing `tolerance` in the metric's own unit."""
    if metric(name).higher_is_better:
        return value >= reference - tolerance
    return value <= reference + tolerance


def sign(name: str) -> float:
    """+1 when higher is better, -1 when lower is: `sign * value` is always maximised."""
    return 1.0 if metric(name).higher_is_better else -1.0


def baseline_key(baseline: str, name: str) -> str:
    return f"baseline_{baseline}_{name}"


def single_key(task: str, name: str) -> str:
    return f"single_{task}_{name}"


@dataclass(frozen=True)
class Key:
    """What one logged metric key says: whose value it is and of which metric."""

    source: Literal["model", "baseline", "single"]
    name: str | None  # the baseline or the task; None for the model
    metric: str


def parse_key(key: str, baselines: tuple[str, ...]) -> Key | None:
    """The reading of a key built by this module, `baselines` the names a baseline may have
    (`evaluate.baseline_registry.baseline_names`); None for anything else (a baseline's tuned
    parameter, `single_<task>_epochs`, a loss)."""
    if key in BY_NAME:
        return Key("model", None, key)
    for source, names in (("baseline", baselines), ("single", TASKS)):
        for name in names:
            prefix = f"{source}_{name}_"
            if key.startswith(prefix) and key[len(prefix) :] in BY_NAME:
                return Key(source, name, key[len(prefix) :])  # type: ignore[arg-type]
    return None
