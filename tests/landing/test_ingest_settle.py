"""Ingest and the settle rule: a file still being written waits for a later night."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import pipeline.landing.ingest as ingest_module
import pipeline.landing.reading as reading
from pipeline.core.config import Settings
from pipeline.landing.demo_data import generate
from pipeline.landing.importers.common import write_landing
from pipeline.landing.ingest import LandingFile, ingest
from tests.conftest import write_csv

HEADER = "user_id,item_id,event_ts\n"


def events(first: int, count: int) -> str:
    return "".join(f"u{i},i{i},2026-11-26T10:00:00Z\n" for i in range(first, first + count))


def settling(tmp_path: Path, seconds: float = 60) -> Settings:
    """A home with the default-sized settle window (the test session sets none)."""
    return Settings(home=tmp_path / "home", landing_settle_seconds=seconds)


def backdate(path: Path, seconds: float) -> None:
    """As if the file had last been written `seconds` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def write_between_batches(
    monkeypatch: pytest.MonkeyPatch, reader: str, path: Path, write: Callable[[], object]
) -> None:
    """As if a writer wrote `path` while ingest was between the file's first and second batch
    (`reader`: the batch reader ingest uses, `csv_batches` or `parquet_batches`)."""
    real = getattr(ingest_module, reader)

    def batches(source: LandingFile, *args: Any) -> Iterator[Any]:
        inner = real(source, *args)
        yield next(inner)
        if source.path == path:
            write()
        yield from inner

    monkeypatch.setattr(ingest_module, reader, batches)


def query(settings: Settings, sql: str) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_file_modified_within_the_window_waits_and_loads_whole_later(tmp_path: Path) -> None:
    home = settling(tmp_path)
    old = write_csv(home.landing_dir / "items.csv", "item_id,title\ni1,A\n")
    backdate(old, 3600)
    fresh = write_csv(home.landing_dir / "interactions.csv", HEADER + events(0, 3))
    backdate(fresh, 10)

    first = ingest(home)

    assert first["files_loaded"] == 1
    assert [u["path"] for u in first["unsettled"]] == [str(fresh)]
    assert 10 <= first["unsettled"][0]["age_seconds"] < 60
    assert first["rows_loaded"]["interactions"] == 0
    assert query(home, "select count(*) from meta.loaded_files") == [(1,)]

    with fresh.open("a") as out:  # the writer finishes
        out.write(events(3, 2))
    backdate(fresh, 61)
    second = ingest(home)

    assert second["unsettled"] == []
    assert (second["files_loaded"], second["files_already_loaded"]) == (1, 1)
    assert query(home, "select count(*), max(_row_number) from raw.interactions") == [(5, 5)]


def test_a_file_appended_to_while_it_is_read_is_unsettled_then_loads_whole(
    home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading, "BATCH_ROWS", 10)  # several batches: the append lands mid-read
    path = write_csv(home.landing_dir / "interactions.csv", HEADER + events(0, 25))
    write_csv(home.landing_dir / "items.csv", "item_id,title\ni1,A\n")

    def append() -> None:
        with path.open("a") as out:
            out.write(events(25, 5))

    write_between_batches(monkeypatch, "csv_batches", path, append)
    first = ingest(home)

    assert [u["path"] for u in first["unsettled"]] == [str(path)]
    assert first["rows_loaded"] == {"users": 0, "items": 1, "interactions": 0, "social_edges": 0}
    assert query(home, "select count(*) from raw.interactions") == [(0,)]

    monkeypatch.undo()
    second = ingest(home)

    assert second["unsettled"] == []
    assert second["rows_loaded"]["interactions"] == 30
    assert query(home, "select count(*), max(_row_number) from raw.interactions") == [(30, 30)]
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert query(
        home, "select sha256, rows from meta.loaded_files where table_name = 'interactions'"
    ) == [(sha, 30)]


def test_a_parquet_file_rewritten_while_it_is_read_is_unsettled(
    home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = home.landing_dir / "items.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"item_id": ["i1", "i2"], "title": ["A", "B"]}), path)
    rewritten = pa.table({"item_id": ["i1", "i3"], "title": ["A", "C"]})
    write_between_batches(
        monkeypatch, "parquet_batches", path, lambda: pq.write_table(rewritten, path)
    )
    first = ingest(home)

    assert [u["path"] for u in first["unsettled"]] == [str(path)]
    assert query(home, "select count(*) from raw.items") == [(0,)]
    monkeypatch.undo()
    assert ingest(home)["rows_loaded"]["items"] == 2
    assert query(home, "select item_id from raw.items order by _row_number") == [("i1",), ("i3",)]


def test_a_changing_loaded_file_waits_instead_of_being_refused(tmp_path: Path) -> None:
    home = settling(tmp_path)
    path = write_csv(home.landing_dir / "items.csv", "item_id,title\ni1,A\n")
    backdate(path, 3600)
    ingest(home)

    path.write_text("item_id,title\ni1,A\n", encoding="utf-8")  # rewritten, the same bytes
    assert ingest(home)["files_already_loaded"] == 1  # already loaded, however young

    with path.open("a") as out:
        out.write("i2,B\n")  # being written: not "content changed"
    summary = ingest(home)
    assert [u["path"] for u in summary["unsettled"]] == [str(path)]
    assert query(home, "select count(*) from raw.items") == [(1,)]


def test_a_reloaded_file_that_changes_while_read_keeps_its_earlier_rows(
    home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_csv(home.landing_dir / "items.csv", "item_id,title\ni1,A\n")
    ingest(home)
    write_csv(path, "item_id,title\ni1,A2\ni2,B\n")

    def append() -> None:
        with path.open("a") as out:
            out.write("i3,C\n")

    monkeypatch.setattr(reading, "BATCH_ROWS", 1)
    write_between_batches(monkeypatch, "csv_batches", path, append)
    summary = ingest(home, reload=True)

    assert summary["files_reloaded"] == 0 and len(summary["unsettled"]) == 1
    assert query(home, "select item_id, title from raw.items") == [("i1", "A")]
    monkeypatch.undo()
    assert ingest(home, reload=True)["files_reloaded"] == 1
    assert query(home, "select item_id from raw.items order by _row_number") == [
        ("i1",),
        ("i2",),
        ("i3",),
    ]


def test_demo_data_then_ingest_at_once_loads_everything(tmp_path: Path) -> None:
    home = settling(tmp_path)
    generate(home.landing_dir, seed=5, scale=0.02)  # the README's quick start: no waiting

    summary = ingest(home)

    assert summary["unsettled"] == []
    assert summary["files_loaded"] == len(list(home.landing_dir.rglob("*.csv"))) + 1


def test_an_import_then_ingest_at_once_loads_everything(tmp_path: Path) -> None:
    home = settling(tmp_path)
    events_ = [{"user_id": "u1", "item_id": "i1", "event_ts": "2026-11-26T10:00:00Z"}]
    write_landing(
        home.landing_dir,
        source="test",
        src=tmp_path,
        tables={
            "items": ([{"item_id": "i1", "title": "A"}], ["item_id", "title"]),
            "interactions": (events_, ["user_id", "item_id", "event_ts"]),
        },
    )
    assert ingest(home)["unsettled"] == []


def test_a_manifest_vouches_only_for_the_bytes_it_recorded(tmp_path: Path) -> None:
    home = settling(tmp_path)
    generate(home.landing_dir, seed=5, scale=0.02)
    items = home.landing_dir / "items.csv"
    text = items.read_text(encoding="utf-8")
    items.write_text(text.replace("i0", "j0", 1), encoding="utf-8")  # same size, other bytes

    summary = ingest(home)

    assert [u["path"] for u in summary["unsettled"]] == [str(items)]
    assert summary["rows_loaded"]["items"] == 0
    assert summary["rows_loaded"]["interactions"] > 0
