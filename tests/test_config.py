from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.run_date import resolve_run_date


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
