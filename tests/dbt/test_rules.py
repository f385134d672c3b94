"""Cleaning rules on small hand-made landings (each test its own warehouse)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pipeline.clean.transform import transform
from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.warehouse import connect
from pipeline.landing.ingest import ingest
from tests.conftest import write_csv

DAY = date(2026, 11, 27)


@pytest.fixture
def home(tmp_path: Path) -> Settings:
    """An empty home whose hand-made events may lie a few weeks before DAY (the run-date guard
    would refuse DAY otherwise: tests/core/test_run_date_guard.py)."""
    return Settings(home=tmp_path / "home", max_days_ahead=60)


def query(settings: Settings, sql: str) -> list[tuple]:
    with connect(settings.warehouse_path, read_only=True) as con:
        return con.execute(sql).fetchall()


def test_input_order_not_load_time_decides_which_version_wins(home: Settings) -> None:
    landing = home.landing_dir
    write_csv(landing / "users.csv", "user_id\nu1\n")
    write_csv(landing / "interactions.csv", "user_id,item_id,event_ts\nu1,i1,2026-11-20\n")
    write_csv(landing / "items" / "dt=2026-11-02" / "part-0.csv", "item_id,title\ni1,NEW\n")
    ingest(home)
    # the older drop arrives late: it is loaded last but must not replace the newer version
    write_csv(landing / "items" / "dt=2026-11-01" / "part-0.csv", "item_id,title\ni1,OLD\n")
    ingest(home)
    transform(home.model_copy(update={"quarantine_threshold": 1.0}), DAY)
    assert query(home, "select title from marts.dim_items") == [("NEW",)]
    assert query(home, "select reason from quarantine.rejected_rows") == [
        ("conflicting_duplicate",)
    ]


def test_duplicates_are_judged_on_typed_values_and_ids_lose_any_whitespace(home: Settings) -> None:
    landing = home.landing_dir
    write_csv(landing / "users.csv", "user_id\nu1\n")
    write_csv(
        landing / "items.csv",
        "item_id,title,price\ni1,A,10\ni2,B,100000000000000\ni3,C,200000000000000\n",
    )
    write_csv(
        landing / "interactions.csv",
        "user_id,item_id,event_ts,rating\n"
        "u1,i1,2026-11-20,4\n"
        "u1\t,i1,2026-11-20T00:00:00Z,4.0\n",  # the same event, written differently
    )
    ingest(home)
    summary = transform(home, DAY)  # prices of 1e14 must not overflow the standardisation
    assert summary["tables"]["interactions"]["clean"] == 1
    assert summary["tables"]["interactions"]["merged"] == 1
    assert query(home, "select count(*) from marts.dim_items where price_z is null") == [(0,)]


def test_a_night_without_events_is_refused(home: Settings) -> None:
    write_csv(home.landing_dir / "users.csv", "user_id\nu1\n")
    write_csv(home.landing_dir / "items.csv", "item_id,title\ni1,A\n")
    ingest(home)
    with pytest.raises(RecsysError, match="no interactions rows were ever loaded"):
        transform(home, DAY)


def test_breaker_watches_the_latest_load_and_stops_before_the_marts(home: Settings) -> None:
    landing = home.landing_dir
    write_csv(landing / "users.csv", "user_id\n" + "".join(f"u{i}\n" for i in range(100)))
    write_csv(landing / "items.csv", "item_id,title\ni1,A\n")
    events = "".join(f"u{i},i1,2026-11-{10 + i % 10}\n" for i in range(100))
    write_csv(
        landing / "interactions" / "dt=2026-11-20" / "part-0.csv",
        "user_id,item_id,event_ts\n" + events,
    )
    ingest(home)
    transform(home, DAY)
    # a new drop where half the rows are broken: 5 of 110 overall (4.5%), 5 of 10 in the drop
    broken = "".join(f"ghost{i},i1,2026-11-26\n" for i in range(5)) + "".join(
        f"u{i},i1,2026-11-26\n" for i in range(5)
    )
    write_csv(
        landing / "interactions" / "dt=2026-11-26" / "part-0.csv",
        "user_id,item_id,event_ts\n" + broken,
    )
    ingest(home)
    with pytest.raises(
        RecsysError, match=r"interactions: 5 of the 10 rows of the latest ingest quarantined"
    ):
        transform(home, DAY)
    # the breaker ran before the marts were rebuilt: analysts still see the last good night,
    # while the quarantine already explains the new drop
    assert query(home, "select count(*) from marts.fct_interactions") == [(100,)]
    assert query(home, "select count(*) from quarantine.rejected_rows") == [(5,)]
