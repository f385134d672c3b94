"""Warehouse backups: taken through DuckDB, verified, kept to the newest N; a damaged warehouse
names the newest one to restore."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from pipeline.core.backup_catalog import list_backups, newest_backup
from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.warehouse import connect, ensure_schemas
from pipeline.core.warehouse_backup import take_backup, verify_backup
from tests.crash.checksums import table_checksums


def small_warehouse(settings: Settings, rows: int = 20000) -> Path:
    """A warehouse built directly: a few schemas, tables, a view, a committed and a WAL'd write."""
    with connect(settings.warehouse_path) as con:
        ensure_schemas(con)
        con.execute(
            f"create table raw.users as select 'u' || range as user_id, range % 90 as age "
            f"from range({rows})"
        )
        con.execute(
            "create table marts.recommendations as select 'u' || (range % 500) as user_id, "
            "range as rank, md5(range::varchar) as item_id from range(5000)"
        )
        con.execute("create view staging.adults as select * from raw.users where age >= 18")
        con.execute("checkpoint")
        con.execute("insert into raw.users values ('late', 33)")  # in the WAL, not checkpointed
    return settings.warehouse_path


def test_a_backup_holds_every_table_and_says_so_in_its_manifest(home: Settings) -> None:
    source = small_warehouse(home)
    backup = take_backup(home, "2026-11-27")

    assert backup.folder == home.home / "backups" / "2026-11-27"
    assert table_checksums(backup.path) == table_checksums(source)
    manifest = json.loads((backup.folder / "manifest.json").read_text())
    assert manifest["tables"] == {"marts.recommendations": 5000, "raw.users": 20001}
    assert manifest["bytes"] == backup.path.stat().st_size and manifest["sequence"] == 1
    assert not backup.path.with_name("warehouse.duckdb.wal").exists()  # checkpointed, one file
    with duckdb.connect(str(backup.path), read_only=True) as con:
        assert con.execute("select count(*) from staging.adults").fetchall()[0][0] > 0
    verify_backup(backup)


def test_the_newest_n_are_kept_and_a_rerun_replaces_its_date(home: Settings) -> None:
    small_warehouse(home, rows=10)
    kept = home.model_copy(update={"backup": home.backup.model_copy(update={"keep": 2})})
    for day in ("2026-11-25", "2026-11-26", "2026-11-27"):
        take_backup(kept, day)
    # a backfill of an old date taken last is the newest state of the warehouse
    take_backup(kept, "2026-11-26")

    names = [b.name for b in list_backups(home.home)]
    assert names == ["2026-11-26", "2026-11-27"]
    assert [b.sequence for b in list_backups(home.home)] == [4, 3]
    assert sorted(p.name for p in (home.home / "backups").iterdir()) == sorted(names)


def test_a_changed_backup_file_fails_verification(home: Settings) -> None:
    small_warehouse(home)
    backup = take_backup(home, "2026-11-27")
    with backup.path.open("r+b") as handle:
        handle.seek(backup.path.stat().st_size // 2)
        handle.write(b"\x00" * 64)
    with pytest.raises(RecsysError, match="is damaged: its file's checksum"):
        verify_backup(backup)


def test_an_unreadable_source_is_one_clear_error(home: Settings) -> None:
    home.warehouse_path.parent.mkdir(parents=True)
    home.warehouse_path.write_bytes(b"not a database" * 100)
    with pytest.raises(RecsysError, match="could not copy the warehouse"):
        take_backup(home, "2026-11-27")
    assert list_backups(home.home) == []
    assert [p.name for p in (home.home / "backups").iterdir()] == []  # nothing half-made left


@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_a_damaged_warehouse_names_the_newest_backup_to_restore(
    home: Settings, damage: str
) -> None:
    path = small_warehouse(home, rows=300000)
    take_backup(home, "2026-11-26")
    take_backup(home, "2026-11-27")
    with connect(path) as con:
        con.execute("checkpoint")
    size = path.stat().st_size
    with path.open("r+b") as handle:
        if damage == "truncated":
            handle.truncate(size // 2)
        else:  # a torn write in a data block: the file opens, a read fails its checksum
            handle.seek(size // 2)
            handle.write(b"\xff" * 8192)

    with (
        pytest.raises(RecsysError, match="is damaged") as error,
        connect(path, read_only=True) as con,
    ):
        con.execute("select max(user_id), sum(age) from raw.users").fetchall()
    message = str(error.value)
    assert f"`recsys restore --backup 2026-11-27 --home {home.home}`" in message
    assert newest_backup(home.home).name == "2026-11-27"  # type: ignore[union-attr]


def test_without_backups_the_damage_message_says_there_is_none(home: Settings) -> None:
    path = small_warehouse(home, rows=200000)
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2)
    with (
        pytest.raises(RecsysError, match=r"No backup under .*backups: move the file away"),
        connect(path) as con,
    ):
        con.execute("select count(*) from raw.users").fetchall()
