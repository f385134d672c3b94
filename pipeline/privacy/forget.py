"""`recsys forget`: erase users from everything the pipeline holds, and keep them out.

In order (each step can be repeated; the journal, `meta.erasures`, records which are done, so a
forget that stopped half-way is finished by running it again with the same ids, or by
`recsys forget --resume`):

0. the erasure is journalled as pending, with the users' salted hashes (`journal.py`);
1. one warehouse transaction: the users' salted hashes join the suppression list
   (`meta.erased_users`), their raw rows are redacted (quarantined as `erased_user` from now
   on), their text vectors, skips, recommendations and "people like you" rows (as subject and as
   someone's neighbour) are deleted;
2. `transform` rebuilds the marts and the quarantine from the redacted raw rows (for the last
   night's run date), `publish` rebuilds the analyst tables and the published copy;
3. the warehouse file is compacted, so no deleted value lingers in its free blocks;
4. the work exports under the home lose the users' rows, the landing files are redacted;
5. every MLflow artifact of the experiment is scrubbed (`artifacts.py`);
6. the journal's row becomes done: the hashes, the times and the rows removed per table and
   file; no id, no text. A request file (`erasure_requests.py`) is deleted then.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import duckdb

from pipeline.clean.transform import transform
from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.run_date import resolve_run_date
from pipeline.core.warehouse import compact, connect, table_exists, transaction
from pipeline.landing.suppression_file import save_list
from pipeline.privacy import journal
from pipeline.privacy.artifacts import scrub_mlflow
from pipeline.privacy.erasure_requests import delete_request, read_request, request_path
from pipeline.privacy.journal import Erasure
from pipeline.privacy.restore import scrub_backups
from pipeline.privacy.warehouse_scrub import erase_in_warehouse
from pipeline.privacy.work_files import redact_landing_files, scrub_work_exports
from pipeline.serve.publish import publish

log = logging.getLogger(__name__)

MAX_REASON = 500
STEP_MESSAGE = "erasure %s: %s"  # logged as each step starts (no id: the erasure's own)


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
    user_ids: list[str] | None = None,
    *,
    reason: str | None = None,
    run_date: date | None = None,
    request: str | None = None,
) -> dict[str, Any]:
    """Erase `user_ids` (or a request's) everywhere (see the module's docstring), resuming the
    pending erasure of the same users; return the stage summary (counts, no id)."""
    started = time.perf_counter()
    if request is not None:
        wanted = read_request(settings, request)
        user_ids, reason = wanted.user_ids, reason or wanted.reason
    ids = check_ids(list(user_ids or []))
    if reason is not None and len(reason) > MAX_REASON:
        raise RecsysError(f"--reason is {len(reason)} characters; at most {MAX_REASON}")
    if not settings.warehouse_path.exists():
        raise RecsysError(f"no warehouse at {settings.warehouse_path}: nothing to forget")
    with connect(settings.warehouse_path) as con, transaction(con):
        if not table_exists(con, "raw", "users"):
            raise RecsysError("raw.users is missing: run `recsys ingest` first")
        night = run_date or last_night(con) or resolve_run_date(settings)
        erasure = journal.begin(
            con, settings, ids, run_date=night, reason=reason, request_id=request
        )
    return _finish(settings, erasure, started)


def resume_all(settings: Settings) -> list[dict[str, Any]]:
    """Finish every pending erasure: from its request file when it has one, else only when the
    steps left need no ids (the journal keeps their hashes, never the ids)."""
    summaries = []
    for erasure in journal.pending_erasures(settings):
        if erasure.request_id and request_path(settings, erasure.request_id).exists():
            summaries.append(forget(settings, request=erasure.request_id))
            continue
        if journal.NEEDS_IDS & set(erasure.remaining):
            raise RecsysError(
                f"erasure {erasure.erasure_id} ({len(erasure.user_hashes)} user(s)) stopped "
                f"before its step {erasure.remaining[0]}, which needs the users' ids (the "
                "journal keeps only their salted hashes): run `recsys forget` again with the "
                "same ids"
            )
        summaries.append(_finish(settings, erasure, time.perf_counter()))
    return summaries


def _finish(settings: Settings, erasure: Erasure, started: float) -> dict[str, Any]:
    """Run the steps the erasure has left, each marked done in the journal, then close it."""
    newly_listed = 0
    ids = list(erasure.hashes)

    def warehouse() -> dict[str, int]:
        nonlocal newly_listed
        with connect(settings.warehouse_path) as con, transaction(con):
            scrubbed = erase_in_warehouse(con, settings, ids)
            journal.mark_step(con, erasure, "warehouse", scrubbed.rows)
        newly_listed = scrubbed.newly_listed
        save_list(settings)  # the suppression list outside the warehouse too (restore.py)
        log.info("forgetting %d user(s): warehouse rows redacted or deleted", len(ids))
        return {}

    def landing() -> dict[str, int]:
        with connect(settings.warehouse_path) as con, transaction(con):
            redacted = redact_landing_files(settings, con, erasure.hashes)
            journal.mark_step(
                con, erasure, "landing", {f"landing:{p}": n for p, n in redacted.items()}
            )
        return {}

    steps: dict[str, Callable[[], dict[str, int] | None]] = {
        "warehouse": warehouse,
        "transform": lambda: _if_built(settings, "dim_users", transform, erasure.run_date),
        "publish": lambda: _if_built(settings, "recommendations", publish, erasure.run_date),
        "compact": lambda: _compact(settings),
        "work_files": lambda: {
            f"file:{p}": n for p, n in scrub_work_exports(settings, ids).items()
        },
        "landing": landing,
        "mlflow": lambda: {f"mlflow:{r}": n for r, n in scrub_mlflow(settings, ids).items()},
    }
    for step in erasure.remaining:
        if step in journal.NEEDS_IDS and not ids:
            raise RecsysError(f"erasure {erasure.erasure_id}: step {step} needs the users' ids")
        log.info(STEP_MESSAGE, erasure.erasure_id, step)
        rows = steps[step]()
        if step not in erasure.steps:  # the steps that write the warehouse marked themselves
            journal.mark(settings, erasure, step, rows or {})
    log.info(STEP_MESSAGE, erasure.erasure_id, "done")
    save_list(settings)  # again: a crash right after the warehouse step's commit skipped it
    journal.finish(settings, erasure)
    if erasure.request_id is not None:
        delete_request(settings, erasure.request_id)
    return {
        "stage": "forget",
        "run_date": erasure.run_date.isoformat(),
        "status": "ok",
        "erasure_id": erasure.erasure_id,
        "users": len(erasure.user_hashes),
        "newly_listed": newly_listed,
        "rows_removed": {k: v for k, v in erasure.rows.items() if v},
        "seconds": round(time.perf_counter() - started, 1),
    }


def _compact(settings: Settings) -> dict[str, int]:
    compact(settings.warehouse_path)
    return {f"backup:{k}": v for k, v in scrub_backups(settings).items()}  # no backup keeps them


def _if_built(settings: Settings, mart: str, stage: Callable[..., Any], night: date) -> None:
    """Rebuild with `stage` only what a night built before (else there is nothing to rebuild)."""
    with connect(settings.warehouse_path, read_only=True) as con:
        built = table_exists(con, "marts", mart)
    if built:
        stage(settings, night)
