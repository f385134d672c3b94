"""Search every table and file under a home for strings: what an erasure must leave no trace of."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import duckdb


def _tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        f'"{d}"."{s}"."{t}"'
        for d, s, t in con.execute(
            "select database_name, schema_name, table_name from duckdb_tables() where not internal"
        ).fetchall()
    ]


def _search_duckdb(path: Path, needles: list[str]) -> list[str]:
    found = []
    con = duckdb.connect(str(path), read_only=True)
    try:
        for table in _tables(con):
            for needle in needles:
                n = con.execute(
                    f"select count(*) from {table} t where contains(to_json(t)::varchar, ?)",
                    [needle],
                ).fetchone()[0]
                if n:
                    found.append(f"{path} {table}: {n} row(s) with {needle!r}")
    finally:
        con.close()
    return found


def _search_parquet(path: Path, needles: list[str]) -> list[str]:
    found = []
    for needle in needles:
        n = duckdb.execute(
            "select count(*) from read_parquet(?) t where contains(to_json(t)::varchar, ?)",
            [str(path), needle],
        ).fetchone()[0]
        if n:
            found.append(f"{path}: {n} row(s) with {needle!r}")
    return found


def _search_bytes(name: str, data: bytes, needles: list[str]) -> list[str]:
    found = [f"{name}: bytes {n!r}" for n in needles if n.encode("utf-8") in data]
    if data[:4] == b"PK\x03\x04":  # a zip (torch weights, numpy .npz): its members, inflated
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                found += _search_bytes(f"{name}!{member}", archive.read(member), needles)
    return found


def search_home(root: Path, needles: list[str]) -> list[str]:
    """Every place under `root` where one of `needles` occurs: tables of DuckDB files (rows as
    JSON), rows of Parquet files, the bytes of every other file (zip members inflated)."""
    found: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix == ".duckdb":
            found += _search_duckdb(path, needles)
            found += _search_bytes(str(path), path.read_bytes(), needles)
        elif path.suffix == ".parquet":
            found += _search_parquet(path, needles)
        else:
            found += _search_bytes(str(path), path.read_bytes(), needles)
    return found
