"""Checksums of what a night leaves: every warehouse table, the published copy, the work exports.

Audit-only values (load times) are left out: they record when, never what, and a retry runs
later. Rows are compared as sorted JSON, so the order DuckDB stores them in does not matter.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from pipeline.core.config import Settings

AUDIT = {"_loaded_at", "loaded_at", "erased_at"}


def _digest(con: duckdb.DuckDBPyConnection, relation: str, columns: list[str]) -> str:
    kept = [c for c in columns if c not in AUDIT]
    select = ", ".join(
        # the raw record a quarantined or deferred row carries holds its load time too
        f'json_merge_patch("{c}", \'{{"_loaded_at": null}}\') as "{c}"'
        if c == "record"
        else f'"{c}"'
        for c in kept
    )
    return con.execute(
        f"select md5(coalesce(string_agg(j, chr(10) order by j), '')) "
        f"from (select to_json(t)::varchar as j from (select {select} from {relation}) t)"
    ).fetchall()[0][0]


def table_checksums(path: Path) -> dict[str, str]:
    """Per base table of a DuckDB file (views left out), the checksum of its rows."""
    if not path.exists():
        return {}
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where not internal order by 1, 2"
        ).fetchall()
        sums = {}
        for schema, table in tables:
            columns = [
                c
                for (c,) in con.execute(
                    "select column_name from duckdb_columns() "
                    "where schema_name = ? and table_name = ? order by column_index",
                    [schema, table],
                ).fetchall()
            ]
            sums[f"{schema}.{table}"] = _digest(con, f'"{schema}"."{table}"', columns)
        return sums
    finally:
        con.close()


def state_checksums(home: Path) -> dict[str, str]:
    """Every table of the warehouse, the published copy (one entry) and each work export."""
    settings = Settings(home=home)
    sums = {f"warehouse:{k}": v for k, v in table_checksums(settings.warehouse_path).items()}
    sums["published"] = json.dumps(table_checksums(settings.published_path), sort_keys=True)
    con = duckdb.connect()
    try:
        for root in settings.work_dirs:
            for path in sorted(root.rglob("*.parquet")) if root.is_dir() else []:
                columns = [
                    c
                    for (c,) in con.execute(
                        "select column_name from (describe select * from read_parquet(?))",
                        [str(path)],
                    ).fetchall()
                ]
                relation = f"read_parquet('{str(path).replace(chr(39), chr(39) * 2)}')"
                sums[f"file:{path.relative_to(home)}"] = _digest(con, relation, columns)
    finally:
        con.close()
    return sums
