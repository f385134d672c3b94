"""The champion gate: the only way the `champion` alias moves.

- too few evaluable users tonight (< `RECSYS_GATE_MIN_EVAL_USERS`): a first model becomes
  champion with the reason `insufficient_holdout`; with a champion in place, the champion stays;
- a run for a date before the champion's never moves the alias (`older_than_champion`): a
  backfill cannot crown a model of older data;
- otherwise the candidate must beat every baseline of `RECSYS_GATE_BASELINES` (default:
  popularity; for a rating metric, which popularity lacks, the bias model) on the primary metric,
  and reach the champion's primary metric on the same exam, tonight's holdout
  (`champion_exam.py`), less `RECSYS_GATE_TOLERANCE`;
- a candidate that fails becomes `challenger`; the reason is a tag on the version and the run;
- the alias moves with a compare-and-set: the champion judged against must still be the
  champion when the alias moves (`champion_changed_while_judging` otherwise).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.evaluate.baseline_registry import baseline_names
from pipeline.metrics.catalogue import (
    at_least_as_good,
    baseline_key,
    better,
    lower_is_better,
    metric,
)

log = logging.getLogger(__name__)

CHAMPION, CHALLENGER = "champion", "challenger"
# the reason for a candidate that beat its yardsticks when the champion has no metric to meet
NO_CHAMPION_METRIC = "champion_has_no_primary_metric"


@dataclass
class Decision:
    alias: str
    reason: str
    champion_metric: float | None = None
    yardsticks: list[str] = field(default_factory=list)  # the baselines it was compared with


def decide(
    settings: Settings,
    metrics: dict[str, float],
    evaluable_users: int,
    champion_metric: Any,
    *,
    older_than_champion: bool = False,
) -> Decision:
    """The gate, as a pure function of tonight's metrics and the champion's metric.

    `champion_metric` is None when there is no champion, else the champion's primary metric (on
    tonight's exam where it could sit it; NaN when it has none)."""
    primary = settings.gate.metric
    has_champion = champion_metric is not None
    yardsticks = gate_baselines(settings, metrics)

    def verdict(alias: str, reason: str, champion: Any = None) -> Decision:
        return Decision(alias, reason, champion, yardsticks)

    if older_than_champion:
        return verdict(CHALLENGER, "older_than_champion", champion_metric)
    if evaluable_users < settings.gate.min_eval_users:
        return verdict(CHALLENGER if has_champion else CHAMPION, "insufficient_holdout")
    value = metrics.get(primary, float("nan"))
    for yardstick in yardsticks:
        # a yardstick that did not score the metric (NaN) cannot be beaten: challenger
        if not better(primary, value, metrics.get(baseline_key(yardstick, primary), math.nan)):
            return verdict(CHALLENGER, f"does_not_beat_{yardstick}", champion_metric)
    if not has_champion:
        return verdict(CHAMPION, f"first_model_beats_{'_and_'.join(yardsticks)}")
    if champion_metric != champion_metric:  # NaN: the champion's run has no such metric
        return verdict(CHAMPION, NO_CHAMPION_METRIC, champion_metric)
    if at_least_as_good(primary, value, float(champion_metric), settings.gate.tolerance):
        return verdict(CHAMPION, "at_least_as_good_as_champion", champion_metric)
    return verdict(CHALLENGER, "below_champion", champion_metric)


def check_gate_settings(settings: Settings) -> None:
    """Refuse a gate metric or yardstick the catalogue does not know, before anything is fitted."""
    try:
        metric(settings.gate.metric)
    except KeyError as exc:
        raise RecsysError(f"RECSYS_GATE_METRIC: {exc.args[0]}") from None
    known = baseline_names()
    unknown = [b for b in settings.gate.baselines if b not in known]
    if unknown:
        raise RecsysError(
            f"RECSYS_GATE_BASELINES names unknown baselines {unknown}: one of {', '.join(known)}"
        )


def gate_baselines(settings: Settings, metrics: dict[str, float]) -> list[str]:
    """The baselines a candidate must beat on the primary metric: those of `RECSYS_GATE_BASELINES`
    that scored it tonight; when none did (popularity has no rating metric), the metric's own
    yardstick: the bias model for a rating metric, popularity for the others."""
    check_gate_settings(settings)
    primary = settings.gate.metric
    named = [b for b in settings.gate.baselines if baseline_key(b, primary) in metrics]
    missing = sorted(set(settings.gate.baselines) - set(named))
    fallback = "bias" if lower_is_better(primary) else "popularity"
    if missing and named:
        log.warning("gate: no %s of %s tonight; not compared with it", primary, missing)
    return named or [fallback]


def apply_decision(
    client: MlflowClient,
    settings: Settings,
    model_version: str,
    decision: Decision,
    run_id: str,
    judged_against: Any | None,
) -> Decision:
    """Move the alias, compare-and-set: a champion decision stands only while the champion it
    was judged against (`judged_against`, None: none) is still the champion. Returns the
    decision applied."""
    name = settings.registered_model
    if decision.alias == CHAMPION:
        now = champion_version(client, name)
        if _version(now) != _version(judged_against):
            log.warning(
                "gate: the champion moved from %s to %s while version %s was judged: not moved",
                _version(judged_against),
                _version(now),
                model_version,
            )
            decision = replace(decision, alias=CHALLENGER, reason="champion_changed_while_judging")
    client.set_registered_model_alias(name, decision.alias, model_version)
    for key, value in (("gate_reason", decision.reason), ("gate_alias", decision.alias)):
        client.set_model_version_tag(name, model_version, key, value)
        client.set_tag(run_id, key, value)
    return decision


def champion_version(client: MlflowClient, name: str) -> Any | None:
    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def _version(found: Any | None) -> str | None:
    return None if found is None else str(found.version)


def trained_for(client: MlflowClient, version: Any) -> date | None:
    """The run date a version was trained for (its run's `run_date` tag)."""
    tag = client.get_run(version.run_id).data.tags.get("run_date")
    return date.fromisoformat(tag) if tag else None
