"""`recsys train` on the small demo night: MLflow run, registry, champion gate, served model."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from pipeline.core.errors import RecsysError
from pipeline.core.run_date import resolve_run_date
from pipeline.metrics.catalogue import NAMES
from pipeline.train.registry import load_champion, use_tracking
from pipeline.train.stage import train
from tests.conftest import Night, night_home

# A deliberately crippled candidate: one-dimensional vectors, almost no learning.
CRIPPLED = {
    "model_options": {"dim": 1},
}
# id-based users and no closed-form term: an untrained history-based user is already item-item
# similarity, the item-item term is EASE (it beat popularity alone on the test night: 0.132 vs
# 0.125), the factor term iALS and the text term `content_recent`
CRIPPLED_TRAIN = {
    "lr": 1e-7,
    "max_epochs": 1,
    "refit": False,
    "history_length": 0,
    "item_item_term": "off",
    "factor_term": False,
    "transition_term": False,
    "text_term": False,
}


@pytest.fixture(scope="module")
def gate_story(embedded_night: Night, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Four nights of training on one registry: crippled, good, crippled, good again."""
    home = tmp_path_factory.mktemp("gate")
    good = night_home(embedded_night, home)
    crippled = good.model_copy(
        update={**CRIPPLED, "train": good.train.model_copy(update=CRIPPLED_TRAIN)}
    )
    day = resolve_run_date(good)
    story: dict = {"settings": good}
    story["crippled_first"] = train(crippled, day)
    with pytest.raises(RecsysError, match="no `champion` version"):
        load_champion(good)
    story["good"] = train(good, day)
    story["crippled_later"] = train(crippled, day)
    # the same model again, trained anew: an explicit full mode is another fingerprint (the very
    # same settings would keep the champion without fitting, `train/rerun.py`)
    full = good.model_copy(update={"train": good.train.model_copy(update={"mode": "full"})})
    story["good_again"] = train(full, day)
    return story


def test_a_crippled_first_model_is_not_champion_and_recommend_cannot_load_one(
    gate_story: dict,
) -> None:
    first = gate_story["crippled_first"]
    assert (first["model_version"], first["alias"]) == ("1", "challenger")
    assert first["reason"] == "does_not_beat_popularity"


def test_a_good_model_becomes_champion(gate_story: dict) -> None:
    good = gate_story["good"]
    assert (good["model_version"], good["alias"], good["reason"]) == (
        "2",
        "champion",
        "first_model_beats_popularity",
    )
    metrics = good["metrics"]
    assert metrics["recall_at_10"] > metrics["baseline_popularity_recall_at_10"]
    assert metrics["ndcg_at_10"] > metrics["baseline_popularity_ndcg_at_10"]


def test_a_crippled_candidate_never_displaces_the_champion_and_the_reason_is_recorded(
    gate_story: dict,
) -> None:
    later = gate_story["crippled_later"]
    assert (later["alias"], later["reason"]) == ("challenger", "does_not_beat_popularity")
    client = use_tracking(gate_story["settings"])
    version = client.get_model_version("recsys_mtl", later["model_version"])
    assert version.tags["gate_reason"] == "does_not_beat_popularity"
    assert (
        client.get_run(later["mlflow_run_id"]).data.tags["gate_reason"]
        == "does_not_beat_popularity"
    )


def test_an_equal_candidate_is_promoted_and_training_is_deterministic(gate_story: dict) -> None:
    again, good = gate_story["good_again"], gate_story["good"]
    assert (again["alias"], again["reason"]) == ("champion", "at_least_as_good_as_champion")
    assert again["champion_metric"] == pytest.approx(good["metrics"]["ndcg_at_10"], abs=1e-5)
    assert again["metrics"] == good["metrics"]  # same data, same seed: the same model
    client = use_tracking(gate_story["settings"])
    assert str(client.get_model_version_by_alias("recsys_mtl", "champion").version) == "4"


def test_champion_run_logs_every_metric_baselines_plots_and_the_model(gate_story: dict) -> None:
    settings, good = gate_story["settings"], gate_story["good"]
    client: MlflowClient = use_tracking(settings)
    run = client.get_run(good["mlflow_run_id"])
    logged = set(run.data.metrics)
    assert set(NAMES) <= logged
    for name in ("popularity", "content", "random_new", "ease", "itemknn", "mf"):
        assert f"baseline_{name}_recall_at_10" in logged
    assert {"baseline_bias_rating_rmse", "baseline_popularity_social_recall_at_10"} <= logged
    blend = run.data.params["term_rating"]  # seven weights, or none where it did not help
    assert blend == "none" or len(blend.split()) == 7
    assert client.get_metric_history(run.info.run_id, "loss_interaction")
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert {
        "plots/trends.png",
        "plots/lead_over_baselines.png",
        "plots/vs_baselines_ranking.png",
        "plots/vs_baselines_rating.png",
        "plots/vs_baselines_social.png",
        "plots/loss_curves.png",
    } <= artifacts
    table = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"metrics_vs_baselines.json", "metrics_vs_baselines.md"} <= table
    assert client.get_model_version("recsys_mtl", good["model_version"]).run_id == run.info.run_id


def test_the_served_model_loads_by_alias_and_scores_pairs(gate_story: dict) -> None:
    settings = gate_story["settings"]
    use_tracking(settings)
    model = mlflow.pyfunc.load_model("models:/recsys_mtl@champion")
    assert model.metadata.signature is not None
    bundle, version = load_champion(settings)
    assert str(version.version) == "4"
    night = Path(settings.home)
    assert night.exists()
    out = model.predict(
        pd.DataFrame({"user_id": ["u00001", "nobody"], "item_id": ["i00001", "i00002"]})
    )
    assert list(out.columns) == ["score", "rating"]
    # `score` is the night's ranking score (towers and terms), `rating` on the rating scale
    assert np.isfinite(out["score"][0]) and 0.5 <= out["rating"][0] <= 5
    assert out.iloc[1].isna().all()  # an unknown user gets no score, not a made-up one
    assert bundle.trained_on.isoformat() == gate_story["good"]["run_date"]


@pytest.fixture(scope="module")
def controlled(embedded_night: Night, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One night with MMoE, uncertainty weighting and the single-task control switched on
    (a small model and few epochs: five fits in all, the refit included)."""
    settings = night_home(
        embedded_night,
        tmp_path_factory.mktemp("controlled"),
        train={
            "architecture": "mmoe",
            "experts": 2,
            "loss_weighting": "uncertainty",
            "single_task_control": True,
            "max_epochs": 3,
            "patience": 1,
        },
        model_options={"hidden": 64},
    )
    summary = train(settings, resolve_run_date(settings))
    client = use_tracking(settings)
    return {"settings": settings, "summary": summary, "client": client}


def test_the_single_task_control_logs_each_task_alone(controlled: dict) -> None:
    client: MlflowClient = controlled["client"]
    run = client.get_run(controlled["summary"]["mlflow_run_id"])
    assert run.data.params["architecture"] == "mmoe"
    assert run.data.params["loss_weighting"] == "uncertainty"
    logged = run.data.metrics
    for key in (
        "single_interaction_ndcg_at_10",
        "single_interaction_cold_recall_at_10",
        "single_rating_rating_rmse",
        "single_social_social_recall_at_10",
    ):
        assert key in logged, key
    assert logged["single_rating_rating_rmse"] > 0
    # the learned weights are logged per epoch, one per task
    history = client.get_metric_history(run.info.run_id, "task_weight_rating")
    assert history and all(m.value > 0 for m in history)


def test_every_night_logs_a_quality_report(controlled: dict) -> None:
    client: MlflowClient = controlled["client"]
    run_id = controlled["summary"]["mlflow_run_id"]
    path = client.download_artifacts(run_id, "quality_report.md")
    report = Path(path).read_text(encoding="utf-8")
    assert report.startswith(f"# Quality report: night {controlled['summary']['run_date']}")
    assert "`mmoe`" in report and "`uncertainty`" in report
    # a verdict per metric against the best baseline, and one per task metric vs single-task
    assert "| metric " in report and "best baseline" in report
    assert "multi-task helps" in report and "| rating " in report
    table = json.loads(
        Path(client.download_artifacts(run_id, "metrics_vs_baselines.json")).read_text()
    )
    assert "single_task" in table["columns"]


def test_an_mmoe_champion_recommends_and_finds_similar_users(controlled: dict) -> None:
    from pipeline.serve.recommend import recommend

    settings = controlled["settings"]
    assert controlled["summary"]["alias"] == "champion"
    summary = recommend(settings, resolve_run_date(settings))
    assert summary["recommendations"] > 0 and summary["similar_users"] > 0


def test_every_figure_is_drawn_at_the_viewers_width_and_the_html_report_embeds_them(
    gate_story: dict, tmp_path: Path
) -> None:
    from PIL import Image

    from pipeline.serve.report import write_html_report

    settings, again = gate_story["settings"], gate_story["good_again"]
    client: MlflowClient = use_tracking(settings)
    run_id = again["mlflow_run_id"]
    plots = Path(client.download_artifacts(run_id, "plots", str(tmp_path)))
    for path in plots.glob("*.png"):
        width, height = Image.open(path).size
        assert width == 1000 and 250 <= height <= 2000, (path.name, width, height)
    report = Path(client.download_artifacts(run_id, "quality_report.md", str(tmp_path)))
    assert "![The last nights](plots/trends.png)" in report.read_text(encoding="utf-8")
    # four trainings of one run date: one night on the trend, its latest run (a champion)
    html = write_html_report(settings, tmp_path / "night.html")
    assert html["run"] == "champion, version 4" and html["run_id"] == run_id
    page = (tmp_path / "night.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == len(list(plots.glob("*.png")))
    assert 'src="plots/' not in page and "<table>" in page
