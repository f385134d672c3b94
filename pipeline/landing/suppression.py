"""The suppression list of forgotten users, and the redaction of their raw rows.

`recsys forget` adds a salted sha256 of each forgotten id to `meta.erased_users`. A raw row that
names a listed user (as `user_id` or `friend_id`, or anywhere in a record the CSV parser could
not split) is redacted where it lies: every value becomes null but the id, which becomes
`erased:<hash>`. dbt then quarantines the row as `erased_user`, so the row counts still add up
and no personal value survives. Ingest applies the same redaction to every file it loads, so a
forgotten user's later rows are never loaded as they are, `--reload` included.

Ids are hashed as dbt cleans them (surrounding whitespace stripped): ` u1 ` is `u1`.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import duckdb

from pipeline.core.config import Settings
from pipeline.core.warehouse import quote_ident
from pipeline.landing.contract import LANDING_TABLES, LINEAGE_COLUMNS

ERASED_PREFIX = "erased:"
# the columns of each landing table that name a user
USER_COLUMNS: dict[str, tuple[str, ...]] = {
    "users": ("user_id",),
    "interactions": ("user_id",),
    "social_edges": ("user_id", "friend_id"),
}

SUPPRESSION_DDL = """
create table if not exists meta.erased_users (
    user_hash varchar primary key,
    erased_at timestamptz not null
)
"""
SALT_DDL = "create table if not exists meta.erasure_salt (salt varchar not null)"


def clean_id_sql(expression: str) -> str:
    """dbt's `strip` (macros/cleaning.sql): the id as staging sees it."""
    return f"regexp_replace({expression}, '^\\s+|\\s+$', '', 'g')"


def hash_sql(expression: str) -> str:
    """The salted hash of an id, with the salt as the named parameter `$salt`."""
    return f"sha256($salt || {clean_id_sql(expression)})"


def salt(con: duckdb.DuckDBPyConnection, settings: Settings, *, create: bool = False) -> str | None:
    """The salt of the hashes: the setting, else the warehouse's own (made when `create`)."""
    if settings.erasure.salt is not None:
        return settings.erasure.salt.get_secret_value()
    con.execute(SALT_DDL)
    # fetchall: a half-read result would block the connection's next query
    rows = con.execute("select salt from meta.erasure_salt").fetchall()
    if not rows and create:
        con.execute("insert into meta.erasure_salt values (?)", [secrets.token_hex(32)])
        rows = con.execute("select salt from meta.erasure_salt").fetchall()
    return rows[0][0] if rows else None


def hash_ids(con: duckdb.DuckDBPyConnection, salt_value: str, ids: list[str]) -> dict[str, str]:
    """Each id as staging cleans it, with its salted hash (the SQL that matches raw rows)."""
    rows = con.execute(
        f"select distinct {clean_id_sql('id')}, {hash_sql('id')} from unnest($ids) as t(id)",
        {"salt": salt_value, "ids": ids},
    ).fetchall()
    return dict(sorted(rows))


def add_to_list(con: duckdb.DuckDBPyConnection, hashes: list[str]) -> int:
    """List `hashes` (already listed ones stay as they were); return how many are new."""
    con.execute(SUPPRESSION_DDL)
    before = con.execute("select count(*) from meta.erased_users").fetchall()[0][0]
    now = datetime.now(UTC)  # audit metadata only
    con.executemany(
        "insert into meta.erased_users values (?, ?) on conflict do nothing",
        [[h, now] for h in hashes],
    )
    return con.execute("select count(*) from meta.erased_users").fetchall()[0][0] - before


def listed(con: duckdb.DuckDBPyConnection) -> int:
    """How many users the suppression list holds (0 when it does not exist yet)."""
    exists = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'meta' and table_name = 'erased_users'"
    ).fetchall()[0][0]
    return con.execute("select count(*) from meta.erased_users").fetchall()[0][0] if exists else 0


def redact_raw(
    con: duckdb.DuckDBPyConnection,
    table: str,
    salt_value: str,
    *,
    source_file: str | None = None,
) -> int:
    """Redact the rows of `raw.<table>` (of one file, or all) that name a listed user; return
    how many rows were redacted. Already redacted rows no longer match."""
    id_columns = USER_COLUMNS.get(table, ())
    if not id_columns or listed(con) == 0:
        return 0
    scope = "where _source_file = $file" if source_file is not None else ""
    params: dict[str, object] = {"salt": salt_value}
    if source_file is not None:
        params["file"] = source_file
    hashed = ", ".join(f"{hash_sql(quote_ident(c))} as h_{c}" for c in id_columns)
    # a record the parser could not split: its fields, as the error message lists them (JSON)
    fields = (
        "from_json(regexp_extract(_parse_error, 'near line [0-9]+: (.*)$', 1), '[\"VARCHAR\"]')"
    )
    matched = ", ".join(
        f"case when list_contains(listed.hashes, h_{c}) then h_{c} end as m_{c}" for c in id_columns
    )
    con.execute(
        f"""
        create or replace temp table _erased_rows as
        with listed as (select list(user_hash) as hashes from meta.erased_users),
        hashed as (
            select
                rowid as rid,
                {hashed},
                list_transform({fields}, lambda f: {hash_sql("f")}) as h_fields
            from raw.{table}
            {scope}
        ),
        matched as (
            select rid, {matched}, list_intersect(h_fields, listed.hashes)[1] as m_record
            from hashed, listed
        )
        select * from matched
        where {" or ".join(f"m_{c} is not null" for c in (*id_columns, "record"))}
        """,
        params,
    )
    count = con.execute("select count(*) from _erased_rows").fetchall()[0][0]
    if count:
        others = [
            c
            for (c,) in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'raw' and table_name = ?",
                [table],
            ).fetchall()
            if c not in id_columns and (c not in LINEAGE_COLUMNS or c == "_parse_error")
        ]
        first = id_columns[0]
        # the record's hash (a row the parser could not split) lands in the first id column
        marker = {c: f"e.m_{c}" for c in id_columns}
        marker[first] = f"coalesce(e.m_{first}, e.m_record)"
        sets = [
            *(
                f"{quote_ident(c)} = case when {m} is not null then '{ERASED_PREFIX}' || {m} end"
                for c, m in marker.items()
            ),
            *(f"{quote_ident(c)} = null" for c in others),
        ]
        con.execute(
            f"update raw.{table} set {', '.join(sets)} from _erased_rows e "
            f"where raw.{table}.rowid = e.rid"
        )
    con.execute("drop table _erased_rows")
    return count


def redact_all(con: duckdb.DuckDBPyConnection, salt_value: str) -> dict[str, int]:
    """Redact every raw table that exists; return the rows redacted per table."""
    existing = {
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'"
        ).fetchall()
    }
    return {t: redact_raw(con, t, salt_value) for t in LANDING_TABLES if t in existing}
