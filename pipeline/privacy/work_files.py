"""The files part of forgetting: the work exports under the home, and the landing files.

Work exports (`train/D`, `score/D`, `embeddings/D`) lose the users' rows: a row whose user
column (`user_id`, `friend_id`, `similar_user_id`, or `id` of a user entity) names one of them.
Landing files are redacted as ingest would redact them (the id becomes `erased:<hash>`, every
other value is emptied) and keep their row count, so the raw rows' lineage still points at the
right records; the ingest ledger learns the files' new checksums, so nothing is loaded again.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.landing.ingest import discover
from pipeline.landing.reading import MAX_FIELD_CHARS, normalise_column, sha256_of
from pipeline.landing.suppression import ERASED_PREFIX, USER_COLUMNS

WORK_USER_COLUMNS = ("user_id", "friend_id", "similar_user_id")
# what dbt's `strip` removes (RE2's \s): the landing files are matched as staging matches ids
_STRIP = re.compile(r"^[\t\n\f\r ]+|[\t\n\f\r ]+$")


def _strip(value: object) -> str | None:
    return None if value is None else _STRIP.sub("", str(value))


def _replace(path: Path, write: object) -> None:
    """Write a file's new content beside it, then rename it over the old one."""
    tmp = path.with_name(f".{path.name}.forget-{os.getpid()}")
    try:
        write(tmp)  # type: ignore[operator]
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def scrub_work_exports(settings: Settings, ids: list[str]) -> dict[str, int]:
    """Drop the users' rows from every Parquet export under the work folders; return the rows
    dropped per file (relative to the home), files that held none left out."""
    wanted = pa.array(ids, pa.string())
    dropped: dict[str, int] = {}
    for root in settings.work_dirs:
        if root.is_dir():
            _remove_leftovers(root, "**/.*.forget-*")
            # a distributed training job's inputs, left by a job killed before it removed them
            _remove_leftovers(root, "*/towers/*.pt")
        for path in sorted(root.rglob("*.parquet")) if root.is_dir() else []:
            table = pq.read_table(path)
            # typed: an export without rows would give a null-typed array, which `or` refuses
            hit = pa.array([False] * table.num_rows, pa.bool_())
            for column in WORK_USER_COLUMNS:
                if column in table.column_names:
                    values = pc.cast(table[column], pa.string())
                    hit = pc.or_(hit, pc.fill_null(pc.is_in(values, wanted), False))
            if {"entity", "id"} <= set(table.column_names):
                users = pc.equal(pc.cast(table["entity"], pa.string()), "user")
                named = pc.is_in(pc.cast(table["id"], pa.string()), wanted)
                hit = pc.or_(hit, pc.fill_null(pc.and_(users, named), False))
            count = pc.sum(hit).as_py() or 0
            if count:
                kept = table.filter(pc.invert(hit))
                _replace(path, lambda tmp, kept=kept: pq.write_table(kept, tmp))
                dropped[str(path.relative_to(settings.home))] = count
                _recount_snapshot(path.parent)
    return dropped


def _recount_snapshot(folder: Path) -> None:
    """A training export's `snapshot.json` states its row counts: keep them true."""
    meta_path = folder / "snapshot.json"
    if not meta_path.exists():
        return
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    for name in meta.get("rows", {}):
        if (folder / f"{name}.parquet").exists():
            meta["rows"][name] = pq.read_metadata(folder / f"{name}.parquet").num_rows
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def redact_landing_files(
    settings: Settings, con: duckdb.DuckDBPyConnection, hashes: dict[str, str]
) -> dict[str, int]:
    """Redact the users' records in every landing file the warehouse knows or the landing
    folder holds; return the records redacted per file. The ledger follows the new content."""
    ledger = dict(con.execute("select path, table_name from meta.loaded_files").fetchall())
    files = {Path(p): t for p, t in ledger.items() if Path(p).is_file()}
    if settings.landing_dir.is_dir():
        # a landing folder without tables: the ledger's files are all there is
        with contextlib.suppress(RecsysError):
            files |= {f.path: f.table.name for f in discover(settings.landing_dir).files}
    redacted: dict[str, int] = {}
    for path, table in sorted(files.items()):
        columns = USER_COLUMNS.get(table)
        if not columns:
            continue
        _remove_leftovers(path.parent, f".{path.name}.forget-*")
        if path.suffix.lower() == ".csv":
            count = _redact_csv(path, columns, hashes)
        else:
            count = _redact_parquet(path, columns, hashes)
        if count:
            redacted[str(path)] = count
        if count or _ledger_behind(con, path, hashes):
            con.execute(
                "update meta.loaded_files set sha256 = ? where path = ?",
                [sha256_of(path), str(path)],
            )
    return redacted


def _remove_leftovers(folder: Path, pattern: str) -> None:
    """A forget killed between writing a file's new content and renaming it left this."""
    for leftover in folder.glob(pattern):
        leftover.unlink(missing_ok=True)


def _ledger_behind(con: duckdb.DuckDBPyConnection, path: Path, hashes: dict[str, str]) -> bool:
    """A file this erasure redacted before a crash undid the transaction that recorded its new
    checksum: the ledger still has the old one, and the file holds this erasure's marks."""
    known = con.execute("select sha256 from meta.loaded_files where path = ?", [str(path)])
    rows = known.fetchall()
    if not rows or rows[0][0] == sha256_of(path):
        return False
    marks = [f"{ERASED_PREFIX}{h}" for h in hashes.values()]
    if path.suffix.lower() == ".csv":
        data = path.read_bytes()
        return any(m.encode("utf-8") in data for m in marks)
    table = pq.read_table(path)
    wanted = pa.array(marks, pa.string())
    return any(
        pc.any(pc.is_in(table[name], wanted)).as_py()
        for name in table.column_names
        if pa.types.is_string(table[name].type)
    )


def _redact_csv(path: Path, columns: tuple[str, ...], hashes: dict[str, str]) -> int:
    csv.field_size_limit(MAX_FIELD_CHARS)  # what ingest read, this reads (a fresh process too)
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            records = list(csv.reader(handle))
    except (UnicodeDecodeError, csv.Error):
        return 0  # ingest refused this file: none of its rows were ever loaded
    if not records:
        return 0
    header = [normalise_column(n) for n in records[0]]
    where = [header.index(c) for c in columns if c in header]
    count = 0
    for n, record in enumerate(records[1:], start=1):
        if not record:
            continue
        if len(record) == len(header):
            marks = {i: hashes.get(_strip(record[i]) or "") for i in where}
        else:  # a record the parser could not split: any field may be the id
            found = next((hashes[v] for f in record if (v := _strip(f)) in hashes), None)
            marks = {where[0]: found} if found else {}
        if any(marks.values()):
            redacted = [""] * len(header)
            for i, mark in marks.items():
                redacted[i] = f"{ERASED_PREFIX}{mark}" if mark else ""
            records[n] = redacted
            count += 1
    if count:

        def write(tmp: Path) -> None:
            with tmp.open("w", encoding="utf-8", newline="") as out:
                csv.writer(out).writerows(records)

        _replace(path, write)
    return count


def _redact_parquet(path: Path, columns: tuple[str, ...], hashes: dict[str, str]) -> int:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError):
        return 0
    names = {normalise_column(n): n for n in table.column_names}
    marks: dict[str, list[str | None]] = {}
    for column in columns:
        if column in names:
            values = table[names[column]].to_pylist()
            marks[names[column]] = [hashes.get(_strip(v) or "") for v in values]
    hit = [any(m[r] for m in marks.values()) for r in range(table.num_rows)]
    count = sum(hit)
    if not count:
        return 0
    mask = pa.array(hit)
    arrays = []
    for name in table.column_names:
        if name in marks:
            values = table[name].to_pylist()
            arrays.append(
                pa.array(
                    [
                        (f"{ERASED_PREFIX}{m}" if m else None)
                        if h
                        else (None if v is None else str(v))
                        for v, m, h in zip(values, marks[name], hit, strict=True)
                    ],
                    pa.string(),
                )
            )
        else:
            column = table[name]
            arrays.append(pc.if_else(mask, pa.nulls(table.num_rows, column.type), column))
    redacted = pa.table(arrays, names=table.column_names)
    _replace(path, lambda tmp: pq.write_table(redacted, tmp))
    return count
