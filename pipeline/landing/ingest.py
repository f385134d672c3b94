"""Ingest: new landing files -> `raw.*`, every value kept as text, with lineage and a ledger.

A file is loaded once: `meta.loaded_files` remembers its path and the sha256 of the very bytes
that were loaded. A file whose content changed under a known path is refused unless
`reload=True`, which replaces its earlier rows. A file still being written is skipped until it
settles (pipeline/landing/settle.py: the one place the wall clock decides what a night reads).
Files are read in batches (pipeline/landing/reading.py), so memory stays bounded whatever their
size; a file over `RECSYS_LANDING_MAX_FILE_BYTES` or `..._ROWS` is refused, naming it.
Judging values (types, ranges, duplicates) is dbt's job; ingest only refuses files it cannot read.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO

import duckdb
import pyarrow as pa
from tqdm import tqdm

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.warehouse import connect, ensure_schemas, quote_ident, transaction
from pipeline.landing.contract import DATA_SUFFIXES, LANDING_TABLES, LINEAGE_COLUMNS, LandingTable
from pipeline.landing.reading import (
    HashingReader,
    LandingFile,
    csv_batches,
    parquet_as_text,
    parquet_batches,
    sha256_of,
)
from pipeline.landing.settle import FileState, SettleRule, recorded_files
from pipeline.landing.suppression import listed, redact_raw, salt

log = logging.getLogger(__name__)

LEDGER_DDL = """
create table if not exists meta.loaded_files (
    path varchar primary key,
    table_name varchar not null,
    sha256 varchar not null,
    rows bigint not null,
    loaded_at timestamptz not null
)
"""


@dataclass
class Discovery:
    files: list[LandingFile] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def discover(landing: Path) -> Discovery:
    """Find the table files in a landing folder: `users.csv`, `items.parquet`, `interactions/**`."""
    if not landing.is_dir():
        raise RecsysError(f"landing folder {landing} does not exist or is not a folder")
    found = Discovery()
    for entry in sorted(landing.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        table = LANDING_TABLES.get((entry.name if entry.is_dir() else entry.stem).lower())
        if entry.is_file() and table and entry.suffix.lower() in DATA_SUFFIXES:
            found.files.append(LandingFile(table, entry, DATA_SUFFIXES[entry.suffix.lower()]))
        elif entry.is_dir() and table:
            for sub in sorted(p for p in entry.rglob("*") if p.is_file()):
                hidden = any(part.startswith((".", "_")) for part in sub.relative_to(entry).parts)
                if not hidden and sub.suffix.lower() in DATA_SUFFIXES:
                    found.files.append(LandingFile(table, sub, DATA_SUFFIXES[sub.suffix.lower()]))
                elif not hidden:
                    found.ignored.append(str(sub))
        else:
            found.ignored.append(str(entry))  # e.g. manifest.json: not a table
    if not found.files:
        names = ", ".join(LANDING_TABLES)
        raise RecsysError(f"landing folder {landing} holds no table files ({names} as CSV/Parquet)")
    return found


def create_raw_table(con: duckdb.DuckDBPyConnection, table: LandingTable) -> None:
    columns = [f"{quote_ident(c)} varchar" for c in table.columns]
    columns += [f"{quote_ident(c)} {t}" for c, t in LINEAGE_COLUMNS.items()]
    con.execute(f"create table if not exists raw.{table.name} ({', '.join(columns)})")


def _add_extra_columns(con: duckdb.DuckDBPyConnection, table: str, names: list[str]) -> None:
    """Extra landing columns are kept in raw (as text) and ignored downstream."""
    existing = {
        row[0]
        for row in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'raw' and table_name = ?",
            [table],
        ).fetchall()
    }
    for name in names:
        if name not in existing:
            con.execute(f"alter table raw.{table} add column {quote_ident(name)} varchar")


@dataclass(frozen=True)
class Loaded:
    """One file read into `raw`: its rows, the size and sha256 of the bytes read, and its state
    once read."""

    rows: int
    size: int
    sha256: str
    after: FileState
    same_bytes_throughout: bool  # Parquet: the sha256 before reading equals the one after


def _load_file(
    con: duckdb.DuckDBPyConnection,
    source: LandingFile,
    landing: Path,
    loaded_at: datetime,
    max_rows: int,
) -> Loaded:
    """Stream one file into `raw.<table>` in one insert fed batch by batch (DuckDB writes a
    large insert's row groups to disk as they fill), hashing the bytes that are parsed."""
    with source.path.open("rb", buffering=0) as handle:
        if source.fmt == "csv":
            stream = HashingReader(handle)
            batches: Iterator[pa.RecordBatch] = csv_batches(source, stream)
        else:
            # Parquet is read by seeking (footer first): hash, read, hash again through the
            # same handle; a second sha256 that differs makes the file unsettled
            before = sha256_of_handle(handle)
            batches = parquet_batches(source, handle)
        first = next(batches)  # the header checks run here, before anything is written
        selects = "*" if source.fmt == "csv" else parquet_as_text(first.schema) + LINEAGE_NAMES
        _add_extra_columns(con, source.table.name, first.schema.names)
        feed = _Feed(source, landing, loaded_at, max_rows)
        lineaged = feed.batches(itertools.chain([first], batches))
        head = next(lineaged)
        reader = pa.RecordBatchReader.from_batches(
            head.schema, feed.kept(itertools.chain([head], lineaged))
        )
        con.register("_landing_batches", reader)
        try:
            con.execute(
                f"insert into raw.{source.table.name} by name select {selects} from _landing_batches"
            )
        except duckdb.Error as exc:
            if feed.error is not None:  # ours, raised while DuckDB pulled the batches
                raise feed.error from None
            if source.fmt == "parquet":
                raise RecsysError(f"{source.path}: unreadable Parquet file: {exc}") from None
            raise
        finally:
            con.unregister("_landing_batches")
        if source.fmt == "csv":
            size, sha256, same = stream.size, stream.sha256, True
        else:
            size, sha256 = handle.seek(0, os.SEEK_END), sha256_of_handle(handle)
            same = sha256 == before
    return Loaded(feed.rows, size, sha256, FileState.of(source.path), same)


def sha256_of_handle(handle: BinaryIO) -> str:
    """The sha256 of an open file from its start; leaves it at its start."""
    handle.seek(0)
    stream = HashingReader(handle)
    while stream.read(1 << 20):
        pass
    handle.seek(0)
    return stream.sha256


LINEAGE_NAMES = ", _source_file, _landing_path, _loaded_at, _row_number"


class _Feed:
    """The batches of one file with their lineage columns, counted against the row cap; an
    error while DuckDB pulls them is kept, to be raised as it was."""

    def __init__(self, source: LandingFile, landing: Path, loaded_at: datetime, max_rows: int):
        self.source, self.max_rows, self.rows = source, max_rows, 0
        self.error: RecsysError | None = None
        self.lineage = {
            "_source_file": pa.scalar(str(source.path), pa.string()),
            "_landing_path": pa.scalar(source.path.relative_to(landing).as_posix(), pa.string()),
            "_loaded_at": pa.scalar(loaded_at, pa.timestamp("us", tz="UTC")),
        }

    def batches(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            count = batch.num_rows
            if self.rows + count > self.max_rows:
                raise RecsysError(
                    f"{self.source.path}: more than {self.max_rows:,} rows, over "
                    "RECSYS_LANDING_MAX_FILE_ROWS: split it into smaller files (a folder of daily "
                    "drops) or raise the limit"
                )
            arrays = [*batch.columns, *(pa.repeat(v, count) for v in self.lineage.values())]
            arrays.append(pa.array(range(self.rows + 1, self.rows + count + 1), pa.int64()))
            names = [*batch.schema.names, *self.lineage, "_row_number"]
            self.rows += count
            yield pa.RecordBatch.from_arrays(arrays, names=names)

    def kept(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        try:
            yield from batches
        except RecsysError as exc:
            self.error = exc
            raise


def ingest(
    settings: Settings, run_date: date | None = None, *, reload: bool = False
) -> dict[str, Any]:
    """Load every new, settled landing file into `raw.*`; return the stage summary."""
    landing = settings.landing_dir
    found = discover(landing)
    # audit, and this ingest's own stamp on its rows
    loaded_at = datetime.now(UTC)  # audit metadata only
    # the wall clock decides which files are finished (settle.py), and nothing else
    now = time.time()  # landing settle window
    rule = SettleRule(settings.landing_settle_seconds, now, recorded_files(landing))
    states = {f.path: FileState.of(f.path) for f in found.files}
    rows_loaded = {name: 0 for name in LANDING_TABLES}
    rows_erased = {name: 0 for name in LANDING_TABLES}
    counts = {"files_loaded": 0, "files_reloaded": 0, "files_already_loaded": 0}
    unsettled: list[dict[str, Any]] = []

    with connect(settings.warehouse_path) as con, transaction(con):
        ensure_schemas(con)
        con.execute(LEDGER_DDL)
        for table in LANDING_TABLES.values():
            create_raw_table(con, table)
        ledger = {
            Path(path): (sha, n)
            for path, sha, n in con.execute(
                "select path, sha256, rows from meta.loaded_files"
            ).fetchall()
        }
        todo: list[LandingFile] = []
        changed: list[LandingFile] = []
        for f in found.files:
            if f.path in ledger and sha256_of(f.path) == ledger[f.path][0]:
                counts["files_already_loaded"] += 1  # however young: nothing is read into raw
            elif not rule.settled(f.path, states[f.path]):
                age = states[f.path].age(rule.now)
                unsettled.append(_unsettled(f, age, f"modified {age:.0f} s ago, within {rule}"))
            else:
                todo.append(f)
                if f.path in ledger:
                    changed.append(f)
        if changed and not reload:
            listing = "; ".join(f"{f.path} ({ledger[f.path][1]} rows loaded)" for f in changed)
            raise RecsysError(
                f"content changed since it was loaded: {listing}. Rerun with --reload to replace "
                "the earlier rows of these files."
            )
        for source in todo:
            if states[source.path].size > settings.landing_max_file_bytes:
                raise RecsysError(
                    f"{source.path}: {states[source.path].size:,} bytes, over "
                    f"RECSYS_LANDING_MAX_FILE_BYTES ({settings.landing_max_file_bytes:,}): split "
                    "it into smaller files (a folder of daily drops) or raise the limit"
                )
        # rows of forgotten users are redacted as they are loaded (quarantined as erased_user)
        forgotten = listed(con)
        erasure_salt = salt(con, settings) if forgotten else None
        if forgotten and erasure_salt is None:
            raise RecsysError(
                "meta.erased_users lists forgotten users but their salt is gone: set "
                "RECSYS_ERASURE_SALT to the salt `recsys forget` used"
            )
        for source in tqdm(todo, desc="ingest", unit="file", disable=None):
            name, path = source.table.name, str(source.path)
            loaded = _load_file(con, source, landing, loaded_at, settings.landing_max_file_rows)
            if not loaded.same_bytes_throughout or not rule.settled_after_read(
                source.path, states[source.path], loaded.after, loaded.size, loaded.sha256
            ):
                # still being written: its rows go, it loads whole on a later ingest
                con.execute(
                    f"delete from raw.{name} where _source_file = ? and _loaded_at = ?",
                    [path, loaded_at],
                )
                age = loaded.after.age(time.time())  # landing settle window
                unsettled.append(_unsettled(source, age, "changed while it was read"))
                continue
            if source in changed:  # the earlier rows: every one not stamped by this ingest
                con.execute(
                    f"delete from raw.{name} where _source_file = ? and _loaded_at <> ?",
                    [path, loaded_at],
                )
                con.execute("delete from meta.loaded_files where path = ?", [path])
                counts["files_reloaded"] += 1
            else:
                counts["files_loaded"] += 1
            rows_loaded[name] += loaded.rows
            if erasure_salt is not None:
                rows_erased[name] += redact_raw(con, name, erasure_salt, source_file=path)
            con.execute(
                "insert into meta.loaded_files values (?, ?, ?, ?, ?)",
                [path, name, loaded.sha256, loaded.rows, loaded_at],
            )
            log.info("loaded %s rows from %s into raw.%s", loaded.rows, path, name)

    return {
        "stage": "ingest",
        "run_date": run_date.isoformat() if run_date else None,
        "status": "ok",
        "landing": str(landing),
        **counts,
        "rows_loaded": rows_loaded,
        "rows_of_forgotten_users": rows_erased,
        "ignored_files": found.ignored,
        "unsettled": unsettled,
    }


def _unsettled(source: LandingFile, age: float, why: str) -> dict[str, Any]:
    """A file skipped tonight as still being written: logged, and listed in the summary."""
    log.warning(
        "not loading %s tonight: %s (still being written?); a later ingest loads it",
        source.path,
        why,
    )
    return {"path": str(source.path), "age_seconds": round(max(age, 0.0), 1)}
