"""Run dates the night refuses: one too far after the data, or one before what is published.

A mistyped future date would prune recommendations and work folders as if time had passed; an
older date silently replaces the marts and the published copy with an old night. Both are refused
with one line:

- before anything is written: a date before the newest published night, unless the run says it
  is a backfill (`--backfill`, an Airflow backfill run, or the DAG's `backfill` param);
- inside `transform`, once dbt has judged the raw rows and before the marts are rebuilt (ingest
  only appends landed rows; nothing is pruned or published before this check): a date more than
  `RECSYS_MAX_DAYS_AHEAD` days after the newest clean event the night would use (events after
  the run date are deferred, so a planted far-future event cannot pass a wrong date).
"""

from __future__ import annotations

from datetime import date, datetime

import duckdb

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.warehouse import connect, table_exists


def newest_published_night(settings: Settings) -> date | None:
    """The newest run date with recommendations in the warehouse, or None."""
    if not settings.warehouse_path.exists():
        return None
    with connect(settings.warehouse_path, read_only=True) as con:
        if not table_exists(con, "marts", "recommendations"):
            return None
        return con.execute("select max(run_date) from marts.recommendations").fetchall()[0][0]


def check_not_behind(settings: Settings, run_date: date, *, backfill: bool) -> None:
    """Refuse a date before the newest published night unless it is a backfill."""
    if backfill:
        return
    newest = newest_published_night(settings)
    if newest is not None and run_date < newest:
        raise RecsysError(
            f"run date {run_date} is before the newest published night {newest}: to process "
            "an earlier date on purpose pass --backfill (Airflow: a backfill run, or the "
            "`backfill` param); its rows replace that date's, and the champion never moves to "
            "a model of an older date"
        )


# dbt's judgement of every raw interaction for the run date (a view, built by the first build)
JUDGED = ("staging", "int_interactions__classified")


def check_days_ahead(con: duckdb.DuckDBPyConnection, settings: Settings, run_date: date) -> None:
    """Refuse a date more than RECSYS_MAX_DAYS_AHEAD after the newest clean event up to it."""
    if not table_exists(con, *JUDGED):
        return
    newest = con.execute(
        f"select max(event_ts) from {'.'.join(JUDGED)} where outcome = 'clean'"
    ).fetchall()[0][0]
    if newest is None:
        return
    newest_day = newest.date() if isinstance(newest, datetime) else newest
    gap = (run_date - newest_day).days
    if gap > settings.max_days_ahead:
        raise RecsysError(
            f"run date {run_date} is {gap} days after the newest landed event ({newest_day}); "
            f"RECSYS_MAX_DAYS_AHEAD allows {settings.max_days_ahead}: check the date (a mistyped "
            "one would prune recommendations and work files as if that time had passed), or "
            "raise RECSYS_MAX_DAYS_AHEAD for a shop whose events arrive late"
        )
