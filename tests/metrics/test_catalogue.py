from __future__ import annotations

import pytest

from pipeline.evaluate.baseline_registry import baseline_names
from pipeline.evaluate.comparison import comparison_table
from pipeline.metrics import catalogue
from pipeline.metrics.catalogue import Key, baseline_key, parse_key, single_key

BASELINES = baseline_names()


def test_every_metric_has_a_task_and_a_direction() -> None:
    assert set(catalogue.TASKS) == {m.task for m in catalogue.METRICS}
    assert catalogue.lower_is_better("rating_rmse")
    assert not catalogue.lower_is_better("ndcg_at_10")
    assert catalogue.task_metrics("social") == ("social_recall_at_10",)


def test_direction_decides_better_and_tolerance() -> None:
    assert catalogue.better("ndcg_at_10", 0.2, 0.1)
    assert catalogue.better("rating_rmse", 0.8, 0.9)
    assert not catalogue.better("rating_rmse", 0.9, 0.9)
    assert catalogue.at_least_as_good("ndcg_at_10", 0.19, 0.2, tolerance=0.01)
    assert catalogue.at_least_as_good("rating_mae", 0.81, 0.8, tolerance=0.01)
    assert not catalogue.at_least_as_good("rating_mae", 0.82, 0.8, tolerance=0.01)


def test_an_unknown_metric_is_named_in_the_error() -> None:
    with pytest.raises(KeyError, match="unknown metric 'ndcg'"):
        catalogue.metric("ndcg")


@pytest.mark.parametrize("baseline", BASELINES)
@pytest.mark.parametrize("name", catalogue.NAMES)
def test_keys_read_back_as_built(baseline: str, name: str) -> None:
    assert parse_key(baseline_key(baseline, name), BASELINES) == Key("baseline", baseline, name)
    assert parse_key(name, BASELINES) == Key("model", None, name)


def test_keys_that_are_not_metrics_are_not_read_as_metrics() -> None:
    # `recall_at_10` ends `cold_recall_at_10`: only the catalogue's names are read, whole
    assert parse_key("baseline_ease_cold_recall_at_10", BASELINES) == Key(
        "baseline", "ease", "cold_recall_at_10"
    )
    rating = single_key("rating", "rating_rmse")
    assert parse_key(rating, BASELINES) == Key("single", "rating", "rating_rmse")
    for other in (
        "baseline_ease_param",
        "single_social_epochs",
        "loss_rating",
        "baseline_x_ndcg_at_10",
    ):
        assert parse_key(other, BASELINES) is None
    assert parse_key("baseline_x_ndcg_at_10", ("x",)) == Key("baseline", "x", "ndcg_at_10")


def test_comparison_table_has_a_column_per_baseline_and_ignores_parameters() -> None:
    table = comparison_table(
        {
            "ndcg_at_10": 0.2,
            "baseline_ease_ndcg_at_10": 0.25,
            "baseline_ease_param": 500.0,
            "baseline_random_new_cold_recall_at_10": 0.1,
        }
    )
    assert list(table.columns) == ["metric", "model", "ease", "random_new"]
    assert table.set_index("metric").loc["ndcg_at_10", "ease"] == 0.25
    assert set(table["metric"]) == {"ndcg_at_10", "cold_recall_at_10"}
