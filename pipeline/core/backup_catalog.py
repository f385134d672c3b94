"""Where the warehouse backups live and what each one says of itself.

One folder per backup under `$RECSYS_HOME/backups/`, named after the run date whose `publish`
took it: the backup file (`warehouse.duckdb`, the same name as the live file, so a copy of it is
the warehouse as it was) and `manifest.json` beside it. A folder without a manifest is a backup
that never finished (a crash while taking it) and is no backup. Backups are ordered by the
manifest's `sequence` (one more than the newest at the time), not by run date or the clock: a
backfill of an old date taken last is the newest state.

This module reads and lists only; `warehouse_backup.py` takes and verifies backups.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BACKUPS_DIR = "backups"
BACKUP_FILE = "warehouse.duckdb"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Backup:
    folder: Path
    manifest: dict[str, Any]

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def path(self) -> Path:
        return self.folder / BACKUP_FILE

    @property
    def sequence(self) -> int:
        return int(self.manifest.get("sequence", 0))

    @property
    def tables(self) -> dict[str, int]:
        """Rows per base table (`schema.table`) when the backup was taken."""
        return dict(self.manifest.get("tables", {}))


def backups_dir(home: Path) -> Path:
    return home / BACKUPS_DIR


def read_backup(folder: Path) -> Backup | None:
    """The backup in `folder`, or None when it has no readable manifest or no file."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or not (folder / BACKUP_FILE).is_file():
        return None
    return Backup(folder, manifest)


def list_backups(home: Path) -> list[Backup]:
    """Every finished backup under the home, newest first."""
    root = backups_dir(home)
    if not root.is_dir():
        return []
    found = [
        backup
        for folder in root.iterdir()
        if folder.is_dir() and not folder.name.startswith(".")
        if (backup := read_backup(folder)) is not None
    ]
    return sorted(found, key=lambda b: (b.sequence, b.name), reverse=True)


def newest_backup(home: Path) -> Backup | None:
    backups = list_backups(home)
    return backups[0] if backups else None
