"""The night's figures: drawn at the artifact viewer's width, one question each."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from PIL import Image

from pipeline.evaluate.plots import (
    GROUPS,
    heading,
    label,
    lead_over_baselines,
    loss_curves,
    png,
    trends,
    vs_baselines,
)
from tests.evaluate.test_quality_report import METRICS

NIGHT = {
    **METRICS,
    "map_at_10": 0.071,
    "baseline_ease_map_at_10": 0.0705,  # close to the model: needs a fourth decimal
    "coverage_at_10": 0.4,
    "baseline_popularity_coverage_at_10": 0.02,
    "social_recall_at_10": 0.04,
    "baseline_content_social_recall_at_10": 0.03,
}
HISTORY = [
    {"epoch": 1, "loss_interaction": 6.0, "loss_rating": 1.2, "val_ndcg_at_10": 0.08,
     "val_rating_rmse": 0.99},
    {"epoch": 2, "loss_interaction": 5.5, "loss_rating": 1.0, "val_ndcg_at_10": 0.11,
     "val_rating_rmse": 0.95},
    {"epoch": 3, "loss_interaction": 5.2, "loss_rating": 0.9, "val_ndcg_at_10": 0.10,
     "val_rating_rmse": 0.96},
]  # fmt: skip


def size(fig) -> tuple[int, int]:
    return Image.open(io.BytesIO(png(fig))).size


def texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_labels_read_like_the_metrics_people_know() -> None:
    assert heading("coverage and AUC") == "Coverage and AUC"
    assert label("ndcg_at_10") == "NDCG@10"
    assert label("cold_recall_at_10") == "cold recall@10"
    assert label("rating_rmse") == "rating RMSE"


def test_each_group_of_metrics_is_one_figure_as_wide_as_the_viewer() -> None:
    for group in GROUPS:
        fig = vs_baselines(NIGHT, group)
        assert fig is not None, group
        width, height = size(fig)
        assert width == 1000 and 250 <= height <= 1600, (group, width, height)
    ranking = vs_baselines(NIGHT, "ranking")
    # every bar carries its value, with a fourth decimal where two are this close
    assert "0.0710" in texts(ranking) and "0.0705" in texts(ranking)


def test_a_group_with_nothing_logged_draws_nothing() -> None:
    assert vs_baselines({"ndcg_at_10": 0.1}, "social") is None
    assert lead_over_baselines({"ndcg_at_10": 0.1}) is None


def test_the_lead_figure_says_per_metric_who_is_best_and_by_how_much() -> None:
    fig = lead_over_baselines(NIGHT)
    width, _ = size(fig)
    assert width == 1000
    written = " ".join(texts(fig))
    # NDCG: model 0.12 against EASE 0.125 is 4% behind; RMSE 0.85 against MF 0.80, 6.25% behind
    assert "-4.0%" in written and "ease 0.1250" in written
    assert "-6.2%" in written and "mf 0.8000" in written
    assert "+35.7%" in written  # recall 0.19 vs EASE 0.14 (random_new is not a rival)


def test_loss_curves_mark_the_epoch_validation_chose() -> None:
    fig = loss_curves(HISTORY, "evaluation fit")
    assert size(fig)[0] == 1000
    written = texts(fig)
    assert "best 0.1100\n(epoch 2)" in written  # NDCG peaks at epoch 2
    assert "best 0.9500\n(epoch 2)" in written  # RMSE bottoms out at epoch 2 too


@pytest.mark.parametrize("n", [1, 3])
def test_trends_draw_every_night_and_star_the_champions(n: int) -> None:
    nights = pd.DataFrame(
        {
            "run_date": [f"2026-01-0{d + 1}" for d in range(n)],
            "ndcg_at_10": [0.10 + 0.01 * d for d in range(n)],
            "recall_at_10": [0.2] * n,
            "coverage_at_10": [0.3] * n,
            "best_baseline": ["ease"] * n,
            "best_baseline_value": [0.11] * n,
            "champion": [d != 1 for d in range(n)],
        }
    )
    fig = trends(nights, "ndcg_at_10")
    assert size(fig)[0] == 1000
    gate = fig.axes[0]
    model, stars = gate.lines[0], gate.lines[1]
    assert len(model.get_xdata()) == n
    assert len(stars.get_xdata()) == (1 if n == 1 else 2)
    assert f"{0.10 + 0.01 * (n - 1):.4f}" in [t.get_text() for t in gate.texts]


def test_one_huge_lead_does_not_flatten_the_other_bars() -> None:
    from pipeline.evaluate.plots import LEAD_CAP

    night = {**NIGHT, "cold_recall_at_10": 0.358, "baseline_content_cold_recall_at_10": 0.0343}
    fig = lead_over_baselines(night)
    widths = [abs(bar.get_width()) for bar in fig.axes[0].patches]
    assert max(widths) == LEAD_CAP and min(widths) > 0
    assert any(t.startswith("+943.") for t in texts(fig))  # the label keeps the true lead
