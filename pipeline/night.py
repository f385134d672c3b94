"""One whole night without Airflow: the stages in order, each with the same function the DAG calls.

ingest -> transform -> embed -> train -> recommend -> publish (`retrain=False` skips train and
recommends with the champion in place). A failing stage stops the night (its error
propagates); the summary holds each stage's own summary.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from pipeline.config import Settings
from pipeline.embed import Engine, embed
from pipeline.ingest import ingest
from pipeline.publish import publish
from pipeline.recommend import recommend
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
    top_n: int | None = None,
    retrain: bool = True,
) -> dict[str, Any]:
    """Every stage in order for `run_date`; return a summary of every stage."""
    stages: dict[str, dict[str, Any]] = {}
    for name, stage in (
        ("ingest", lambda: ingest(settings, run_date, reload=reload)),
        ("transform", lambda: transform(settings, run_date)),
        ("embed", lambda: embed(settings, run_date, engine=engine, force=force_reembed)),
        ("train", lambda: train(settings, run_date) if retrain else None),
        ("recommend", lambda: recommend(settings, run_date, top_n)),
        ("publish", lambda: publish(settings, run_date)),
    ):
        log.info("night %s: %s", run_date, name)
        summary = stage()
        if summary is not None:
            stages[name] = summary
    return {"stage": "run", "run_date": run_date.isoformat(), "status": "ok", "stages": stages}
