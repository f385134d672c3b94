from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.run_date import resolve_run_date
from pipeline.core.settings_reference import environment_variables


def test_defaults_live_under_an_absolute_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("RECSYS_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.home == tmp_path / "var"
    assert settings.landing_dir == tmp_path / "var" / "landing"
    assert settings.warehouse_path == tmp_path / "var" / "warehouse.duckdb"
    assert settings.quarantine_threshold == 0.05


def test_every_value_comes_from_recsys_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RECSYS_HOME", str(tmp_path))
    monkeypatch.setenv("RECSYS_QUARANTINE_THRESHOLD", "0.2")
    monkeypatch.setenv("RECSYS_RUN_DATE", "2026-01-02")
    settings = Settings()
    assert settings.home == tmp_path
    assert settings.quarantine_threshold == 0.2
    assert resolve_run_date(settings) == date(2026, 1, 2)


def test_run_date_comes_from_flag_then_manifest_never_the_clock(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    with pytest.raises(RecsysError, match="no run date"):
        resolve_run_date(settings)
    settings.landing_dir.mkdir(parents=True)
    (settings.landing_dir / "manifest.json").write_text('{"run_date": "2026-11-27"}')
    assert resolve_run_date(settings) == date(2026, 11, 27)
    assert resolve_run_date(settings, date(2026, 1, 1)) == date(2026, 1, 1)
    (settings.landing_dir / "manifest.json").write_text("{not json")
    with pytest.raises(RecsysError, match="not a valid JSON manifest"):
        resolve_run_date(settings)


def test_a_section_reads_its_variables_unchanged(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RECSYS_TRAIN_MAX_EPOCHS", "3")
    monkeypatch.setenv("RECSYS_SPARK_CONF", '{"spark.x": "y"}')
    monkeypatch.setenv("RECSYS_SPARK_CONN_ID", "my_spark")
    monkeypatch.setenv("RECSYS_LOSS_WEIGHTS", '{"interaction": 1}')
    settings = Settings(home=tmp_path, train={"seed": 7})
    assert (settings.train.max_epochs, settings.train.seed) == (3, 7)  # env and code merge
    assert settings.spark.conf == {"spark.x": "y"}
    assert settings.spark.conn_id == "my_spark"
    assert settings.loss_weights == {"interaction": 1.0}


def test_a_bad_section_value_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_TRAIN_MAX_EPOCHS", "zero")
    with pytest.raises(ValidationError, match=r"train\.max_epochs"):
        Settings()


def test_every_variable_is_listed_once() -> None:
    names = [variable for variable, *_ in environment_variables()]
    assert len(names) == len(set(names))
    assert {"RECSYS_HOME", "RECSYS_TRAIN_SEED", "RECSYS_DBT_PROJECT_DIR"} <= set(names)


def test_the_score_terms_old_path_variables_are_still_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_TRAIN_ITEM_ITEM_PATH", "off")
    monkeypatch.setenv("RECSYS_TRAIN_RATING_PATH", "false")
    train = Settings().train
    assert (train.item_item_term, train.rating_term, train.factor_term) == ("off", False, True)
    monkeypatch.setenv("RECSYS_TRAIN_ITEM_ITEM_TERM", "ease")
    monkeypatch.delenv("RECSYS_TRAIN_ITEM_ITEM_PATH")
    assert Settings().train.item_item_term == "ease"
