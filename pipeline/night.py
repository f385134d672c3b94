"""One whole night without Airflow: the stages in order, each with the same function the DAG calls.

Stages that exist so far: ingest -> transform -> embed -> train. A failing stage stops the night (its error
propagates); the summary holds each stage's own summary.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from pipeline.config import Settings
from pipeline.embed import Engine, embed
from pipeline.ingest import ingest
from pipeline.train import train
from pipeline.transform import transform

log = logging.getLogger(__name__)


def run_night(
    settings: Settings,
    run_date: date,
    *,
    engine: Engine = "auto",
    force_reembed: bool = False,
    reload: bool = False,
) -> dict[str, Any]:
    """ingest -> transform -> embed -> train for `run_date`; return a summary of every stage."""
    stages: dict[str, dict[str, Any]] = {}
    for name, stage in (
        ("ingest", lambda: ingest(settings, run_date, reload=reload)),
        ("transform", lambda: transform(settings, run_date)),
        ("embed", lambda: embed(settings, run_date, engine=engine, force=force_reembed)),
        ("train", lambda: train(settings, run_date)),
    ):
        log.info("night %s: %s", run_date, name)
        stages[name] = stage()
    return {"stage": "run", "run_date": run_date.isoformat(), "status": "ok", "stages": stages}
