"""The night's quality report: verdicts against the best baseline, multi- vs single-task."""

from __future__ import annotations

from datetime import date

from pipeline.evaluate.comparison import comparison_table
from pipeline.evaluate.quality_report import NightFacts, multi_vs_single, quality_report, verdicts

METRICS = {
    "ndcg_at_10": 0.12,
    "recall_at_10": 0.19,
    "rating_rmse": 0.85,
    "baseline_ease_ndcg_at_10": 0.125,
    "baseline_popularity_ndcg_at_10": 0.09,
    "baseline_ease_recall_at_10": 0.14,
    "baseline_random_new_recall_at_10": 0.5,  # a new-item yardstick: never "the best baseline"
    "baseline_bias_rating_rmse": 1.06,
    "baseline_mf_rating_rmse": 0.80,
    "single_interaction_ndcg_at_10": 0.13,
    "single_rating_rating_rmse": 0.90,
}


def test_each_metric_names_its_best_baseline_and_says_when_the_model_loses() -> None:
    table = comparison_table(METRICS)
    judged = verdicts(table).set_index("metric")
    assert judged.loc["ndcg_at_10", "best baseline"] == "ease"
    assert judged.loc["ndcg_at_10", "model beats it"] == "**no**"
    assert judged.loc["recall_at_10", "best baseline"] == "ease"  # not random_new
    assert judged.loc["recall_at_10", "model beats it"] == "yes"
    # lower is better for RMSE: the best baseline is the lowest one
    assert judged.loc["rating_rmse", "best baseline"] == "mf"
    assert judged.loc["rating_rmse", "its value"] == 0.80
    assert judged.loc["rating_rmse", "model beats it"] == "**no**"
    # the lead is signed by the metric's direction: negative when the model trails
    assert judged.loc["rating_rmse", "model's lead"] < 0
    assert judged.loc["recall_at_10", "model's lead"] > 0


def test_multi_vs_single_is_signed_by_what_better_means_for_each_metric() -> None:
    deltas = multi_vs_single(METRICS).set_index("metric")
    assert deltas.loc["ndcg_at_10", "multi-task helps"] == "**no**"
    assert deltas.loc["rating_rmse", "multi-task helps"] == "yes"  # 0.85 < 0.90
    assert round(deltas.loc["rating_rmse", "difference"], 4) == -0.05
    assert set(deltas.index) == {"ndcg_at_10", "rating_rmse"}


def test_the_report_says_when_the_control_did_not_run() -> None:
    facts = NightFacts(
        run_date=date(2026, 9, 28),
        model_version="3",
        alias="challenger",
        reason="below_champion",
        architecture="shared_bottom",
        loss_weighting="fixed",
        epochs=7,
        data={"users": 10, "events": 100},
        evaluable_users=8,
        history=[{"epoch": 1, "loss_interaction": 5.0}],
        skipped_baselines={"ease": "30,000 items > 20,000: EASE inverts a dense matrix"},
    )
    plain = {k: v for k, v in METRICS.items() if not k.startswith("single_")}
    report = quality_report(facts, plain, comparison_table(plain))
    assert "version **3** -> `challenger` (below_champion)" in report
    assert "RECSYS_TRAIN_SINGLE_TASK_CONTROL=true" in report
    assert "single_task" not in report
    assert "`ease` did not run tonight: 30,000 items > 20,000" in report
