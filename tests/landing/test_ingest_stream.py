"""Ingest streams files batch by batch: the same rows as a whole-file read, the checksum of the
bytes loaded, and caps that refuse a file too large, naming it."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import pipeline.landing.reading as reading
from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.landing.ingest import ingest
from tests.conftest import write_csv

ROWS = 150_000  # a little over two default batches


def large_csv(path: Path) -> str:
    """Interactions with the awkward parts spread through it: quoted commas and newlines, a
    blank line, malformed records, non-ASCII text; a BOM first."""
    out = io.StringIO()
    out.write("\ufeffUser_ID,item_id,event_ts,rating,note\n")
    for i in range(ROWS):
        if i % 50_000 == 49_999:
            out.write(f"u{i},broken\n")  # too few fields: kept with _parse_error
        elif i % 40_000 == 0:
            out.write("\n")
            out.write(f'u{i},i{i % 977},2026-11-{1 + i % 28:02d}T10:00:00Z,,"line\none, ""q"""\n')
        else:
            out.write(f"u{i},i{i % 977},2026-11-{1 + i % 28:02d}T10:00:00Z,{i % 5 + 1},café\n")
    text = out.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return text


def whole_file_records(text: str) -> list[tuple]:
    """What the whole-file reader loaded: (row number, user_id, item_id, rating, note, error?)."""
    records = [r for r in csv.reader(io.StringIO(text.lstrip("\ufeff")), strict=True) if r][1:]
    return [
        (n, *(r[0], r[1], r[3], r[4]), False) if len(r) == 5 else (n, None, None, None, None, True)
        for n, r in enumerate(records, start=1)
    ]


def query(settings: Settings, sql: str) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def nothing_loaded(settings: Settings) -> bool:
    """The refused ingest left no table behind (all of it is one transaction)."""
    sql = "select count(*) from information_schema.tables where table_schema in ('raw', 'meta')"
    return query(settings, sql) == [(0,)]


def test_a_streamed_large_csv_loads_the_same_rows_and_the_sha256sum_of_the_file(
    home: Settings,
) -> None:
    path = home.landing_dir / "interactions.csv"
    text = large_csv(path)

    summary = ingest(home)

    assert summary["rows_loaded"]["interactions"] == ROWS
    loaded = query(
        home,
        "select _row_number, user_id, item_id, rating, note, _parse_error is not null "
        "from raw.interactions order by _row_number",
    )
    assert loaded == whole_file_records(text)
    sha256sum = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True)
    assert query(home, "select sha256, rows from meta.loaded_files") == [
        (sha256sum.stdout.split()[0], ROWS)
    ]


def test_parquet_is_read_by_batches_with_row_numbers_running_on(
    home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading, "BATCH_ROWS", 700)
    path = home.landing_dir / "items.parquet"
    path.parent.mkdir(parents=True)
    ids = [f"i{i}" for i in range(5_000)]
    table = pa.table({"item_id": ids, "title": ids, "price": [i / 2 for i in range(5_000)]})
    pq.write_table(table, path, row_group_size=1_000)

    assert ingest(home)["rows_loaded"]["items"] == 5_000
    rows = query(home, "select _row_number, item_id, price from raw.items order by _row_number")
    assert rows == [
        (i + 1, f"i{i}", str(i // 2) if i % 2 == 0 else str(i / 2)) for i in range(5_000)
    ]


def test_an_empty_parquet_file_adds_its_columns_and_no_rows(home: Settings) -> None:
    path = home.landing_dir / "items.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"item_id": pa.array([], pa.string()), "title": [], "x": []}), path)

    assert ingest(home)["rows_loaded"]["items"] == 0
    assert query(home, "select count(*) from raw.items where x is null") == [(0,)]


def test_a_file_over_the_byte_cap_is_refused_naming_it(home: Settings) -> None:
    write_csv(home.landing_dir / "users.csv", "user_id\nu1\n")
    big = write_csv(home.landing_dir / "items.csv", "item_id,title\n" + "i1,A\n" * 100)
    capped = home.model_copy(update={"landing_max_file_bytes": 100})

    with pytest.raises(RecsysError, match=rf"{big}: 514 bytes, over RECSYS_LANDING_MAX_FILE_BYTES"):
        ingest(capped)
    assert nothing_loaded(home)


def test_a_file_over_the_row_cap_is_refused_naming_it(home: Settings) -> None:
    write_csv(home.landing_dir / "users.csv", "user_id\nu1\n")
    many = write_csv(home.landing_dir / "items.csv", "item_id,title\n" + "i1,A\n" * 3)
    capped = home.model_copy(update={"landing_max_file_rows": 2})

    with pytest.raises(RecsysError, match=rf"{many}: more than 2 rows"):
        ingest(capped)
    assert nothing_loaded(home)


def test_the_cli_refuses_a_file_over_the_cap_with_one_error_line(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    big = write_csv(landing / "items.csv", "item_id,title\n" + "i1,A\n" * 100)
    exe = Path(sys.executable).parent / "recsys"
    env = {**os.environ, "RECSYS_LANDING_MAX_FILE_BYTES": "100"}
    done = subprocess.run(
        [str(exe), "ingest", "--home", str(tmp_path / "home"), "--landing", str(landing)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(big) in errors[0], done.stderr
    assert "Traceback" not in done.stderr
