"""Run dates the night refuses: too far after the data, or before what is published."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.run_date_guard import check_days_ahead, check_not_behind
from tests.conftest import Night, night_home
from tests.crash.checksums import table_checksums
from tests.test_cli import recsys

runner = CliRunner()


def published_until(settings: Settings, day: str) -> None:
    settings.home.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.warehouse_path))
    con.execute("create schema if not exists marts")
    con.execute("create table if not exists marts.recommendations (run_date date, user_id varchar)")
    con.execute("insert into marts.recommendations values (?, 'u1')", [day])
    con.close()


def test_a_date_before_the_newest_published_night_needs_backfill(home: Settings) -> None:
    check_not_behind(home, date(2026, 9, 1), backfill=False)  # no warehouse: nothing published
    published_until(home, "2026-09-28")
    with pytest.raises(
        RecsysError, match=r"before the newest published night 2026-09-28.*--backfill"
    ):
        check_not_behind(home, date(2026, 9, 27), backfill=False)
    check_not_behind(home, date(2026, 9, 27), backfill=True)
    check_not_behind(home, date(2026, 9, 28), backfill=False)  # a rerun of the newest night
    check_not_behind(home, date(2026, 9, 29), backfill=False)


def test_a_date_too_far_after_the_newest_clean_event_is_refused() -> None:
    con = duckdb.connect()
    con.execute("create schema staging")
    con.execute(
        "create table staging.int_interactions__classified (event_ts timestamptz, outcome varchar)"
    )
    con.execute(
        "insert into staging.int_interactions__classified values "
        "('2026-09-28 10:00:00+00', 'clean'), "
        # a planted far-future event is deferred, never clean: it cannot vouch for a wrong date
        "('2099-01-01 00:00:00+00', 'deferred')"
    )
    settings = Settings()
    check_days_ahead(con, settings, date(2026, 9, 30))  # two days: allowed
    with pytest.raises(RecsysError, match=r"3 days after the newest landed event.*MAX_DAYS_AHEAD"):
        check_days_ahead(con, settings, date(2026, 10, 1))
    check_days_ahead(con, settings.model_copy(update={"max_days_ahead": 5}), date(2026, 10, 1))


def test_a_mistyped_future_date_stops_transform_before_the_marts(
    demo_night: Night, tmp_path: Path
) -> None:
    settings = night_home(demo_night, tmp_path / "home")
    before = table_checksums(settings.warehouse_path)
    env = {**os.environ, "RECSYS_LANDING": str(settings.landing_dir)}
    result = recsys("transform", "--home", str(settings.home), "--run-date", "2027-09-28", env=env)
    assert result.returncode == 1, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1].startswith("error: run date 2027-09-28 is ")
    assert "days after the newest landed event" in result.stderr
    after = table_checksums(settings.warehouse_path)
    marts = {k: v for k, v in before.items() if k.startswith(("marts.", "raw.", "meta."))}
    assert {k: after[k] for k in marts} == marts


def test_the_cli_refuses_an_older_date_before_writing_unless_backfill(
    demo_night: Night, tmp_path: Path
) -> None:
    settings = night_home(demo_night, tmp_path / "home")
    published_until(settings, "2030-01-01")
    before = table_checksums(settings.warehouse_path)
    args = ["ingest", "--home", str(settings.home), "--landing", str(settings.landing_dir)]
    refused = runner.invoke(app, [*args, "--run-date", "2029-12-31"])
    assert refused.exit_code == 1
    assert "before the newest published night 2030-01-01" in refused.output
    assert table_checksums(settings.warehouse_path) == before
    allowed = runner.invoke(app, [*args, "--run-date", "2029-12-31", "--backfill"])
    assert allowed.exit_code == 0, allowed.output
