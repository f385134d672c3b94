"""The warehouse part of forgetting: list the users, redact their raw rows, drop what holds them.

Everything here runs in one transaction. The dbt tables (`marts.*` but the recommendations,
`quarantine.rejected_rows`) are rebuilt from the redacted raw rows afterwards by `transform`;
their rows that name the users are counted here, before that rebuild.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from pipeline.core.config import Settings
from pipeline.core.warehouse import table_exists
from pipeline.landing.suppression import add_to_list, clean_id_sql, hash_ids, redact_all, salt

# a quarantined or deferred row's raw record names a user as its user_id or friend_id
_RECORD_USER = (
    f"{clean_id_sql(chr(39).join(['record->>', 'user_id', '']))} in (select unnest($ids)) "
    f"or {clean_id_sql(chr(39).join(['record->>', 'friend_id', '']))} in (select unnest($ids))"
)
# dbt-built tables: (table, condition naming the users in $ids); rebuilt by transform
DBT_TABLES = {
    "marts.dim_users": "user_id in (select unnest($ids))",
    "marts.fct_interactions": "user_id in (select unnest($ids))",
    "marts.fct_social_edges": "user_id in (select unnest($ids)) or friend_id in (select unnest($ids))",
    "marts.embedding_requests": "entity = 'user' and id in (select unnest($ids))",
    "marts.deferred_rows": _RECORD_USER,
    "quarantine.rejected_rows": _RECORD_USER,
}


@dataclass
class WarehouseErasure:
    ids: list[str]  # as staging cleans them
    hashes: dict[str, str]  # id -> salted hash
    newly_listed: int
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows removed or redacted


def _count(con: duckdb.DuckDBPyConnection, table: str, where: str, ids: list[str]) -> int:
    schema, name = table.split(".")
    if not table_exists(con, schema, name):
        return 0
    return con.execute(f"select count(*) from {table} where {where}", {"ids": ids}).fetchall()[0][0]


def _delete(con: duckdb.DuckDBPyConnection, table: str, where: str, ids: list[str]) -> int:
    schema, name = table.split(".")
    if not table_exists(con, schema, name):
        return 0
    return con.execute(f"delete from {table} where {where}", {"ids": ids}).fetchall()[0][0]


def _drop_neighbours(con: duckdb.DuckDBPyConnection, ids: list[str]) -> int:
    """Remove the users from other users' "people like you" lists; the lists close ranks."""
    if not table_exists(con, "marts", "similar_users"):
        return 0
    where = "similar_user_id in (select unnest($ids))"
    count = _count(con, "marts.similar_users", where, ids)
    if not count:
        return 0
    con.execute(
        f"""
        create or replace temp table _relisted as
        with lists as (
            select distinct run_date, user_id from marts.similar_users where {where}
        )
        select s.run_date, s.user_id,
            row_number() over (partition by s.run_date, s.user_id order by s.rank) as rank,
            s.similar_user_id, s.score
        from marts.similar_users s join lists using (run_date, user_id)
        where not ({where})
        """,
        {"ids": ids},
    )
    con.execute(
        "delete from marts.similar_users where (run_date, user_id) in "
        "(select distinct (run_date, user_id) from marts.similar_users "
        f"where {where})",
        {"ids": ids},
    )
    con.execute("insert into marts.similar_users by name select * from _relisted")
    con.execute("drop table _relisted")
    return count


def erase_in_warehouse(
    con: duckdb.DuckDBPyConnection, settings: Settings, user_ids: list[str]
) -> WarehouseErasure:
    """List the users and remove them from every table that is not rebuilt by dbt."""
    salt_value = salt(con, settings, create=True)
    assert salt_value is not None  # created above
    hashes = hash_ids(con, salt_value, user_ids)
    ids = list(hashes)
    erasure = WarehouseErasure(ids=ids, hashes=hashes, newly_listed=0)
    erasure.newly_listed = add_to_list(con, list(hashes.values()))
    # counted now, rebuilt from the redacted raw rows by transform
    for table, where in DBT_TABLES.items():
        erasure.rows[table] = _count(con, table, where, ids)
    profiles = []
    if table_exists(con, "marts", "embedding_requests"):
        profiles = [
            r[0]
            for r in con.execute(
                "select distinct content_hash from marts.embedding_requests "
                "where entity = 'user' and id in (select unnest($ids))",
                {"ids": ids},
            ).fetchall()
        ]
    for table, rows in redact_all(con, salt_value).items():
        erasure.rows[f"raw.{table}"] = rows
    erasure.rows["features.text_embeddings"] = _delete(
        con, "features.text_embeddings", "entity = 'user' and id in (select unnest($ids))", ids
    )
    erasure.rows["features.embedding_skips"] = (
        _delete(con, "features.embedding_skips", "content_hash in (select unnest($ids))", profiles)
        if profiles
        else 0
    )
    erasure.rows["marts.recommendations"] = _delete(
        con, "marts.recommendations", "user_id in (select unnest($ids))", ids
    )
    erasure.rows["marts.similar_users"] = _delete(
        con, "marts.similar_users", "user_id in (select unnest($ids))", ids
    ) + _drop_neighbours(con, ids)
    return erasure
