"""One whole night without Airflow: the stages in order, each with the same function the DAG calls.

ingest -> transform -> embed -> train -> recommend -> publish (`retrain=False` skips train and
recommends with the champion in place). A failing stage stops the night (its error
propagates); the summary holds each stage's own summary.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from pipeline.clean.transform import transform
from pipeline.core.config import Settings
from pipeline.core.modes import Engine
from pipeline.core.run_date_guard import check_not_behind
from pipeline.embed.stage import embed
from pipeline.landing.ingest import ingest
from pipeline.privacy.journal import check_no_pending_erasure
from pipeline.serve.publish import publish
from pipeline.serve.recommend import recommend
from pipeline.train.stage import train

log = logging.getLogger(__name__)


def check_night_may_run(settings: Settings, run_date: date, *, backfill: bool) -> None:
    """Before a night's stage writes anything (the CLI's stages, the DAG's `claim_night`): a run
    date not before the newest published night unless a backfill, and no erasure half-done."""
    check_not_behind(settings, run_date, backfill=backfill)
    check_no_pending_erasure(settings)


def run_night(
    settings: Settings,
    run_date: date,
    *,
    engine: Engine = Engine.AUTO,
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
        ("recommend", lambda: recommend(settings, run_date, top_n, engine=engine)),
        ("publish", lambda: publish(settings, run_date)),
    ):
        log.info("night %s: %s", run_date, name)
        summary = stage()
        if summary is not None:
            stages[name] = summary
    return {"stage": "run", "run_date": run_date.isoformat(), "status": "ok", "stages": stages}
