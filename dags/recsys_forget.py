"""recsys_forget: erase users on request (a data subject's erasure), triggered by hand.

Triggered with a request id, never the ids: `recsys forget-request ID...` writes the ids to a
private file under the home and prints the request id; trigger this DAG with
`{"request": "<id>"}`. Airflow keeps a run's conf, its audit log, the tasks' return values and
logs: none of them holds an id (the task returns and logs counts only).

One task, `forget`, in the one-slot `warehouse` pool (so it never writes beside a night's
warehouse task), calls the same stage as `recsys forget --request ID`: the users leave every
table, the published copy, the work and landing files and every MLflow artifact, and their later
rows are quarantined as `erased_user`. The request file is deleted when the erasure is done.
Trigger it between nights: a night already past its exports when the task runs may still carry
the users into its model; a task that stopped half-way is finished by its retry or by running
the DAG again with the same request.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param, get_current_context, task

from pipeline.core.config import Settings
from pipeline.orchestration.callbacks import on_task_failure

settings = Settings()

with DAG(
    dag_id="recsys_forget",
    description="Erase users from the warehouse, the published copy, work files and MLflow",
    schedule=None,
    start_date=datetime.combine(settings.airflow.start_date, datetime.min.time(), UTC),
    catchup=False,
    max_active_runs=1,
    tags=["recsys", "privacy"],
    default_args={
        "retries": settings.airflow.retries,
        "retry_delay": timedelta(seconds=settings.airflow.retry_delay_s),
        "execution_timeout": timedelta(minutes=settings.airflow.task_timeout_minutes),
        "on_failure_callback": on_task_failure,
    },
    params={
        "request": Param(
            "",
            type="string",
            pattern="^[0-9a-f]{32}$",
            title="Erasure request",
            description="The request id `recsys forget-request ID...` printed (never the ids).",
        ),
        "landing": Param(
            None,
            type=["null", "string"],
            title="Landing folder",
            description="Landing folder whose files are redacted too; empty: $RECSYS_HOME/landing.",
        ),
    },
    doc_md=__doc__,
) as dag:

    @task(pool=settings.airflow.warehouse_pool)
    def forget() -> dict[str, Any]:
        from pipeline.orchestration.night_lease import run_owner, task_lock
        from pipeline.privacy.forget import forget

        context = get_current_context()
        params = context["params"]
        landing = params.get("landing")
        run = Settings(**({"landing": Path(landing)} if landing else {}))
        # the night lock: never between two tasks of a night, never beside another writer
        with task_lock(run, run_owner(context), "forget", None, last=True):
            return forget(run, request=params["request"])

    forget()
