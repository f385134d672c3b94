"""The night an Airflow task works on: its settings and run date, from the DAG run alone.

Run date: the `run_date` param when given, else the run's logical date (UTC), else the landing
manifest's run_date (a manual run triggered without a logical date); never the wall clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.run_date import find_run_date, parse_run_date


@dataclass(frozen=True)
class NightParams:
    """The DAG's params, validated, with the settings they override."""

    settings: Settings
    run_date: date
    top_n: int
    force_reembed: bool
    retrain: bool

    def summary(self) -> dict[str, Any]:
        return {
            "run_date": self.run_date.isoformat(),
            "landing": str(self.settings.landing_dir),
            "top_n": self.top_n,
            "force_reembed": self.force_reembed,
            "retrain": self.retrain,
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
    )


def from_context(context: Mapping[str, Any]) -> NightParams:
    """The night of a running task (its Airflow context)."""
    dag_run = context.get("dag_run")
    logical_date = context.get("logical_date") or getattr(dag_run, "logical_date", None)
    return night_params(context.get("params") or {}, logical_date)
