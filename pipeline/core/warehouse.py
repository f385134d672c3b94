"""DuckDB connections: the only module that opens the warehouse file.

DuckDB allows one read-write process per file, so a connection is opened for one step and closed
right after it; callers never hold one across a step that another process (dbt) needs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from pipeline.core.backup_catalog import BACKUPS_DIR, newest_backup
from pipeline.core.errors import RecsysError

SCHEMAS = ("raw", "meta", "staging", "marts", "quarantine", "features", "analytics")


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB so that any string (even a hostile one) stays a name."""
    return '"' + name.replace('"', '""') + '"'


# what DuckDB says when another process holds the file
LOCKED = "Could not set lock on file"


# what DuckDB says when a block's checksum fails while reading: the file was damaged after it
# opened cleanly (a torn write, a disk error)
CORRUPT = ("Corrupt database file", "does not match stored checksum")


def damaged(path: Path, exc: Exception) -> str:
    """What to say of a damaged warehouse: what happened, and the newest backup to restore."""
    backup = newest_backup(path.parent)
    if backup is not None:
        advice = (
            f"Restore the newest backup: `recsys restore --backup {backup.name} --home "
            f"{path.parent}` (the damaged file is kept aside)"
        )
    else:
        advice = (
            f"No backup under {path.parent / BACKUPS_DIR}: move the file away and reload the "
            "landing (`recsys ingest --reload`; `recsys forget` suppressions live in it and must "
            "be applied again)"
        )
    return (
        f"the warehouse {path} is damaged (corrupt, truncated, or not a DuckDB database): "
        f"{exc}. {advice}"
    )


@contextmanager
def connect(path: Path, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse with UTC as the session time zone, and always close it."""
    if read_only and not path.exists():
        raise RecsysError(f"no warehouse at {path}: run `recsys ingest` first")
    if path.parent.exists() and not path.parent.is_dir():
        raise RecsysError(f"the pipeline home {path.parent} is a file, not a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if LOCKED in str(exc):
            raise RecsysError(
                f"the warehouse {path} is in use: another process is writing to it ({exc}); "
                "wait for it to finish"
            ) from exc
        raise RecsysError(damaged(path, exc)) from exc
    except (duckdb.SerializationException, duckdb.InternalException) as exc:
        raise RecsysError(damaged(path, exc)) from exc
    try:
        con.execute("set TimeZone = 'UTC'")
        yield con
    except duckdb.Error as exc:
        if any(sign in str(exc) for sign in CORRUPT):
            raise RecsysError(damaged(path, exc)) from exc
        raise
    finally:
        con.close()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: commit when the block ends normally, roll back on any error."""
    con.execute("begin transaction")
    try:
        yield con
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def ensure_schemas(con: duckdb.DuckDBPyConnection) -> None:
    for schema in SCHEMAS:
        con.execute(f"create schema if not exists {schema}")


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()  # fetchall: a half-read result would block the connection's next query
    return bool(row and row[0][0])


READ_ONLY = 0o444  # the published copy's file mode


def publish_copy(source: Path, dest: Path, schemas: dict[str, str]) -> dict[str, int]:
    """Copy every table of the warehouse schemas in `schemas` (source -> target schema) into a
    new file, then swap it in.

    The copy is built in a temporary file beside `dest` and renamed over it (atomic on POSIX):
    a reader never sees half a night, and a reader holding the old file open keeps reading the
    old one undisturbed (its inode lives on until it closes). The file is read-only (mode 0444):
    an analyst's tool that opens it for writing is refused instead of changing what others read
    (the rename needs only the folder's write permission).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".publishing-{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    copied: dict[str, int] = {}
    try:
        con = duckdb.connect(str(tmp))
        try:
            con.execute("set TimeZone = 'UTC'")
            con.execute(f"attach {quote_literal(str(source))} as wh (read_only)")
            tables = con.execute(
                "select schema_name, table_name from duckdb_tables() "
                "where database_name = 'wh' and list_contains($schemas, schema_name) "
                "order by 1, 2",
                {"schemas": list(schemas)},
            ).fetchall()
            for schema, table in tables:
                target = f"{quote_ident(schemas[schema])}.{quote_ident(table)}"
                con.execute(f"create schema if not exists {quote_ident(schemas[schema])}")
                con.execute(
                    f"create table {target} as "
                    f"select * from wh.{quote_ident(schema)}.{quote_ident(table)}"
                )
                (rows,) = con.execute(f"select count(*) from {target}").fetchall()[0]
                copied[f"{schemas[schema]}.{table}"] = rows
            con.execute("detach wh")
            con.execute("checkpoint")
        finally:
            con.close()
        os.chmod(tmp, READ_ONLY)
        os.replace(tmp, dest)
        folder = os.open(dest.parent, os.O_RDONLY)
        try:
            os.fsync(folder)  # the rename itself survives a crash
        finally:
            os.close(folder)
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)
    return copied


def compact(path: Path) -> int:
    """Rewrite the warehouse into a new file holding only its live rows, and swap it in.

    DuckDB reuses the blocks of deleted rows but does not wipe them: after an erasure the old
    values may still lie in the file. A copy (`COPY FROM DATABASE`: schemas, tables, views,
    constraints, rows) holds none of them. Returns the new file's size in bytes.
    """
    tmp = path.with_name(f".compacting-{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        with connect(path) as con:
            con.execute(f"attach {quote_literal(str(tmp))} as fresh")
            source = con.execute("select current_database()").fetchall()[0][0]
            con.execute(f"copy from database {quote_ident(source)} to fresh")
            con.execute("detach fresh")
        os.replace(tmp, path)
        path.with_name(path.name + ".wal").unlink(missing_ok=True)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)
    return path.stat().st_size


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
