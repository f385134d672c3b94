"""The suppression list: a forgotten user's rows are redacted as they are loaded, quarantined as
erased_user, never loaded as they were (`--reload` included), and the counts still add up."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest
from pydantic import SecretStr

from pipeline.clean.transform import transform
from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.warehouse import connect, ensure_schemas
from pipeline.landing.ingest import ingest
from pipeline.landing.suppression import ERASED_PREFIX, add_to_list, hash_ids, salt
from tests.conftest import write_csv
from tests.landing.test_ingest import landing_with_basics, raw_rows

DAY = date(2026, 11, 27)


def forget_in_list(settings: Settings, *ids: str) -> dict[str, str]:
    with connect(settings.warehouse_path) as con:
        ensure_schemas(con)
        hashes = hash_ids(con, salt(con, settings, create=True), list(ids))
        add_to_list(con, list(hashes.values()))
    return hashes


def test_hashes_are_of_the_cleaned_id_salted_per_installation(tmp_path) -> None:
    con = duckdb.connect()
    con.execute("create schema meta")
    first = Settings(home=tmp_path / "a")
    stored = salt(con, first, create=True)
    assert stored is not None and len(stored) == 64 and salt(con, first) == stored
    same = hash_ids(con, stored, [" u1\t", "u1", "\nu1 "])
    assert list(same) == ["u1"]
    other = hash_ids(con, "another salt", ["u1"])
    assert other["u1"] != same["u1"]
    given = Settings(home=tmp_path / "b", erasure={"salt": "from the vault"})
    assert salt(con, given) == "from the vault"


def test_a_listed_users_rows_are_redacted_at_ingest_and_quarantined(home: Settings) -> None:
    landing = landing_with_basics(home)
    (h1,) = forget_in_list(home, "u1").values()
    write_csv(
        landing / "interactions.csv",
        "user_id,item_id,event_ts,rating\n"
        " u1 ,i1,2026-11-26T10:00:00Z,4\n"
        "u2,i2,2026-11-26T11:00:00Z,5\n"
        "u2,i1,2026-11-26T12:00:00Z,3,extra,u1\n",  # a malformed record naming u1
    )
    write_csv(landing / "social_edges.csv", "user_id,friend_id\nu2,u1\n")

    summary = ingest(home, DAY)

    assert summary["rows_of_forgotten_users"] == {
        "users": 1,
        "items": 0,
        "interactions": 2,
        "social_edges": 1,
    }
    users = raw_rows(home, "select user_id, age, profile_text from raw.users order by _row_number")
    assert users[0] == (f"{ERASED_PREFIX}{h1}", None, None)
    assert users[1][0] == "u2"
    events = raw_rows(
        home,
        "select user_id, item_id, rating, _parse_error from raw.interactions order by _row_number",
    )
    assert events == [
        (f"{ERASED_PREFIX}{h1}", None, None, None),
        ("u2", "i2", "5", None),
        (f"{ERASED_PREFIX}{h1}", None, None, None),
    ]
    assert raw_rows(home, "select user_id, friend_id from raw.social_edges") == [
        (None, f"{ERASED_PREFIX}{h1}")
    ]
    # every erased row is quarantined for that reason; the breaker is not tripped by them
    # (half of the interactions) and raw = clean + merged + deferred + quarantined still holds
    done = transform(home, DAY)
    tables = done["tables"]
    assert tables["interactions"]["quarantine_reasons"] == {"erased_user": 2}
    assert tables["social_edges"]["quarantine_reasons"] == {"erased_user": 1}
    assert tables["users"]["quarantine_reasons"] == {"erased_user": 1}
    assert tables["interactions"]["clean"] == 1
    text = raw_rows(home, "select string_agg(record::varchar, ' ') from quarantine.rejected_rows")
    assert "u1" not in text[0][0].replace(h1, "")


def test_a_reload_never_brings_the_rows_back(home: Settings) -> None:
    landing = landing_with_basics(home)
    ingest(home, DAY)
    forget_in_list(home, "u2")
    write_csv(landing / "users.csv", "user_id,age\nu1,30\nu2,41\nu3,50\n")

    summary = ingest(home, DAY, reload=True)

    assert summary["files_reloaded"] == 1
    assert summary["rows_of_forgotten_users"]["users"] == 1
    ids = [r[0] for r in raw_rows(home, "select user_id from raw.users order by _row_number")]
    assert ids[0] == "u1" and ids[2] == "u3" and ids[1].startswith(ERASED_PREFIX)


def test_a_list_whose_salt_is_gone_stops_ingest_with_a_clear_error(home: Settings) -> None:
    landing_with_basics(home)
    vaulted = home.model_copy(
        update={"erasure": home.erasure.model_copy(update={"salt": SecretStr("s")})}
    )
    forget_in_list(vaulted, "u1")
    with pytest.raises(RecsysError, match="RECSYS_ERASURE_SALT"):
        ingest(home, DAY)
    assert ingest(vaulted, DAY)["rows_of_forgotten_users"]["users"] == 1
