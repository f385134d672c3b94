"""`recsys tune` on the small demo night: a seeded search, the file it writes, a night that reads it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.run_date import resolve_run_date
from pipeline.learn.towers.train_config import TrainConfig
from pipeline.train.registry import use_tracking
from pipeline.train.stage import train
from pipeline.train.tune import SPACE, tune
from pipeline.train.tuned_settings import tuned_record, with_tuned, write_tuned
from tests.conftest import Night, night_home

TRIALS = 3


@pytest.fixture(scope="module")
def tuned(embedded_night: Night, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two searches of the same night and seed, then a night that reads the first one's file
    (two epochs a fit: the search's behaviour is under test, not its findings)."""
    settings = night_home(
        embedded_night,
        tmp_path_factory.mktemp("tuned"),
        train={"max_epochs": 2, "patience": 1, "refit": False},
    )
    day = resolve_run_date(settings)
    first = tune(settings, day, trials=TRIALS)
    again = tune(settings, day, trials=TRIALS, out=settings.home / "again.json")
    night = train(settings, day)
    return {"settings": settings, "first": first, "again": again, "night": night}


def test_tuning_is_reproducible_for_a_seed(tuned: dict) -> None:
    first, again = Path(tuned["first"]["file"]), Path(tuned["again"]["file"])
    assert first == tuned["settings"].home / "tuned.json"
    assert first.read_text() == again.read_text()


def test_the_file_holds_the_best_trial_and_the_untuned_one_first(tuned: dict) -> None:
    record = json.loads(Path(tuned["first"]["file"]).read_text())
    history = record["history"]
    assert len(history) == TRIALS and record["trials"] == TRIALS
    assert set(record["train"]) | set(record["model_options"]) == {k.name for k in SPACE}
    # trial 0 is the configuration a night runs without the file
    defaults = TrainConfig.from_settings(Settings())
    assert history[0]["params"]["lr"] == defaults.lr
    assert history[0]["params"]["history_length"] == defaults.history_length
    best = max(history, key=lambda t: t["value"])
    assert record["best"]["value"] == best["value"] >= record["best"]["untuned_value"]
    assert {**record["train"], **record["model_options"]} == best["params"]
    assert 0 < record["best"]["value"] <= 1


def test_a_night_trains_with_the_tuned_values_and_mlflow_records_the_file(tuned: dict) -> None:
    settings = tuned["settings"]
    record = tuned_record(settings)
    assert record is not None
    run = use_tracking(settings).get_run(tuned["night"]["mlflow_run_id"])
    params = run.data.params
    assert params["tuned_config"] == str(settings.tuned_path)
    assert float(params["lr"]) == pytest.approx(record["train"]["lr"])
    assert int(params["model_dim"]) == record["model_options"]["dim"]
    assert params["max_epochs"] == "2"  # set explicitly: not the tuned file's to change
    logged = use_tracking(settings).download_artifacts(run.info.run_id, "tuned.json")
    assert json.loads(Path(logged).read_text()) == record


def test_explicit_settings_win_over_the_tuned_file(tmp_path: Path) -> None:
    write_tuned(
        tmp_path / "tuned.json",
        {"train": {"lr": 0.005, "history_cuts": 4}, "model_options": {"dim": 32, "hidden": 128}},
    )
    plain = TrainConfig.from_settings(with_tuned(Settings(home=tmp_path)))
    assert (plain.lr, plain.history_cuts, plain.model["dim"]) == (0.005, 4, 32)
    pinned = Settings(home=tmp_path, train={"lr": 0.001}, model_options={"dim": 16})
    cfg = TrainConfig.from_settings(with_tuned(pinned))
    assert (cfg.lr, cfg.history_cuts, cfg.model["dim"], cfg.model["hidden"]) == (0.001, 4, 16, 128)
    ignored = Settings(home=tmp_path, tune={"apply": False})
    assert TrainConfig.from_settings(with_tuned(ignored)).lr == Settings().train.lr


def test_no_file_means_no_change_and_a_broken_one_a_clear_error(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert with_tuned(settings) is settings
    with pytest.raises(RecsysError, match="does not exist"):
        with_tuned(Settings(home=tmp_path, tune={"file": tmp_path / "missing.json"}))
    (tmp_path / "tuned.json").write_text("{not json")
    with pytest.raises(RecsysError, match="invalid JSON"):
        with_tuned(settings)
    write_tuned(tmp_path / "tuned.json", {"train": {"lr_typo": 1.0}, "model_options": {}})
    with pytest.raises(RecsysError, match="unknown train settings lr_typo"):
        with_tuned(settings)
    write_tuned(tmp_path / "tuned.json", {"train": {"lr": -1.0}, "model_options": {}})
    with pytest.raises(RecsysError, match="greater than 0"):
        with_tuned(settings)
