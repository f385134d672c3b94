"""`recsys publish`: build the analyst models, then swap in a read-only copy for analysts.

Analysts (and dashboards) open `$RECSYS_HOME/published/analytics.duckdb` read-only; the nightly
writer never waits for them and they never see half a night (see `warehouse.publish_copy`).
Last, the served night's warehouse is backed up and verified (`core/warehouse_backup.py`).
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from pipeline.clean.dbt import ANALYTICS_MODELS, run_dbt
from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.warehouse import connect, publish_copy, table_exists
from pipeline.core.warehouse_backup import take_backup
from pipeline.landing.suppression_file import save_list
from pipeline.serve.retention import prune_work_folders

# The analyst models land in the published file's `main` schema: the file's catalog is already
# called `analytics`, so `analytics.recommendations_latest` (or just `recommendations_latest`)
# reads naturally, and the clean marts beside them stay under `marts.`.
PUBLISHED_SCHEMAS = {"analytics": "main", "marts": "marts"}


def publish(settings: Settings, run_date: date) -> dict[str, Any]:
    started = time.perf_counter()
    with connect(settings.warehouse_path, read_only=True) as con:
        if not table_exists(con, "marts", "recommendations"):
            raise RecsysError("marts.recommendations is missing: run `recsys recommend` first")
    run_dbt(settings, ["build", "--select", *ANALYTICS_MODELS], run_date)
    copied = publish_copy(settings.warehouse_path, settings.published_path, PUBLISHED_SCHEMAS)
    # the night is served: exports older than the retention have no more use
    pruned = prune_work_folders(settings, run_date)
    # the night's verified backup; the suppression list is copied out of the warehouse first, so a
    # restore of any backup can apply it (installations older than the copy get it here)
    save_list(settings)
    backup = take_backup(settings, run_date.isoformat())
    return {
        "stage": "publish",
        "run_date": run_date.isoformat(),
        "status": "ok",
        "published": str(settings.published_path),
        "tables": copied,
        "work_folders_deleted": pruned,
        "backup": {
            "path": str(backup.folder),
            "bytes": backup.manifest["bytes"],
            "seconds": backup.manifest["seconds"],
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
