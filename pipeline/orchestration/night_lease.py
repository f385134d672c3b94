"""The night lock as an Airflow run holds it: one lease from the run's first task to its
teardown, so no other run, `recsys` command or erasure writes the home between two of its tasks.

The lease's owner is `airflow:<dag id>:<run id>`; every task of the run works under it (the OS
lock while it runs, the lease between tasks). A task of another run that finds the lease waits
(`RECSYS_LOCK_WAIT_SECONDS`, then Airflow's retries) unless Airflow says the holding run is no
longer queued or running: then the lease is stale and taken over.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import date
from typing import Any

from pipeline.core.config import Settings
from pipeline.core.night_lock import AIRFLOW, Holder, NightLock, still_running, this_process

log = logging.getLogger(__name__)

ACTIVE_RUN_STATES = {"queued", "running"}


def run_owner(context: Mapping[str, Any]) -> str | None:
    """`airflow:<dag id>:<run id>` of a task's run, or None outside a run."""
    dag_run = context.get("dag_run")
    run_id = getattr(dag_run, "run_id", None) or context.get("run_id")
    dag_id = getattr(dag_run, "dag_id", None) or getattr(context.get("dag"), "dag_id", None)
    return f"{AIRFLOW}:{dag_id}:{run_id}" if run_id and dag_id else None


def is_backfill(context: Mapping[str, Any]) -> bool:
    run_type = getattr(context.get("dag_run"), "run_type", None)
    return str(getattr(run_type, "value", run_type)) == "backfill"


def lease_alive(lease: Holder) -> bool:
    """Whether another owner's lease, found with no process under it, still holds the night:
    for an Airflow run, what Airflow says of that run's state."""
    if lease.kind != AIRFLOW:
        return still_running(lease)
    _, dag_id, run_id = lease.owner.split(":", 2)
    try:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

        state = RuntimeTaskInstance.get_dagrun_state(dag_id, run_id)
    except Exception as exc:
        log.warning("night lock: could not read the state of run %s (%s): kept", run_id, exc)
        return True
    return str(getattr(state, "value", state)) in ACTIVE_RUN_STATES


def task_lock(
    settings: Settings, owner: str | None, task: str, run_date: date | None, *, last: bool = False
) -> AbstractContextManager[Holder]:
    """A task works under its run's lease; `last`: the lease ends with this task."""
    me = this_process(f"airflow {task}", run_date.isoformat() if run_date else None, owner)
    return NightLock(settings.home).hold(
        me, wait_s=settings.lock_wait_seconds, keep_lease=not last, alive=lease_alive
    )


def end_lease(settings: Settings, owner: str | None) -> dict[str, Any]:
    """The run's teardown: its lease ends (whether the night succeeded or failed)."""
    ended = NightLock(settings.home).release(owner) if owner else None
    return {"stage": "release_night", "status": "ok", "ended": bool(ended)}
