"""`RECSYS_TRAIN_MODE`: warm nights on the small demo, and each reason `auto` trains full."""

from __future__ import annotations

from datetime import timedelta

import pytest
from mlflow.tracking import MlflowClient

from pipeline.core.config import Settings
from pipeline.core.run_date import resolve_run_date
from pipeline.train.gate import CHAMPION, Decision, apply_decision
from pipeline.train.registry import use_tracking
from pipeline.train.stage import train
from pipeline.train.train_start import states_of, train_start
from tests.conftest import Night, night_home

# a short budget keeps the story fast; the gate still passes on the small demo
QUICK = {"max_epochs": 4, "patience": 2}
# the story's own nights pass the gate on beating popularity alone (on a 4-epoch budget a warm
# night can trail its parent on the same exam by noise); its probes never pass, so the champion
# (and its line of parents) stays the story's warm night
LENIENT = {"tolerance": 1.0}
NEVER = {"min_eval_users": 10**9}


@pytest.fixture(scope="module")
def warm_story(embedded_night: Night, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Night D-1 trains full (no champion), night D warm from it, then D again under changed
    settings: every reason to go full."""
    base = night_home(embedded_night, tmp_path_factory.mktemp("warm"))
    settings = with_changes(base, train=QUICK, gate=LENIENT)
    day = resolve_run_date(settings)

    story: dict = {"settings": settings, "day": day}
    story["first"] = train(settings, day - timedelta(days=1))
    story["warm"] = train(settings, day)
    story["again"] = train(settings, day)  # the same export and settings: nothing to fit
    # a rerun under another gate setting trains again; the champion is D's own, so its parent
    # (D-1's) is the start
    story["rerun"] = train(with_changes(settings, gate={"tolerance": 0.999}), day)
    probe = with_changes(settings, gate=NEVER)
    story["full_every_day"] = train(with_changes(probe, train={"full_every_days": 1}), day)
    wider = probe.model_copy(update={"model_options": {"dim": 64}})
    story["architecture"] = train(wider, day)
    story["gate_failure"] = train(probe, day)
    # a run for a date before the champion's (a backfill): judged, registered, never champion
    older = day - timedelta(days=2)
    story["older"] = train(with_changes(settings, train={"max_epochs": 1, "refit": False}), older)
    return story


def with_changes(settings: Settings, **sections: dict) -> Settings:
    return settings.model_copy(
        update={k: getattr(settings, k).model_copy(update=v) for k, v in sections.items()}
    )


def run_tags(story: dict, summary: dict) -> dict[str, str]:
    use_tracking(story["settings"])
    return MlflowClient().get_run(summary["mlflow_run_id"]).data.tags


def test_without_a_champion_the_night_trains_full(warm_story: dict) -> None:
    first = warm_story["first"]
    assert (first["train_mode"], first["alias"]) == ("full", "champion"), first
    assert first["train_mode_reason"] == "no champion trained before this night"


def test_the_next_night_starts_warm_from_the_champion_and_mlflow_records_it(
    warm_story: dict,
) -> None:
    warm, first = warm_story["warm"], warm_story["first"]
    assert warm["train_mode"] == "warm", warm
    assert 1 <= warm["epochs"] <= warm_story["settings"].train.warm_epochs  # best on validation
    tags = run_tags(warm_story, warm)
    assert tags["train_mode"] == "warm"
    assert tags["parent_version"] == first["model_version"]
    assert tags["full_trained_on"] == (warm_story["day"] - timedelta(days=1)).isoformat()
    # judged like any version: metrics beside the baselines, through the same gate
    assert warm["metrics"]["ndcg_at_10"] > 0
    assert warm["alias"] in ("champion", "challenger")


def test_the_champion_sits_tonights_exam_and_both_numbers_are_logged(warm_story: dict) -> None:
    warm, first = warm_story["warm"], warm_story["first"]
    use_tracking(warm_story["settings"])
    run = MlflowClient().get_run(warm["mlflow_run_id"]).data
    assert run.tags["gate_exam"] == "tonight", run.tags.get("gate_exam_why")
    assert run.tags["gate_champion_version"] == first["model_version"]
    on_tonight = run.metrics["champion_ndcg_at_10"]
    assert warm["champion_metric"] == pytest.approx(on_tonight)
    # tonight's exam, not the champion's own night's: another week, another number
    assert on_tonight != pytest.approx(first["metrics"]["ndcg_at_10"], abs=1e-9)


def test_a_run_older_than_the_champion_never_moves_the_alias(warm_story: dict) -> None:
    older = warm_story["older"]
    assert (older["alias"], older["reason"]) == ("challenger", "older_than_champion"), older
    client = use_tracking(warm_story["settings"])
    champion = client.get_model_version_by_alias(
        warm_story["settings"].registered_model, "champion"
    )
    assert champion.version != older["model_version"]


def test_the_alias_moves_only_if_the_judged_champion_is_still_champion(warm_story: dict) -> None:
    settings, older = warm_story["settings"], warm_story["older"]
    client = use_tracking(settings)
    name = settings.registered_model
    champion = client.get_model_version_by_alias(name, "champion")
    judged = client.get_model_version(name, warm_story["first"]["model_version"])
    assert judged.version != champion.version  # another run moved the alias meanwhile
    decision = Decision(CHAMPION, "at_least_as_good_as_champion", 0.1)
    applied = apply_decision(
        client, settings, older["model_version"], decision, older["mlflow_run_id"], judged
    )
    assert (applied.alias, applied.reason) == ("challenger", "champion_changed_while_judging")
    assert client.get_model_version_by_alias(name, "champion").version == champion.version


def test_the_warm_nights_served_model_keeps_the_term_weights_chosen_tonight(
    warm_story: dict,
) -> None:
    use_tracking(warm_story["settings"])
    evaluated, served = states_of(warm_story["warm"]["mlflow_run_id"])
    assert evaluated.moments  # Adam's state travels with the weights
    assert served.recommender.describe() == evaluated.recommender.describe()


def test_a_rerun_of_the_night_starts_from_the_same_parent(warm_story: dict) -> None:
    rerun, warm = warm_story["rerun"], warm_story["warm"]
    assert rerun["train_mode"] == "warm"
    assert run_tags(warm_story, rerun)["parent_version"] == warm_story["first"]["model_version"]
    assert rerun["metrics"]["ndcg_at_10"] == pytest.approx(warm["metrics"]["ndcg_at_10"])


def test_a_rerun_with_the_same_export_and_settings_keeps_the_champion(warm_story: dict) -> None:
    again, warm = warm_story["again"], warm_story["warm"]
    assert warm["alias"] == "champion", warm
    assert (again["train_mode"], again["alias"]) == ("reused", "champion"), again
    assert again["reason"] == "already_trained_on_this_export"
    assert (again["model_version"], again["mlflow_run_id"]) == (
        warm["model_version"],
        warm["mlflow_run_id"],
    )
    # no version was registered for it: the next one is the changed-settings rerun's
    assert int(warm_story["rerun"]["model_version"]) == int(warm["model_version"]) + 1


def test_auto_trains_full_every_n_days(warm_story: dict) -> None:
    night = warm_story["full_every_day"]
    assert night["train_mode"] == "full"
    assert "days since the last full retrain" in night["train_mode_reason"]


def test_auto_trains_full_when_the_architecture_changed(warm_story: dict) -> None:
    night = warm_story["architecture"]
    assert night["train_mode"] == "full"
    assert "dim 128 -> 64" in night["train_mode_reason"]


def test_auto_trains_full_when_the_warm_candidate_fails_the_gate(warm_story: dict) -> None:
    night = warm_story["gate_failure"]
    assert night["warm_attempt"]["alias"] == "challenger"
    assert night["train_mode"] == "full"
    assert "failed the gate" in night["train_mode_reason"]
    assert int(night["model_version"]) == int(night["warm_attempt"]["model_version"]) + 1


def test_auto_trains_full_when_the_text_model_changed(warm_story: dict) -> None:
    settings, day = warm_story["settings"], warm_story["day"]
    client = use_tracking(settings)
    start = train_start(settings, client, day, "another-model@0123:mean")
    assert (start.mode, start.reason) == ("full", start.reason)
    assert "text model changed" in start.reason


def test_full_mode_never_starts_warm(warm_story: dict) -> None:
    settings = warm_story["settings"]
    full = settings.model_copy(update={"train": settings.train.model_copy(update={"mode": "full"})})
    start = train_start(full, use_tracking(full), warm_story["day"], "any")
    assert (start.mode, start.reason) == ("full", "RECSYS_TRAIN_MODE=full")
