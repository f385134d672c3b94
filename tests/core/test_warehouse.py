"""Opening the warehouse: a damaged file says so; a file in use says who has it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.core.errors import RecsysError
from pipeline.core.warehouse import connect


def warehouse(path: Path) -> Path:
    with connect(path) as con:
        con.execute("create table t as select range as i from range(200000)")
    return path


@pytest.mark.parametrize("read_only", [False, True])
def test_a_truncated_or_foreign_file_is_reported_as_damaged(
    tmp_path: Path, read_only: bool
) -> None:
    truncated = warehouse(tmp_path / "warehouse.duckdb")
    with truncated.open("r+b") as handle:
        handle.truncate(truncated.stat().st_size // 2)
    foreign = tmp_path / "foreign.duckdb"
    foreign.write_bytes(b"not a database" * 500)
    for path in (truncated, foreign):
        with (
            pytest.raises(RecsysError, match="is damaged") as error,
            connect(path, read_only=read_only) as con,
        ):
            con.execute("select count(*) from t").fetchall()
        assert "another process" not in str(error.value)


def test_a_file_in_use_is_reported_as_in_use(tmp_path: Path) -> None:
    path = warehouse(tmp_path / "warehouse.duckdb")
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, sys, time; c = duckdb.connect({str(path)!r}); "
         "print('open', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with (
            pytest.raises(RecsysError, match="is in use: another process is writing to it"),
            connect(path),
        ):
            pass
    finally:
        holder.kill()
        holder.wait()
