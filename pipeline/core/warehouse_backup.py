"""Taking and verifying warehouse backups (`$RECSYS_HOME/backups/<name>/`, see backup_catalog).

A backup is made through DuckDB, never by copying the live file's bytes: the warehouse is
attached read-only (which also keeps any writer out while it is read) and `COPY FROM DATABASE`
writes its committed schemas, tables, views and rows into a new file, checkpointed when it is
detached. The copy is then reopened on its own and each base table's row count compared with the
source's; only then is the manifest written (rows per table, the file's sha256 and size) and the
folder renamed into place. A restore checks the same again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipeline.core.backup_catalog import (
    BACKUP_FILE,
    MANIFEST,
    Backup,
    backups_dir,
    list_backups,
    read_backup,
)
from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.warehouse import quote_ident, quote_literal

log = logging.getLogger(__name__)


def _row_counts(con: duckdb.DuckDBPyConnection, catalog: str) -> dict[str, int]:
    tables = con.execute(
        "select schema_name, table_name from duckdb_tables() "
        "where database_name = ? and not internal order by 1, 2",
        [catalog],
    ).fetchall()
    return {
        f"{schema}.{table}": con.execute(
            f"select count(*) from {quote_ident(catalog)}.{quote_ident(schema)}.{quote_ident(table)}"
        ).fetchall()[0][0]
        for schema, table in tables
    }


def copy_database(source: Path, dest: Path) -> dict[str, int]:
    """Copy the DuckDB file `source` (read-only) into the new file `dest`; return the rows per
    base table of the source, counted in the same read as the copy."""
    con = duckdb.connect()
    try:
        con.execute(f"attach {quote_literal(str(source))} as src (read_only)")
        con.execute(f"attach {quote_literal(str(dest))} as dst")
        con.execute("copy from database src to dst")
        counts = _row_counts(con, "src")
        con.execute("detach dst")  # checkpoints the copy: one file, no WAL
    except duckdb.Error as exc:
        raise RecsysError(f"could not copy the warehouse {source} to {dest}: {exc}") from exc
    finally:
        con.close()
    return counts


def check_rows(path: Path, expected: dict[str, int]) -> None:
    """Reopen `path` on its own and compare each base table's row count with `expected`."""
    try:
        con = duckdb.connect(str(path), read_only=True)
        try:
            found = _row_counts(con, con.execute("select current_database()").fetchall()[0][0])
        finally:
            con.close()
    except duckdb.Error as exc:
        raise RecsysError(f"the backup {path} cannot be read back: {exc}") from exc
    if found != expected:
        differ = sorted(
            t for t in expected.keys() | found.keys() if found.get(t) != expected.get(t)
        )
        raise RecsysError(
            f"the backup {path} does not hold the rows it should: "
            + ", ".join(f"{t} {found.get(t)} rows, expected {expected.get(t)}" for t in differ[:5])
        )


def sha256_file(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def verify_backup(backup: Backup) -> None:
    """Raise a RecsysError unless the backup's file is the one its manifest describes and reads
    back every table with the rows it had."""
    sha = backup.manifest.get("sha256")
    if not sha or sha256_file(backup.path) != sha:
        raise RecsysError(
            f"the backup {backup.folder} is damaged: its file's checksum is not the one its "
            "manifest recorded"
        )
    check_rows(backup.path, backup.tables)


def _fsync_dir(folder: Path) -> None:
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _remove_leftovers(root: Path) -> None:
    """Hidden folders of a backup that a dead process was taking or replacing."""
    for folder in root.glob(".*-*"):
        pid = folder.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                shutil.rmtree(folder, ignore_errors=True)
            except PermissionError:
                pass  # alive, another user's


def take_backup(
    settings: Settings,
    name: str,
    *,
    source: Path | None = None,
    sequence: int | None = None,
) -> Backup:
    """Back up the warehouse (or `source`) as `backups/<name>`, replacing a backup of that name;
    then keep only the newest `settings.backup.keep`. A scrubbed backup keeps its `sequence`."""
    started = time.perf_counter()
    source = source or settings.warehouse_path
    root = backups_dir(settings.home)
    root.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(root)
    partial = root / f".partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        counts = copy_database(source, partial / BACKUP_FILE)
        check_rows(partial / BACKUP_FILE, counts)
        if sequence is None:
            sequence = max((b.sequence for b in list_backups(settings.home)), default=0) + 1
        manifest = {
            "name": name,
            "sequence": sequence,
            "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),  # audit metadata only
            "duckdb": duckdb.__version__,
            "bytes": (partial / BACKUP_FILE).stat().st_size,
            "sha256": sha256_file(partial / BACKUP_FILE),
            "seconds": round(time.perf_counter() - started, 2),
            "tables": counts,
        }
        # the manifest is written last: a folder holding one is a finished, verified backup
        with (partial / MANIFEST).open("w", encoding="utf-8") as handle:
            handle.write(json.dumps(manifest, indent=2) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        final = root / name
        replaced = root / f".replaced-{os.getpid()}"
        if final.exists():
            os.replace(final, replaced)
        os.replace(partial, final)
        _fsync_dir(root)
        shutil.rmtree(replaced, ignore_errors=True)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    prune_backups(settings)
    backup = read_backup(final)
    assert backup is not None  # written above
    log.info("backup %s: %d bytes, %d tables", final, manifest["bytes"], len(counts))
    return backup


def prune_backups(settings: Settings) -> list[str]:
    """Delete all but the newest `settings.backup.keep` backups; return the names deleted."""
    old = list_backups(settings.home)[settings.backup.keep :]
    for backup in old:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(backup.folder)
    return [b.name for b in old]
