"""The night an Airflow task works on: its settings and run date, from the DAG run alone.

Run date: the `run_date` param when given, else the run's logical date (UTC), else the landing
manifest's run_date (a manual run triggered without a logical date); never the wall clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.night_lock import Holder
from pipeline.core.run_date import find_run_date, parse_run_date
from pipeline.orchestration.night_lease import is_backfill, run_owner, task_lock


@dataclass(frozen=True)
class NightParams:
    """The DAG's params, validated, with the settings they override."""

    settings: Settings
    run_date: date
    top_n: int
    force_reembed: bool
    retrain: bool
    backfill: bool = False  # an Airflow backfill run, or the `backfill` param
    owner: str | None = None  # the run that holds the night lock (`night_lease.run_owner`)
    task: str = "task"

    def lock(self, *, last: bool = False) -> AbstractContextManager[Holder]:
        """This task works under its run's night lease (`last`: the lease ends with it)."""
        return task_lock(self.settings, self.owner, self.task, self.run_date, last=last)

    def summary(self) -> dict[str, Any]:
        return {
            "run_date": self.run_date.isoformat(),
            "landing": str(self.settings.landing_dir),
            "top_n": self.top_n,
            "force_reembed": self.force_reembed,
            "retrain": self.retrain,
            "backfill": self.backfill,
        }


def night_params(params: Mapping[str, Any], logical_date: datetime | None) -> NightParams:
    """Settings and run date of one DAG run from its params and logical date."""
    landing = params.get("landing")
    settings = Settings(**({"landing": Path(landing)} if landing else {}))
    given = params.get("run_date")
    run_date = find_run_date(
        settings,
        parse_run_date(str(given)) if given else None,
        logical_date.astimezone(UTC).date() if logical_date is not None else None,
    )
    if run_date is None:
        raise RecsysError(
            "this run has no logical date and no run_date param: trigger it with a "
            f"logical date or run_date (YYYY-MM-DD); {settings.landing_dir} has no manifest"
        )
    top_n = int(params.get("top_n") or settings.top_n)
    return NightParams(
        settings=settings,
        run_date=run_date,
        top_n=top_n,
        force_reembed=bool(params.get("force_reembed", False)),
        retrain=bool(params.get("retrain", True)),
        backfill=bool(params.get("backfill", False)),
    )


def from_context(context: Mapping[str, Any]) -> NightParams:
    """The night of a running task (its Airflow context)."""
    dag_run = context.get("dag_run")
    logical_date = context.get("logical_date") or getattr(dag_run, "logical_date", None)
    night = night_params(context.get("params") or {}, logical_date)
    task = getattr(context.get("task"), "task_id", None) or night.task
    return replace(
        night,
        backfill=night.backfill or is_backfill(context),
        owner=run_owner(context),
        task=task,
    )
