"""Airflow plugin (entry point `airflow.plugins`): creates the project's pools when an Airflow
job with database access starts, so the DAG runs on a home after only `airflow db migrate`."""

from __future__ import annotations

import logging
from typing import Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

log = logging.getLogger(__name__)


class PoolListener:
    @hookimpl
    def on_starting(self, component: Any) -> None:
        # Task processes start too (no database there in Airflow 3): only jobs have one.
        if type(component).__name__ == "TaskRunnerMarker":
            return
        from airflow.jobs.job import Job

        if not isinstance(component, Job):
            return
        from pipeline.orchestration.pools import ensure_pools

        try:
            ensure_pools()
        except Exception:  # a metadata DB not migrated yet: `airflow db migrate` first
            log.exception("recsys-nightly could not create its Airflow pools")


class RecsysPlugin(AirflowPlugin):
    name = "recsys_nightly"
    listeners = [PoolListener()]  # noqa: RUF012 (Airflow reads a plain class attribute)
