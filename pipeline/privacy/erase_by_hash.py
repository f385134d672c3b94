"""Forgetting from the suppression list alone: the salted hashes, no ids.

A backup taken before a `recsys forget` still holds the user's rows, and the ids are nowhere
but in those rows. So the ids are found there: every value that names a user (a `user_id`,
`friend_id` or `similar_user_id` column, the `id` of a user entity, the ids in a quarantined
record or in an unsplittable raw record) is hashed with the salt, and those whose hash is listed
are the users to erase. The warehouse erasure (`warehouse_scrub.erase_in_warehouse`) then runs
on them as `recsys forget` runs it, and the rows of the tables dbt rebuilds are deleted here (no
dbt run: the next night's `transform` rebuilds them from the redacted raw rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.warehouse import quote_ident
from pipeline.landing.suppression import add_to_list, clean_id_sql, redact_all, salt
from pipeline.landing.suppression_file import SuppressionList
from pipeline.privacy.warehouse_scrub import erase_in_warehouse

USER_COLUMNS = ("user_id", "friend_id", "similar_user_id")
# schemas whose tables are rebuilt from raw (dbt) or by the night: their rows are deleted
REBUILT_SCHEMAS = ("staging", "marts", "quarantine", "features", "analytics")


def _fields(error: str) -> str:
    """The fields of a record the CSV parser could not split, as its error message lists them."""
    return (
        f"coalesce(from_json(regexp_extract({error}, 'near line [0-9]+: (.*)$', 1), "
        "'[\"VARCHAR\"]'), [])"
    )


@dataclass
class HashErasure:
    newly_listed: int  # hashes the warehouse did not list before
    users: int  # users found in it by their hash
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows deleted or redacted
    landing_files: int = 0  # ledger entries that now follow a redacted landing file


def _candidates(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Per base table, a SQL list of the values in each row that may be a user id."""
    columns: dict[str, list[str]] = {}
    for schema, table, column in con.execute(
        "select c.schema_name, c.table_name, c.column_name from duckdb_columns() c "
        "join duckdb_tables() t using (database_name, schema_name, table_name) "
        "where c.database_name = current_database() and not t.internal order by all"
    ).fetchall():
        columns.setdefault(f"{quote_ident(schema)}.{quote_ident(table)}", []).append(column)
    lists = {}
    for table, names in columns.items():
        values = [f"{quote_ident(c)}::varchar" for c in names if c in USER_COLUMNS]
        if {"entity", "id"} <= set(names):
            values.append("case when entity = 'user' then id::varchar end")
        if "record" in names:
            values += ["record::json->>'user_id'", "record::json->>'friend_id'"]
        parts = [f"[{', '.join(values)}]"] if values else []
        if "_parse_error" in names:
            parts.append(_fields("_parse_error"))
        if "record" in names:
            parts.append(_fields("record::json->>'_parse_error'"))
        if parts:
            lists[table] = parts[0] if len(parts) == 1 else f"list_concat({', '.join(parts)})"
    return lists


def listed_ids(con: duckdb.DuckDBPyConnection, salt_value: str) -> list[str]:
    """The ids (as staging cleans them) anywhere in the warehouse whose hash is listed."""
    found: set[str] = set()
    for table, values in _candidates(con).items():
        found |= {
            i
            for (i,) in con.execute(
                f"select distinct {clean_id_sql('v')} from "
                f"(select unnest({values}) as v from {table}) "
                f"where v is not null and sha256($salt || {clean_id_sql('v')}) in "
                "(select user_hash from meta.erased_users)",
                {"salt": salt_value},
            ).fetchall()
        }
    return sorted(found)


def _delete_rebuilt(con: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[str, int]:
    deleted = {}
    for table, values in _candidates(con).items():
        if table.split(".")[0].strip('"') not in REBUILT_SCHEMAS:
            continue
        count = con.execute(
            f"delete from {table} where list_has_any("
            f"list_transform({values}, lambda v: {clean_id_sql('v')}), $ids)",
            {"ids": ids},
        ).fetchall()[0][0]
        if count:
            deleted[table.replace('"', "")] = count
    return deleted


def _shared_salt(con: duckdb.DuckDBPyConnection, settings: Settings, kept: SuppressionList) -> str:
    """The salt of the list's hashes, made the warehouse's own when it had none."""
    if settings.erasure.salt is not None:
        return settings.erasure.salt.get_secret_value()
    own = salt(con, settings)
    if own is None and kept.salt is not None:
        con.execute("insert into meta.erasure_salt values (?)", [kept.salt])
        return kept.salt
    if own is None or (kept.salt is not None and own != kept.salt):
        raise RecsysError(
            "the suppression list's hashes were salted with another salt than this warehouse's "
            "(meta.erasure_salt): the backup is not this installation's, or RECSYS_ERASURE_SALT "
            "changed; set RECSYS_ERASURE_SALT to the salt the list was made with"
        )
    return own


def erase_listed(
    con: duckdb.DuckDBPyConnection, settings: Settings, kept: SuppressionList
) -> HashErasure:
    """List every hash of `kept` in this warehouse and erase the users they name (in the
    caller's transaction)."""
    if not kept.hashes:
        return HashErasure(newly_listed=0, users=0)
    con.execute("create schema if not exists meta")
    salt_value = _shared_salt(con, settings, kept)
    newly = add_to_list(con, sorted(kept.hashes))
    ids = listed_ids(con, salt_value)
    if not ids:
        rows = {f"raw.{t}": n for t, n in redact_all(con, salt_value).items()}
        return HashErasure(newly_listed=newly, users=0, rows={k: v for k, v in rows.items() if v})
    erasure = erase_in_warehouse(con, settings, ids)
    rows = {t: n for t, n in erasure.rows.items() if t.startswith(("raw.", "features."))}
    rows["marts.recommendations"] = erasure.rows["marts.recommendations"]
    rows["marts.similar_users"] = erasure.rows["marts.similar_users"]
    for table, count in _delete_rebuilt(con, ids).items():
        rows[table] = rows.get(table, 0) + count
    return HashErasure(
        newly_listed=newly, users=len(ids), rows={k: v for k, v in rows.items() if v}
    )
