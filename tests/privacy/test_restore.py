"""`recsys restore`: a backup comes back table for table; a user forgotten after the backup was
taken is still found nowhere after it is restored, and their later rows are quarantined."""

from __future__ import annotations

import os
import shutil
import stat
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipeline.clean.transform import transform
from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.warehouse import connect
from pipeline.core.warehouse_backup import take_backup
from pipeline.landing.ingest import ingest
from pipeline.landing.suppression import ERASED_PREFIX
from pipeline.landing.suppression_file import read_list, suppression_path
from pipeline.privacy.forget import forget
from pipeline.privacy.restore import restore, scrub_backups
from tests.conftest import write_csv
from tests.core.test_warehouse_backup import small_warehouse
from tests.crash.checksums import table_checksums
from tests.privacy.search import search_home

DAY = date(2026, 11, 27)
VICTIM, TEXT = "victim7", "collects rare lighthouse stamps"


def found_in(path: Path, needles: list[str]) -> list[str]:
    """Where one DuckDB file names the needles (its tables' rows and its bytes)."""
    mine = (f"{path} ", f"{path}: ")
    return [hit for hit in search_home(path.parent, needles) if hit.startswith(mine)]


def rows(path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_backup_then_restore_gives_back_every_table(home: Settings) -> None:
    live = small_warehouse(home)
    before = table_checksums(live)
    take_backup(home, "2026-11-27")
    with connect(live) as con:
        con.execute("delete from raw.users where age < 50")
        con.execute("create table marts.extra as select 1 as x")
    changed = table_checksums(live)

    summary = restore(home)

    assert summary["backup"] == "2026-11-27" and summary["rows_removed"] == {}
    assert table_checksums(live) == before
    replaced = Path(summary["replaced_file"])
    assert replaced.parent == live.parent and replaced.name.startswith("warehouse.duckdb.replaced-")
    assert table_checksums(replaced) == changed  # kept aside, as it was


def test_a_missing_or_damaged_backup_is_refused(home: Settings) -> None:
    with pytest.raises(RecsysError, match=r"no backup under .*`recsys publish` takes one"):
        restore(home)
    live = small_warehouse(home)
    backup = take_backup(home, "2026-11-27")
    with pytest.raises(RecsysError, match=r"no backup '2026-11-2' under .*2026-11-27\)"):
        restore(home, "2026-11-2")
    with backup.path.open("r+b") as handle:
        handle.truncate(backup.path.stat().st_size - 4096)
    before = table_checksums(live)
    with pytest.raises(RecsysError, match="is damaged"):
        restore(home, "2026-11-27")
    assert table_checksums(live) == before  # nothing was swapped


@pytest.fixture
def shop(home: Settings) -> Settings:
    """A small shop ingested and cleaned, the victim with a profile, events and a friend."""
    settings = home.model_copy(update={"quarantine_threshold": 1.0})
    landing = settings.landing_dir
    write_csv(
        landing / "users.csv",
        f"user_id,age,profile_text\n{VICTIM},30,{TEXT}\nu2,41,likes tea\nu3,25,\n",
    )
    write_csv(landing / "items.csv", "item_id,title\ni1,First\ni2,Second\n")
    write_csv(
        landing / "interactions.csv",
        "user_id,item_id,event_ts,rating\n"
        f"{VICTIM},i1,2026-11-26T10:00:00Z,4\n"
        "u2,i2,2026-11-26T11:00:00Z,5\n"
        f"u3,i1,2026-11-26T12:00:00Z,3,extra,{VICTIM}\n",  # unsplittable, names the victim
    )
    write_csv(landing / "social_edges.csv", f"user_id,friend_id\nu2,{VICTIM}\n")
    ingest(settings, DAY)
    transform(settings, DAY)
    return settings


def test_a_user_forgotten_after_a_backup_stays_forgotten_through_a_restore(
    shop: Settings, tmp_path: Path
) -> None:
    backup = take_backup(shop, DAY.isoformat())
    assert found_in(backup.path, [VICTIM, TEXT])  # the backup holds the user
    offsite = shutil.copytree(backup.folder, tmp_path / "offsite")

    forget(shop, [VICTIM], reason="ticket 7")

    # the list is kept outside the warehouse too, for the owner only
    listed = read_list(shop)
    assert len(listed.hashes) == 1 and listed.salt is not None
    assert stat.S_IMODE(os.stat(suppression_path(shop)).st_mode) == 0o600
    # forget left no backup holding the user, and the backup is still a verified one
    assert search_home(shop.home / "backups", [VICTIM, TEXT]) == []
    # a copy the scrub could not reach (kept elsewhere) comes back as a backup
    shutil.copytree(offsite, shop.home / "backups" / "offsite")

    summary = restore(shop, "offsite")

    assert summary["suppressed_hashes_new_to_backup"] == 1
    assert summary["forgotten_users_erased_again"] == 1
    assert found_in(shop.warehouse_path, [VICTIM, TEXT]) == []
    assert summary["landing_files_seen_redacted"] == 3  # forget redacted them after the backup
    (victim_hash,) = listed.hashes
    assert rows(shop.warehouse_path, "select user_id from raw.users order by _row_number")[0] == (
        f"{ERASED_PREFIX}{victim_hash}",
    )

    # the restored warehouse quarantines the user's later rows as erased_user
    write_csv(
        shop.landing_dir / "interactions" / "dt=2026-11-27" / "part-0.csv",
        f"user_id,item_id,event_ts\n{VICTIM},i2,2026-11-27T09:00:00Z\nu2,i1,2026-11-27T10:00:00Z\n",
    )
    assert ingest(shop, DAY)["rows_of_forgotten_users"]["interactions"] == 1
    cleaned = transform(shop, DAY)
    assert cleaned["tables"]["interactions"]["quarantine_reasons"]["erased_user"] >= 2
    assert found_in(shop.warehouse_path, [VICTIM, TEXT]) == []


def test_forget_scrubs_a_file_a_restore_kept_aside(shop: Settings) -> None:
    take_backup(shop, DAY.isoformat())
    replaced = Path(restore(shop)["replaced_file"])  # the pre-restore file, holding the user
    assert found_in(replaced, [VICTIM, TEXT]) != []

    forget(shop, [VICTIM])

    assert search_home(shop.home, [VICTIM, TEXT]) == []
    assert scrub_backups(shop) == {}  # nothing left to do: everything knows the list
