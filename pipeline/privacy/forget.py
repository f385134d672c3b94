"""`recsys forget`: erase users from everything the pipeline holds, and keep them out.

In order (each step can be repeated: a forget that stopped half-way is finished by running it
again with the same ids):

1. one warehouse transaction: the users' salted hashes join the suppression list
   (`meta.erased_users`), their raw rows are redacted (quarantined as `erased_user` from now
   on), their text vectors, skips, recommendations and "people like you" rows (as subject and as
   someone's neighbour) are deleted;
2. `transform` rebuilds the marts and the quarantine from the redacted raw rows (for the last
   night's run date), `publish` rebuilds the analyst tables and the published copy;
3. the warehouse file is compacted, so no deleted value lingers in its free blocks;
4. the work exports under the home lose the users' rows, the landing files are redacted;
5. every MLflow artifact of the experiment is scrubbed (`artifacts.py`);
6. `meta.erasures` records the hashes, the time and the rows removed per table and file: no id,
   no text.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, date, datetime
from typing import Any

import duckdb

from pipeline.clean.transform import transform
from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.run_date import resolve_run_date
from pipeline.core.warehouse import compact, connect, table_exists, transaction
from pipeline.landing.suppression_file import save_list
from pipeline.privacy.artifacts import scrub_mlflow
from pipeline.privacy.restore import scrub_backups
from pipeline.privacy.warehouse_scrub import erase_in_warehouse
from pipeline.privacy.work_files import redact_landing_files, scrub_work_exports
from pipeline.serve.publish import publish

log = logging.getLogger(__name__)

MAX_REASON = 500
ERASURES_DDL = """
create table if not exists meta.erasures (
    erasure_id varchar primary key,
    user_hashes varchar[] not null,
    erased_at timestamptz not null,
    reason varchar,
    rebuilt_run_date date,
    rows_removed map(varchar, bigint) not null
)
"""


def check_ids(user_ids: list[str]) -> list[str]:
    """The ids to forget, or a clear error."""
    ids = [u for u in user_ids if u is not None]
    if not ids:
        raise RecsysError("forget needs at least one user id")
    blank = [repr(u) for u in ids if not u.strip()]
    if blank:
        raise RecsysError(f"blank user id(s) {', '.join(blank)}: nothing to forget by")
    return ids


def last_night(con: duckdb.DuckDBPyConnection) -> date | None:
    """The run date the marts were last built for: the newest served or judged night."""
    for table in ("marts.recommendations", "marts.data_quality"):
        schema, name = table.split(".")
        if table_exists(con, schema, name):
            newest = con.execute(f"select max(run_date) from {table}").fetchall()[0][0]
            if newest is not None:
                return newest
    return None


def forget(
    settings: Settings,
    user_ids: list[str],
    *,
    reason: str | None = None,
    run_date: date | None = None,
) -> dict[str, Any]:
    """Erase `user_ids` everywhere (see the module's docstring); return the stage summary."""
    started = time.perf_counter()
    ids = check_ids(user_ids)
    if reason is not None and len(reason) > MAX_REASON:
        raise RecsysError(f"--reason is {len(reason)} characters; at most {MAX_REASON}")
    if not settings.warehouse_path.exists():
        raise RecsysError(f"no warehouse at {settings.warehouse_path}: nothing to forget")
    with connect(settings.warehouse_path) as con, transaction(con):
        if not table_exists(con, "raw", "users"):
            raise RecsysError("raw.users is missing: run `recsys ingest` first")
        erasure = erase_in_warehouse(con, settings, ids)
        night = run_date or last_night(con)
        built = table_exists(con, "marts", "dim_users")  # else nothing for dbt to rebuild
        served = table_exists(con, "marts", "recommendations")  # else nothing published
    log.info("forgetting %d user(s): warehouse rows redacted or deleted", len(erasure.ids))
    save_list(settings)  # the suppression list outside the warehouse too (restore.py)
    rows = dict(erasure.rows)
    if night is None:
        night = resolve_run_date(settings)
    if built:
        transform(settings, night)
    if served:
        publish(settings, night)
    compact(settings.warehouse_path)
    for where, count in scrub_backups(settings).items():  # no backup keeps them
        rows[f"backup:{where}"] = count
    for path, count in scrub_work_exports(settings, erasure.ids).items():
        rows[f"file:{path}"] = count
    with connect(settings.warehouse_path) as con, transaction(con):
        for path, count in redact_landing_files(settings, con, erasure.hashes).items():
            rows[f"landing:{path}"] = count
    for root, count in scrub_mlflow(settings, erasure.ids).items():
        rows[f"mlflow:{root}"] = count
    erasure_id = uuid.uuid4().hex
    with connect(settings.warehouse_path) as con, transaction(con):
        con.execute(ERASURES_DDL)
        con.execute(
            "insert into meta.erasures values (?, ?, ?, ?, ?, map(?, ?))",
            [
                erasure_id,
                sorted(erasure.hashes.values()),
                datetime.now(UTC),  # audit metadata only
                reason,
                night,
                list(rows),
                list(rows.values()),
            ],
        )
    return {
        "stage": "forget",
        "run_date": night.isoformat(),
        "status": "ok",
        "erasure_id": erasure_id,
        "users": len(erasure.ids),
        "newly_listed": erasure.newly_listed,
        "rows_removed": {k: v for k, v in rows.items() if v},
        "seconds": round(time.perf_counter() - started, 1),
    }
