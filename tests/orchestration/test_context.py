"""Which night a DAG run processes: the param, else the logical date (UTC), else the manifest."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipeline.core.errors import RecsysError
from pipeline.landing.folders import write_manifest
from pipeline.orchestration.context import night_params


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RECSYS_HOME", str(tmp_path))
    monkeypatch.delenv("RECSYS_RUN_DATE", raising=False)
    return tmp_path


def test_the_run_date_param_wins_over_the_logical_date() -> None:
    night = night_params({"run_date": "2026-09-27"}, datetime(2026, 9, 28, 2, tzinfo=UTC))
    assert night.run_date == date(2026, 9, 27)


def test_the_logical_date_is_read_in_utc() -> None:
    # 01:30 on the 28th in UTC+3 is still the 27th in UTC
    tz = timezone(timedelta(hours=3))
    assert night_params({}, datetime(2026, 9, 28, 1, 30, tzinfo=tz)).run_date == date(2026, 9, 27)


def test_a_run_without_logical_date_takes_the_manifest_or_says_what_to_do(home: Path) -> None:
    landing = home / "drop"
    with pytest.raises(RecsysError, match="no logical date and no run_date param"):
        night_params({"landing": str(landing)}, None)
    landing.mkdir()
    write_manifest(landing, {"run_date": "2026-09-20"})
    assert night_params({"landing": str(landing)}, None).run_date == date(2026, 9, 20)


def test_params_override_settings_and_default_to_them(home: Path) -> None:
    night = night_params(
        {"landing": str(home / "x"), "top_n": 5, "force_reembed": True, "retrain": False},
        datetime(2026, 9, 28, tzinfo=UTC),
    )
    assert night.settings.landing_dir == home / "x"
    assert (night.top_n, night.force_reembed, night.retrain) == (5, True, False)
    default = night_params({}, datetime(2026, 9, 28, tzinfo=UTC))
    assert default.settings.landing_dir == home / "landing"
    assert (default.top_n, default.force_reembed, default.retrain) == (10, False, True)


def test_an_impossible_run_date_param_names_itself() -> None:
    with pytest.raises(RecsysError, match="2026-02-30"):
        night_params({"run_date": "2026-02-30"}, None)
