"""Ingest: new landing files -> `raw.*`, every value kept as text, with lineage and a ledger.

A file is loaded once: `meta.loaded_files` remembers its path and sha256. A file whose content
changed under a known path is refused unless `reload=True`, which replaces its earlier rows.
Judging values (types, ranges, duplicates) is dbt's job; ingest only refuses files it cannot read.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.warehouse import connect, ensure_schemas, quote_ident, transaction
from pipeline.landing.contract import DATA_SUFFIXES, LANDING_TABLES, LINEAGE_COLUMNS, LandingTable
from pipeline.landing.suppression import listed, redact_raw, salt

log = logging.getLogger(__name__)

# Python's csv refuses fields over 128 KiB by default; a long profile text or description is data.
# Past this a field is refused with the file's name (a runaway quote usually swallowed the file).
MAX_FIELD_CHARS = 64 * 1024 * 1024

LEDGER_DDL = """
create table if not exists meta.loaded_files (
    path varchar primary key,
    table_name varchar not null,
    sha256 varchar not null,
    rows bigint not null,
    loaded_at timestamptz not null
)
"""


@dataclass(frozen=True)
class LandingFile:
    table: LandingTable
    path: Path
    fmt: str  # "csv" or "parquet"


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


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def normalise_column(name: str) -> str:
    """Lower case; anything but letters, digits and _ becomes _ (so no name can break SQL)."""
    return re.sub(r"[^a-z0-9_]+", "_", name.strip().lower()).strip("_")


def _check_header(names: list[str], source: LandingFile) -> list[str]:
    header = [normalise_column(name) for name in names]
    for position, name in enumerate(header, start=1):
        if not name:
            raise RecsysError(
                f"{source.path}: column {position} of the header has no usable name "
                f"({names[position - 1]!r})"
            )
        if name in LINEAGE_COLUMNS:
            raise RecsysError(f"{source.path}: column {name!r} is reserved for lineage")
    duplicated = sorted({n for n in header if header.count(n) > 1})
    if duplicated:
        raise RecsysError(
            f"{source.path}: duplicated column(s) {', '.join(duplicated)} "
            "(names are compared in lower case with other characters as _)"
        )
    for column in source.table.required:
        if column not in header:
            raise RecsysError(
                f"{source.path}: required column {column!r} of table {source.table.name} is missing"
                f" (header: {', '.join(header)})"
            )
    return header


def read_csv(source: LandingFile) -> pa.Table:
    """Read a CSV as text. A record with the wrong number of fields is kept with `_parse_error`."""
    csv.field_size_limit(MAX_FIELD_CHARS)
    try:
        with source.path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, strict=True)  # a stray quote is an error, never a merge
            first = next(reader, None)
            if first is None:
                raise RecsysError(f"{source.path}: empty file, expected a header row")
            header = _check_header(first, source)
            columns: dict[str, list[str | None]] = {name: [] for name in header}
            errors: list[str | None] = []
            for record in reader:
                if not record:
                    continue  # a blank line holds no record
                if len(record) == len(header):
                    for name, value in zip(header, record, strict=True):
                        columns[name].append(value)
                    errors.append(None)
                else:
                    for name in header:
                        columns[name].append(None)
                    errors.append(
                        f"expected {len(header)} fields, found {len(record)} "
                        f"near line {reader.line_num}: {json.dumps(record, ensure_ascii=False)}"
                    )
    except UnicodeDecodeError as exc:
        raise RecsysError(
            f"{source.path}: not valid UTF-8 (byte {exc.start}: {exc.reason})"
        ) from None
    except csv.Error as exc:
        raise RecsysError(
            f"{source.path}: unreadable CSV near line {reader.line_num}: {exc}"
        ) from None
    table = pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})
    return table.append_column("_parse_error", pa.array(errors, pa.string()))


def read_parquet(source: LandingFile, con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Read a Parquet file and turn every column into text, as raw keeps it."""
    try:
        table = pq.read_table(source.path)
        header = _check_header(table.column_names, source)
        table = table.rename_columns(header)
        con.register("_parquet_batch", table)
        try:
            selects = ", ".join(_as_text(c, table.schema.field(c).type) for c in header)
            text = con.sql(f"select {selects} from _parquet_batch").to_arrow_table()
        finally:
            con.unregister("_parquet_batch")
    except (pa.ArrowException, duckdb.Error, OSError) as exc:
        raise RecsysError(f"{source.path}: unreadable Parquet file: {exc}") from None
    nulls = pa.nulls(text.num_rows, pa.string())
    return text.append_column("_parse_error", nulls)


def _as_text(column: str, kind: pa.DataType) -> str:
    """SQL turning one Parquet column into text as a CSV would hold it (1.0 as an id reads '1')."""
    name = quote_ident(column)
    if pa.types.is_floating(kind):
        value = f"cast({name} as double)"
        return (
            f"case when isfinite({value}) and {value} = trunc({value}) and abs({value}) < 1e15 "
            f"then cast(cast({value} as bigint) as varchar) else cast({value} as varchar) end as {name}"
        )
    return f"cast({name} as varchar) as {name}"


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


def _load_file(
    con: duckdb.DuckDBPyConnection, source: LandingFile, landing: Path, loaded_at: datetime
) -> int:
    batch = read_csv(source) if source.fmt == "csv" else read_parquet(source, con)
    rows = batch.num_rows
    batch = batch.append_column("_source_file", pa.array([str(source.path)] * rows, pa.string()))
    relative = source.path.relative_to(landing).as_posix()
    batch = batch.append_column("_landing_path", pa.array([relative] * rows, pa.string()))
    batch = batch.append_column("_row_number", pa.array(range(1, rows + 1), pa.int64()))
    batch = batch.append_column(
        "_loaded_at", pa.array([loaded_at] * rows, pa.timestamp("us", tz="UTC"))
    )
    _add_extra_columns(con, source.table.name, batch.column_names)
    con.register("_landing_batch", batch)
    try:
        con.execute(f"insert into raw.{source.table.name} by name select * from _landing_batch")
    finally:
        con.unregister("_landing_batch")
    return rows


def ingest(
    settings: Settings, run_date: date | None = None, *, reload: bool = False
) -> dict[str, Any]:
    """Load every new landing file into `raw.*`; return the stage summary."""
    landing = settings.landing_dir
    found = discover(landing)
    loaded_at = datetime.now(UTC)  # audit metadata only
    hashes = {f.path: sha256_of(f.path) for f in found.files}
    rows_loaded = {name: 0 for name in LANDING_TABLES}
    rows_erased = {name: 0 for name in LANDING_TABLES}
    counts = {"files_loaded": 0, "files_reloaded": 0, "files_already_loaded": 0}

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
        changed = [
            f for f in found.files if f.path in ledger and ledger[f.path][0] != hashes[f.path]
        ]
        if changed and not reload:
            listing = "; ".join(f"{f.path} ({ledger[f.path][1]} rows loaded)" for f in changed)
            raise RecsysError(
                f"content changed since it was loaded: {listing}. Rerun with --reload to replace "
                "the earlier rows of these files."
            )
        todo = [f for f in found.files if f.path not in ledger or f in changed]
        # rows of forgotten users are redacted as they are loaded (quarantined as erased_user)
        forgotten = listed(con)
        erasure_salt = salt(con, settings) if forgotten else None
        if forgotten and erasure_salt is None:
            raise RecsysError(
                "meta.erased_users lists forgotten users but their salt is gone: set "
                "RECSYS_ERASURE_SALT to the salt `recsys forget` used"
            )
        counts["files_already_loaded"] = len(found.files) - len(todo)
        for source in tqdm(todo, desc="ingest", unit="file", disable=None):
            if source in changed:
                con.execute(
                    f"delete from raw.{source.table.name} where _source_file = ?",
                    [str(source.path)],
                )
                con.execute("delete from meta.loaded_files where path = ?", [str(source.path)])
                counts["files_reloaded"] += 1
            else:
                counts["files_loaded"] += 1
            rows = _load_file(con, source, landing, loaded_at)
            rows_loaded[source.table.name] += rows
            if erasure_salt is not None:
                redacted = redact_raw(
                    con, source.table.name, erasure_salt, source_file=str(source.path)
                )
                rows_erased[source.table.name] += redacted
            con.execute(
                "insert into meta.loaded_files values (?, ?, ?, ?, ?)",
                [str(source.path), source.table.name, hashes[source.path], rows, loaded_at],
            )
            log.info("loaded %s rows from %s into raw.%s", rows, source.path, source.table.name)

    return {
        "stage": "ingest",
        "run_date": run_date.isoformat() if run_date else None,
        "status": "ok",
        "landing": str(landing),
        **counts,
        "rows_loaded": rows_loaded,
        "rows_of_forgotten_users": rows_erased,
        "ignored_files": found.ignored,
    }
