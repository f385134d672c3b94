"""Work-folder retention: the exports of old run dates are deleted, not kept forever.

Each stage exports what it needs as Parquet under a folder per run date (`train/D`, `score/D`,
`embeddings/D`): users, their events and profile texts. A night deletes the folders of run
dates more than `RECSYS_WORK_RETENTION_DAYS` before its own (the run date decides, never the
clock); a rerun of an old date exports again.
"""

from __future__ import annotations

import logging
import shutil
from datetime import date, timedelta

from pipeline.core.config import Settings

log = logging.getLogger(__name__)


def prune_work_folders(settings: Settings, run_date: date) -> list[str]:
    """Delete the work folders of run dates older than the retention; return their paths."""
    oldest_kept = run_date - timedelta(days=settings.work.retention_days)
    pruned = []
    for root in settings.work_dirs:
        if not root.is_dir():
            continue
        for folder in sorted(root.iterdir()):
            try:
                day = date.fromisoformat(folder.name)
            except ValueError:
                continue  # not a run date's folder: not ours to delete
            if folder.is_dir() and day < oldest_kept:
                shutil.rmtree(folder)
                pruned.append(str(folder))
                log.info("deleted work folder %s (older than %s)", folder, oldest_kept)
    return pruned
