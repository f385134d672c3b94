"""The baseline registry: every consumer reads it, so a new baseline is one registration."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pipeline.core.config import Settings
from pipeline.evaluate import baseline_registry
from pipeline.evaluate.baseline_registry import (
    Baseline,
    baseline_metrics,
    baseline_names,
    new_item_yardsticks,
    register,
    skipped_baselines,
    warm_params,
)
from pipeline.evaluate.comparison import comparison_table
from pipeline.train.gate import check_gate_settings
from pipeline.train.trends import best_baseline


def test_the_nightly_baselines_and_what_they_log() -> None:
    assert baseline_names() == (
        "ease", "ease_recent", "itemknn", "itemknn_recent", "mf", "popularity", "content",
        "content_recent", "random_new", "bias",
    )  # fmt: skip
    assert new_item_yardsticks() == {"random_new"}
    assert "baseline_ease_recent_half_life" in warm_params()
    assert "baseline_mf_rating_param" in warm_params()
    assert "baseline_content_recent_half_life" in warm_params()


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict:
    """The registry as it is, restored after the test."""
    copy = dict(baseline_registry.REGISTRY)
    monkeypatch.setattr(baseline_registry, "REGISTRY", copy)
    return copy


def test_a_toy_baseline_is_one_registration(registry: dict, tmp_path) -> None:
    def toy(night) -> dict[str, float]:
        return {"baseline_toy_ndcg_at_10": 0.5, "baseline_toy_param": float(night.seed)}

    # the one line a new baseline needs:
    register(Baseline("toy", toy, warm_params=("baseline_toy_param",)))

    assert "toy" in baseline_names() and "baseline_toy_param" in warm_params()
    check_gate_settings(Settings(home=tmp_path, gate={"baselines": ["toy"]}))  # a known name
    night = {"ndcg_at_10": 0.4, "baseline_toy_ndcg_at_10": 0.5, "baseline_ease_ndcg_at_10": 0.3}
    assert best_baseline(night, "ndcg_at_10") == ("toy", 0.5)
    assert "toy" in comparison_table(night).columns
    for name in [n for n in registry if n != "toy"]:
        del registry[name]  # the toy alone: the nightly loop runs what is registered
    fake = SimpleNamespace(users=range(3), items=range(2))
    assert baseline_metrics(fake, None, None, seed=7) == {  # type: ignore[arg-type]
        "baseline_toy_ndcg_at_10": 0.5,
        "baseline_toy_param": 7.0,
    }
    register(Baseline("toy", toy, skip=lambda snapshot: "too big for a toy"))
    assert skipped_baselines(fake) == {"toy": "too big for a toy"}  # type: ignore[arg-type]
    assert baseline_metrics(fake, None, None, seed=7) == {}  # type: ignore[arg-type]
