"""The champion gate as a pure function; the MLflow side is proven in test_train."""

from __future__ import annotations

import math

import pytest

from pipeline.core.config import Settings
from pipeline.train.gate import decide

GOOD = {"ndcg_at_10": 0.20, "baseline_popularity_ndcg_at_10": 0.10}
WORSE_THAN_POPULARITY = {"ndcg_at_10": 0.05, "baseline_popularity_ndcg_at_10": 0.10}


@pytest.mark.parametrize(
    ("metrics", "users", "champion", "alias", "reason"),
    [
        (GOOD, 500, None, "champion", "first_model_beats_popularity"),
        (WORSE_THAN_POPULARITY, 500, None, "challenger", "does_not_beat_popularity"),
        (GOOD, 500, 0.20, "champion", "at_least_as_good_as_champion"),
        (GOOD, 500, 0.25, "challenger", "below_champion"),
        (WORSE_THAN_POPULARITY, 500, 0.01, "challenger", "does_not_beat_popularity"),
        (WORSE_THAN_POPULARITY, 10, None, "champion", "insufficient_holdout"),
        (GOOD, 10, 0.01, "challenger", "insufficient_holdout"),
        (GOOD, 500, math.nan, "champion", "champion_has_no_primary_metric"),
    ],
)
def test_gate(metrics: dict, users: int, champion: float | None, alias: str, reason: str) -> None:
    decision = decide(Settings(), metrics, users, champion)
    assert (decision.alias, decision.reason) == (alias, reason)


def test_tolerance_lets_a_slightly_worse_candidate_through() -> None:
    settings = Settings(gate={"tolerance": 0.06})
    assert decide(settings, GOOD, 500, 0.25).alias == "champion"


def test_lower_is_better_metrics_compare_the_other_way() -> None:
    settings = Settings(gate={"metric": "rating_rmse"})
    metrics = {"rating_rmse": 0.9, "baseline_bias_rating_rmse": 1.0}
    assert decide(settings, metrics, 500, 0.95).alias == "champion"
    assert decide(settings, metrics, 500, 0.85).reason == "below_champion"


def test_a_team_can_ask_for_stronger_yardsticks_than_popularity() -> None:
    settings = Settings(gate={"baselines": ["popularity", "ease_recent"]})
    metrics = {**GOOD, "baseline_ease_recent_ndcg_at_10": 0.22}
    assert decide(settings, metrics, 500, None).reason == "does_not_beat_ease_recent"
    metrics["baseline_ease_recent_ndcg_at_10"] = 0.15
    assert decide(settings, metrics, 500, None).yardsticks == ["popularity", "ease_recent"]
    assert (
        decide(settings, metrics, 500, None).reason
        == "first_model_beats_popularity_and_ease_recent"
    )
    # a yardstick that did not run tonight (e.g. EASE on a huge catalogue) is left out
    assert decide(settings, GOOD, 500, None).reason == "first_model_beats_popularity"


def test_an_unknown_gate_baseline_is_a_clear_error() -> None:
    from pipeline.core.errors import RecsysError

    with pytest.raises(RecsysError, match="unknown baselines"):
        decide(Settings(gate={"baselines": ["eas"]}), GOOD, 500, None)


def test_a_yardstick_without_the_metric_tonight_means_challenger_not_a_crash() -> None:
    # a rating gate on a night without held-out ratings: no bias RMSE to beat
    settings = Settings(gate={"metric": "rating_rmse"})
    decision = decide(settings, {"rating_rmse": 0.9}, 500, None)
    assert (decision.alias, decision.reason) == ("challenger", "does_not_beat_bias")


def test_gate_settings_are_checked_before_anything_is_fitted() -> None:
    from pipeline.core.errors import RecsysError
    from pipeline.train.gate import check_gate_settings

    with pytest.raises(RecsysError, match="RECSYS_GATE_METRIC: unknown metric 'ndcg'"):
        check_gate_settings(Settings(gate={"metric": "ndcg"}))
    check_gate_settings(Settings())


def test_a_run_older_than_the_champion_is_a_challenger_however_good() -> None:
    metrics = {"ndcg_at_10": 0.9, "baseline_popularity_ndcg_at_10": 0.1}
    decision = decide(Settings(), metrics, 500, 0.1, older_than_champion=True)
    assert (decision.alias, decision.reason) == ("challenger", "older_than_champion")
