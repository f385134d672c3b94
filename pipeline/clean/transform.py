"""Transform: `dbt build` (raw -> staging -> quarantine, then marts) for a run date.

The first build judges every raw row (staging, classification, quarantine.rejected_rows); the circuit
breaker then stops the night when a table's quarantined share passes the threshold, before the
marts are touched; the second build makes the marts. The row accounting (raw = clean + merged +
deferred + quarantined) is read back from the models at the end.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb
from rich.console import Console
from rich.table import Table

from pipeline.clean.dbt import ANALYTICS_MODELS, run_dbt
from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.run_date_guard import check_days_ahead
from pipeline.core.warehouse import connect, table_exists
from pipeline.landing.contract import LANDING_TABLES

# rows of users forgotten on request (`recsys forget`): never a sign of a broken feed
ERASED_REASON = "erased_user"
JUDGING_MODELS = ["path:models/staging", "path:models/intermediate", "path:models/quarantine"]
CLEAN_MODELS = {
    "users": "marts.dim_users",
    "items": "marts.dim_items",
    "interactions": "marts.fct_interactions",
    "social_edges": "marts.fct_social_edges",
}


def quarantine_accounting(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    """Per landing table: raw rows, quarantined rows and why, overall and in the latest ingest."""
    accounting: dict[str, dict[str, Any]] = {}
    for table in CLEAN_MODELS:
        (raw,) = con.execute(f"select count(*) from raw.{table}").fetchall()[0]
        reasons = dict(
            con.execute(
                "select reason, count(*) from quarantine.rejected_rows where source_table = ? "
                "group by reason order by count(*) desc, reason",
                [table],
            ).fetchall()
        )
        # the newest ingest's share: months of clean history must not hide a broken new drop
        latest_raw, latest_quarantined, latest_erased = con.execute(
            f"""
            with latest as (select max(_loaded_at) as at from raw.{table})
            select
                (select count(*) from raw.{table}, latest where _loaded_at = latest.at),
                (select count(*) from quarantine.rejected_rows, latest
                 where source_table = $table and loaded_at = latest.at),
                (select count(*) from quarantine.rejected_rows, latest
                 where source_table = $table and loaded_at = latest.at
                   and reason = '{ERASED_REASON}')
            """,
            {"table": table},
        ).fetchall()[0]
        accounting[table] = {
            "raw": raw,
            "quarantined": sum(reasons.values()),
            "quarantine_reasons": reasons,
            "latest_load": {
                "raw": latest_raw,
                "quarantined": latest_quarantined,
                "erased": latest_erased,
            },
        }
    return accounting


def row_accounting(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    """Per landing table: raw rows and where each went, every term read from its own model."""
    accounting = quarantine_accounting(con)
    for table, clean_model in CLEAN_MODELS.items():
        (clean,) = con.execute(f"select count(*) from {clean_model}").fetchall()[0]
        (merged,) = con.execute(
            "select count(*) from marts.merged_duplicates where source_table = ?", [table]
        ).fetchall()[0]
        (deferred,) = con.execute(
            "select count(*) from marts.deferred_rows where source_table = ?", [table]
        ).fetchall()[0]
        accounting[table] = {
            "raw": accounting[table]["raw"],
            "clean": clean,
            "merged": merged,
            "deferred": deferred,
            **{k: v for k, v in accounting[table].items() if k != "raw"},
        }
    return accounting


def check_circuit_breaker(accounting: dict[str, dict[str, Any]], threshold: float) -> None:
    """Stop the night when an upstream feed looks broken: too many of a table's rows quarantined."""
    tripped = []
    for table, counts in accounting.items():
        reasons = ", ".join(f"{r}: {n}" for r, n in counts["quarantine_reasons"].items())
        latest = counts.get("latest_load", {"raw": 0, "quarantined": 0})
        # a forgotten user's rows are quarantined by request, not because the feed is broken
        bad = counts["quarantined"] - counts["quarantine_reasons"].get(ERASED_REASON, 0)
        latest_bad = latest["quarantined"] - latest.get("erased", 0)
        if counts["raw"] and bad / counts["raw"] > threshold:
            tripped.append(
                f"{table}: {bad} of {counts['raw']} rows quarantined "
                f"({bad / counts['raw']:.1%}; {reasons})"
            )
        elif latest["raw"] and latest_bad / latest["raw"] > threshold:
            tripped.append(
                f"{table}: {latest_bad} of the {latest['raw']} rows of the latest "
                f"ingest quarantined ({latest_bad / latest['raw']:.1%}; all loads: "
                f"{reasons})"
            )
    if tripped:
        raise RecsysError(
            f"circuit breaker: quarantined share above {threshold:.1%} in "
            + "; ".join(tripped)
            + ". Inspect quarantine.rejected_rows, fix the feed, or raise "
            "RECSYS_QUARANTINE_THRESHOLD."
        )


def _print_accounting(accounting: dict[str, dict[str, Any]]) -> None:
    table = Table(title="rows per landing table")
    for column in ("table", "raw", "clean", "merged", "deferred", "quarantined"):
        table.add_column(column, justify="left" if column == "table" else "right")
    for name, counts in accounting.items():
        table.add_row(
            name, *(f"{counts[c]:,}" for c in ("raw", "clean", "merged", "deferred", "quarantined"))
        )
    Console(stderr=True).print(table)


def transform(settings: Settings, run_date: date) -> dict[str, Any]:
    """Build staging, marts and quarantine for `run_date`; return the stage summary."""
    with connect(settings.warehouse_path, read_only=True) as con:
        missing = [t for t in LANDING_TABLES if not table_exists(con, "raw", t)]
        if missing:
            raise RecsysError(
                f"raw tables missing ({', '.join(missing)}): run `recsys ingest` first"
            )
        empty = [
            name
            for name, table in LANDING_TABLES.items()
            if table.mandatory
            and not con.execute(f"select count(*) from raw.{name}").fetchall()[0][0]
        ]
    if empty:
        raise RecsysError(
            f"no {', '.join(empty)} rows were ever loaded: a night needs items and "
            "interactions (check the landing folder and run `recsys ingest`)"
        )

    # Two builds: first what judges the rows (staging, classification, quarantine), then the
    # circuit breaker, then the marts. A tripped breaker leaves the last good marts in place.
    run_dbt(
        settings,
        ["build", "--select", *JUDGING_MODELS, "--indirect-selection", "cautious"],
        run_date,
    )
    with connect(settings.warehouse_path, read_only=True) as con:
        check_circuit_breaker(quarantine_accounting(con), settings.quarantine_threshold)
        check_days_ahead(con, settings, run_date)  # before the marts or anything dated is written
    run_dbt(settings, ["build", "--exclude", *JUDGING_MODELS, *ANALYTICS_MODELS], run_date)

    with connect(settings.warehouse_path, read_only=True) as con:
        accounting = row_accounting(con)
        (requests,) = con.execute("select count(*) from marts.embedding_requests").fetchall()[0]
    _print_accounting(accounting)
    return {
        "stage": "transform",
        "run_date": run_date.isoformat(),
        "status": "ok",
        "tables": accounting,
        "embedding_requests": requests,
    }
