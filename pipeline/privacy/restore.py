"""`recsys restore`: bring a verified backup back as the warehouse, forgotten users still gone.

The backup is verified (its file's checksum, every table's rows), copied into a folder beside the
live file, and every hash of the suppression list kept outside the warehouse
(`privacy/suppression.json`) that the backup does not know is applied to the copy
(`erase_by_hash.py`), which is then compacted. Only then is it renamed over the live file; the
replaced file stays beside it as `warehouse.duckdb.replaced-<UTC time>`.

After a `recsys forget`, `scrub_backups` does the same to every backup and every file kept
aside by a restore: none of them may still hold the forgotten users.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from pipeline.core.backup_catalog import BACKUP_FILE, Backup, backups_dir, list_backups, read_backup
from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.warehouse import LOCKED, compact, connect, table_exists, transaction
from pipeline.core.warehouse_backup import sha256_file, take_backup, verify_backup
from pipeline.landing.suppression import ERASED_PREFIX
from pipeline.landing.suppression_file import SuppressionList, read_list, save_list
from pipeline.privacy.erase_by_hash import HashErasure, erase_listed

log = logging.getLogger(__name__)

REPLACED = ".replaced-"


def choose_backup(settings: Settings, name: str | None) -> Backup:
    """The backup called `name`, else the newest; a clear error when there is none."""
    root = backups_dir(settings.home)
    if name is None:
        backups = list_backups(settings.home)
        if not backups:
            raise RecsysError(
                f"no backup under {root}: `recsys publish` takes one at the end of each night"
            )
        return backups[0]
    backup = read_backup(root / name) if "/" not in name and name not in {".", ".."} else None
    if backup is None:
        names = ", ".join(b.name for b in list_backups(settings.home)) or "none"
        raise RecsysError(f"no backup {name!r} under {root} (backups there: {names})")
    return backup


def _check_not_in_use(path: Path) -> None:
    try:
        duckdb.connect(str(path), read_only=True).close()
    except duckdb.Error as exc:
        if LOCKED in str(exc):
            raise RecsysError(
                f"the warehouse {path} is in use: another process is writing to it ({exc}); "
                "wait for it to finish, then restore"
            ) from exc  # any other error: a damaged file, the very reason to restore


def _holds_marker(path: Path, markers: list[str], con: duckdb.DuckDBPyConnection) -> bool:
    if path.suffix.lower() == ".csv":
        with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return any(m.find(marker.encode()) >= 0 for marker in markers)
    try:
        return bool(
            con.execute(
                "select count(*) from read_parquet($path) t, unnest($markers) as m(marker) "
                "where contains(to_json(t)::varchar, marker)",
                {"path": str(path), "markers": markers},
            ).fetchall()[0][0]
        )
    except duckdb.Error:
        return False


def follow_redacted_landing(con: duckdb.DuckDBPyConnection, hashes: set[str]) -> list[str]:
    """Point the ledger at the current checksum of each landing file that a later `forget`
    redacted (it holds an `erased:<hash>` of the list): the backup's raw rows of that file are
    redacted alike now, and ingest would otherwise refuse the file as changed. Another change
    made to the same file since the backup goes unnoticed (`ingest --reload` loads it again)."""
    if not hashes or not table_exists(con, "meta", "loaded_files"):
        return []
    markers = [f"{ERASED_PREFIX}{h}" for h in sorted(hashes)]
    followed = []
    for path, sha in con.execute("select path, sha256 from meta.loaded_files").fetchall():
        file = Path(path)
        if not file.is_file() or file.stat().st_size == 0 or (now := sha256_file(file)) == sha:
            continue
        if _holds_marker(file, markers, con):
            con.execute("update meta.loaded_files set sha256 = ? where path = ?", [now, path])
            followed.append(path)
    return followed


def _erase_again(
    path: Path, settings: Settings, kept: SuppressionList, *, landing: bool = False
) -> HashErasure:
    """Apply the suppression list to the DuckDB file `path` (and, with `landing`, let its
    ledger follow the landing files forget redacted); compact it when rows went."""
    with connect(path) as con, transaction(con):
        erasure = erase_listed(con, settings, kept)
        if landing:
            erasure.landing_files = len(follow_redacted_landing(con, kept.hashes))
    if erasure.rows:
        compact(path)  # no erased value left in the file's free blocks
    return erasure


def _swap_in(restored: Path, live: Path) -> Path | None:
    """Rename `restored` over `live`; the replaced file (and its WAL) stay aside."""
    replaced = None
    if live.exists():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")  # audit metadata only
        replaced = live.with_name(f"{live.name}{REPLACED}{stamp}")
        os.link(live, replaced)
        wal = live.with_name(live.name + ".wal")
        if (
            wal.exists()
        ):  # it belongs to the replaced file: replayed on the restored one, it breaks it
            os.replace(wal, replaced.with_name(replaced.name + ".wal"))
    os.replace(restored, live)
    folder = os.open(live.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return replaced


def restore(settings: Settings, name: str | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    backup = choose_backup(settings, name)
    verify_backup(backup)
    live = settings.warehouse_path
    if live.exists():
        _check_not_in_use(live)
        # the live warehouse may list users the file does not yet (an install older than it)
        with contextlib.suppress(RecsysError, duckdb.Error):
            save_list(settings)
    kept = read_list(settings)
    work = settings.home / f".restoring-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        restored = work / BACKUP_FILE  # the live file's name: the same catalog name
        shutil.copyfile(backup.path, restored)  # verified and never written: a plain copy
        erasure = _erase_again(restored, settings, kept, landing=True)
        replaced = _swap_in(restored, live)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info("restored %s from %s", live, backup.folder)
    return {
        "stage": "restore",
        "status": "ok",
        "backup": backup.name,
        "backup_taken_at": backup.manifest.get("taken_at"),
        "restored": str(live),
        "replaced_file": str(replaced) if replaced else None,
        "tables": len(backup.tables),
        "rows": sum(backup.tables.values()),
        "suppressed_hashes_new_to_backup": erasure.newly_listed,
        "forgotten_users_erased_again": erasure.users,
        "rows_removed": erasure.rows,
        "landing_files_seen_redacted": erasure.landing_files,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _listed_in(path: Path) -> set[str] | None:
    """The hashes a DuckDB file lists (None: it cannot be read)."""
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None
    try:
        return {h for (h,) in con.execute("select user_hash from meta.erased_users").fetchall()}
    except duckdb.CatalogException:
        return set()
    except duckdb.Error:
        return None
    finally:
        con.close()


def _scrub_backup(settings: Settings, backup: Backup, kept: SuppressionList) -> int:
    try:
        verify_backup(backup)
    except RecsysError:
        shutil.rmtree(backup.folder)  # unusable, and it may hold the users: it goes
        log.warning("deleted the unverifiable backup %s", backup.folder)
        return sum(backup.tables.values())
    work = backups_dir(settings.home) / f".scrubbing-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        shutil.copyfile(backup.path, work / BACKUP_FILE)
        erasure = _erase_again(work / BACKUP_FILE, settings, kept)
        take_backup(settings, backup.name, source=work / BACKUP_FILE, sequence=backup.sequence)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return sum(erasure.rows.values())


def scrub_backups(settings: Settings) -> dict[str, int]:
    """Apply the suppression list to every backup and replaced warehouse that does not know all
    of it; return the rows removed per file (relative to the home). One that cannot be read is
    deleted (its rows counted): it may hold the users and could not be restored anyway."""
    kept = read_list(settings)
    if not kept.hashes:
        return {}
    removed: dict[str, int] = {}
    for backup in list_backups(settings.home):
        known = _listed_in(backup.path)
        if known is None or not kept.hashes <= known:
            where = str(backup.folder.relative_to(settings.home))
            removed[where] = _scrub_backup(settings, backup, kept)
    live = settings.warehouse_path
    for aside in sorted(live.parent.glob(f"{live.name}{REPLACED}*[0-9TZ]")):
        known = _listed_in(aside)
        if known is not None and kept.hashes <= known:
            continue
        where = str(aside.relative_to(settings.home))
        try:
            removed[where] = sum(_erase_again(aside, settings, kept).rows.values())
        except (RecsysError, duckdb.Error):
            aside.unlink()
            aside.with_name(aside.name + ".wal").unlink(missing_ok=True)
            log.warning("deleted %s: it cannot be read to erase the users from it", aside)
            removed[where] = -1
    return removed
