from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.clean.transform import transform
from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.landing.ingest import discover, ingest
from tests.conftest import write_csv

USERS = 'user_id,age,profile_text\nu1,30,hello\nu2,41,"multi\nline, with ""quotes"""\n'
ITEMS = "item_id,title,price\ni1,First,9.50\ni2,Second,12\n"


def landing_with_basics(settings: Settings) -> Path:
    landing = settings.landing_dir
    write_csv(landing / "users.csv", USERS)
    write_csv(landing / "items.csv", ITEMS)
    return landing


def raw_rows(settings: Settings, sql: str) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_loads_csv_parquet_and_daily_drop_folders_as_text_with_lineage(home: Settings) -> None:
    landing = landing_with_basics(home)
    write_csv(
        landing / "interactions" / "dt=2026-11-26" / "part-0.csv",
        "user_id,item_id,event_ts\nu1,i1,2026-11-26T10:00:00Z\n",
    )
    write_csv(
        landing / "interactions" / "dt=2026-11-27" / "part-0.csv",
        "user_id,item_id,event_ts,rating\nu2,i2,2026-11-27T10:00:00Z,4.5\n",
    )
    edges = pa.table(
        {
            "user_id": ["u1"],
            "friend_id": ["u2"],
            "since_ts": pa.array([1_700_000_000], pa.timestamp("s", tz="UTC")),
        }
    )
    pq.write_table(edges, landing / "social_edges.parquet")
    write_csv(landing / "notes.txt", "not a table")

    summary = ingest(home)

    assert summary["files_loaded"] == 5
    assert summary["rows_loaded"] == {"users": 2, "items": 2, "interactions": 2, "social_edges": 1}
    assert summary["ignored_files"] == [str(landing / "notes.txt")]
    users = raw_rows(
        home,
        "select user_id, age, profile_text, _row_number, _source_file from raw.users order by _row_number",
    )
    assert users[1] == ("u2", "41", 'multi\nline, with "quotes"', 2, str(landing / "users.csv"))
    assert raw_rows(home, "select typeof(age) from raw.users limit 1") == [("VARCHAR",)]
    assert raw_rows(home, "select rating from raw.interactions order by _source_file") == [
        (None,),
        ("4.5",),
    ]
    (since,) = raw_rows(home, "select since_ts from raw.social_edges")[0]
    assert since.startswith("2023-11-14 22:13:20")
    assert raw_rows(home, "select count(*), sum(rows) from meta.loaded_files") == [(5, 7)]


def test_second_ingest_loads_nothing(home: Settings) -> None:
    landing_with_basics(home)
    ingest(home)
    again = ingest(home)
    assert again["files_loaded"] == 0
    assert again["files_already_loaded"] == 2
    assert raw_rows(home, "select count(*) from raw.users") == [(2,)]


def test_changed_file_is_refused_unless_reload_replaces_its_rows(home: Settings) -> None:
    landing = landing_with_basics(home)
    ingest(home)
    write_csv(landing / "users.csv", "user_id,age\nu1,31\n")

    with pytest.raises(RecsysError, match=r"users\.csv \(2 rows loaded\).*--reload"):
        ingest(home)
    assert raw_rows(home, "select count(*) from raw.users") == [(2,)]

    summary = ingest(home, reload=True)
    assert summary["files_reloaded"] == 1
    assert raw_rows(home, "select user_id, age from raw.users") == [("u1", "31")]
    assert raw_rows(home, "select rows from meta.loaded_files where table_name = 'users'") == [(1,)]


def test_missing_required_column_names_file_and_column(home: Settings) -> None:
    landing = landing_with_basics(home)
    write_csv(landing / "interactions.csv", "user_id,event_ts\nu1,2026-11-01\n")
    with pytest.raises(RecsysError, match=r"interactions\.csv: required column 'item_id'"):
        ingest(home)


def test_failed_ingest_loads_nothing_at_all(home: Settings) -> None:
    landing = landing_with_basics(home)
    write_csv(landing / "items.csv", "item_id\ni1\n")  # no title: the whole ingest is refused
    with pytest.raises(RecsysError, match="title"):
        ingest(home)
    write_csv(landing / "items.csv", ITEMS)
    assert ingest(home)["rows_loaded"]["users"] == 2  # users.csv was not half-loaded before


def test_hostile_names_and_values_are_data_through_transform(home: Settings) -> None:
    landing = landing_with_basics(home)
    write_csv(
        landing / "users" / "dt=2026-11-27" / "part-0.csv",
        'user_id,"Weird ""col""; drop table x"\n"\'; DROP TABLE users; --",1\n',
    )
    write_csv(
        landing / "interactions.csv",
        'user_id,item_id,event_ts\n"\'; DROP TABLE users; --",i1,2026-11-26T10:00:00Z\n',
    )
    ingest(home)
    assert raw_rows(
        home,
        "select user_id, weird_col_drop_table_x from raw.users where _row_number = 1 and _landing_path like 'users/%'",
    ) == [("'; DROP TABLE users; --", "1")]
    summary = transform(home, date(2026, 11, 27))
    assert summary["tables"]["interactions"]["clean"] == 1
    assert raw_rows(home, "select user_id from marts.fct_interactions") == [
        ("'; DROP TABLE users; --",)
    ]


def test_float_ids_in_parquet_read_like_csv_ids(home: Settings) -> None:
    landing = landing_with_basics(home)
    events = pa.table(
        {
            "user_id": pa.array([1.0], pa.float64()),
            "item_id": pa.array([2.0], pa.float32()),
            "event_ts": ["2026-11-26"],
            "rating": [4.5],
        }
    )
    pq.write_table(events, landing / "interactions.parquet")
    ingest(home)
    assert raw_rows(home, "select user_id, item_id, rating from raw.interactions") == [
        ("1", "2", "4.5")
    ]


def test_unterminated_quote_is_an_error_not_a_merged_row(home: Settings) -> None:
    write_csv(home.landing_dir / "items.csv", 'item_id,title\ni1,"broken\ni2,fine\ni3,fine\n')
    with pytest.raises(RecsysError, match=r"items\.csv: unreadable CSV near line"):
        ingest(home)


def test_record_with_wrong_field_count_is_kept_with_parse_error(home: Settings) -> None:
    landing = home.landing_dir
    write_csv(landing / "items.csv", "item_id,title\ni1,ok\ni2,too,many\n")
    ingest(home)
    rows = raw_rows(home, "select item_id, _parse_error from raw.items order by _row_number")
    assert rows[0] == ("i1", None)
    assert rows[1][0] is None and "expected 2 fields, found 3" in rows[1][1]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"item_id,title\ni1,caf\xe9\n", "not valid UTF-8"),
        (b"item_id,,title\n", "column 2 of the header has no usable name"),
        (b"item_id,title,TITLE\n", "duplicated column"),
    ],
)
def test_unreadable_files_get_one_clear_error(home: Settings, content: bytes, message: str) -> None:
    path = home.landing_dir / "items.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(RecsysError, match=message):
        ingest(home)


def test_landing_folder_must_exist_and_hold_tables(tmp_path: Path) -> None:
    with pytest.raises(RecsysError, match="does not exist"):
        discover(tmp_path / "nope")
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(RecsysError, match="holds no table files"):
        discover(tmp_path)


def test_table_names_are_matched_in_any_case(tmp_path: Path) -> None:
    write_csv(tmp_path / "Users.CSV", "user_id\nu1\n")
    found = discover(tmp_path)
    assert [(f.table.name, f.fmt) for f in found.files] == [("users", "csv")]
