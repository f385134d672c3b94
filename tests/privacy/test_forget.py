"""`recsys forget` on a whole served night: nothing under the home names the user afterwards,
the counts still add up, the next night runs green, and the user's later rows are quarantined."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.run_date import resolve_run_date
from pipeline.night import run_night
from pipeline.privacy.forget import forget
from pipeline.train.gate import champion_version
from pipeline.train.registry import use_tracking
from tests.conftest import Night, write_csv
from tests.privacy.search import search_home
from tests.serve.test_recommend import assert_the_pyfunc_ranks_like_the_night, rows

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def forgotten(demo_night: Night, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A served night in a home of its own (landing inside it), then one user forgotten."""
    home = tmp_path_factory.mktemp("forget") / "home"
    shutil.copytree(demo_night.settings.landing_dir, home / "landing")
    settings = Settings(home=home)
    day = resolve_run_date(settings)
    run_night(settings, day, engine="local")
    # the user: a unique profile text, events, friends, and in someone's "people like you"
    (victim, text) = rows(
        settings,
        """
        select u.user_id, u.profile_text from marts.dim_users u
        where u.profile_text is not null
          and (select count(*) from marts.dim_users o where o.profile_text = u.profile_text) = 1
          and u.user_id in (select user_id from marts.fct_interactions)
          and u.user_id in (select friend_id from marts.fct_social_edges)
          and u.user_id in (select similar_user_id from marts.similar_users)
          and u.user_id like 'u%'
        order by u.user_id limit 1
        """,
    )[0]
    before = {
        "events": rows(settings, "select count(*) from raw.interactions")[0][0],
        "similar": rows(
            settings,
            "select count(*) from marts.similar_users where similar_user_id = ?",
            [victim],
        )[0][0],
    }
    champion = champion_version(use_tracking(settings), settings.registered_model).version
    summary = forget(settings, [f" {victim}\t"], reason="ticket 42")
    return {
        "settings": settings,
        "day": day,
        "victim": victim,
        "text": text,
        "before": before,
        "champion": champion,
        "summary": summary,
    }


def test_nothing_under_the_home_names_the_user(forgotten: dict) -> None:
    home = forgotten["settings"].home
    assert search_home(home, [forgotten["victim"], forgotten["text"]]) == []
    # the search finds what is there: another user's id is everywhere
    other = rows(forgotten["settings"], "select min(user_id) from marts.recommendations")[0][0]
    assert len(search_home(home / "mlartifacts", [other])) > 3


def test_raw_rows_stay_counted_as_erased_user_quarantine(forgotten: dict) -> None:
    settings, victim = forgotten["settings"], forgotten["victim"]
    assert (
        rows(settings, "select count(*) from raw.interactions")[0][0]
        == (forgotten["before"]["events"])
    )
    reasons = dict(
        rows(
            settings,
            "select source_table, count(*) from quarantine.rejected_rows "
            "where reason = 'erased_user' group by all",
        )
    )
    removed = forgotten["summary"]["rows_removed"]
    assert reasons["users"] == removed["raw.users"] >= 1
    assert reasons["interactions"] == removed["raw.interactions"] >= 1
    assert reasons["social_edges"] == removed["raw.social_edges"] >= 1
    assert rows(settings, "select count(*) from marts.dim_users where user_id = ?", [victim]) == [
        (0,)
    ]


def test_neighbour_lists_close_ranks_and_the_erasure_is_recorded(forgotten: dict) -> None:
    settings = forgotten["settings"]
    gaps = rows(
        settings,
        "select user_id from marts.similar_users group by run_date, user_id "
        "having max(rank) <> count(*)",
    )
    assert gaps == []
    assert (
        forgotten["summary"]["rows_removed"]["marts.similar_users"]
        >= (forgotten["before"]["similar"])
    )
    (hashes, reason, removed) = rows(
        settings, "select user_hashes, reason, rows_removed from meta.erasures"
    )[0]
    (listed,) = rows(settings, "select user_hash from meta.erased_users")[0]
    assert hashes == [listed] and len(listed) == 64 and reason == "ticket 42"
    assert removed["marts.dim_users"] == 1


def test_the_champion_is_scrubbed_in_place_and_forget_again_changes_nothing(
    forgotten: dict,
) -> None:
    settings = forgotten["settings"]
    again = forget(settings, [forgotten["victim"]])
    assert again["newly_listed"] == 0
    assert again["rows_removed"] == {}
    version = champion_version(use_tracking(settings), settings.registered_model)
    assert version.version == forgotten["champion"]


def test_the_scrubbed_champion_still_ranks_the_others_like_their_night(forgotten: dict) -> None:
    """Its vector tables and history lost the user's rows: the others' rows are renumbered
    consistently, so the served model still scores their lists as the night did."""
    settings = forgotten["settings"]
    others = rows(
        settings,
        "select distinct user_id from marts.recommendations where user_id <> ? "
        "order by hash(user_id) limit 8",
        [forgotten["victim"]],
    )
    assert_the_pyfunc_ranks_like_the_night(settings, forgotten["day"], [u for (u,) in others])


def test_the_next_night_runs_and_quarantines_later_rows(forgotten: dict) -> None:
    settings, victim = forgotten["settings"], forgotten["victim"]
    day = forgotten["day"] + timedelta(days=1)
    item = rows(settings, "select min(item_id) from marts.dim_items")[0][0]
    other = rows(settings, "select min(user_id) from marts.dim_users")[0][0]
    write_csv(
        settings.landing_dir / "interactions" / f"dt={day}" / "part-0.csv",
        "user_id,item_id,event_ts,rating\n"
        f"{victim},{item},{day}T10:00:00Z,4\n"
        f"{other},{item},{day}T11:00:00Z,5\n",
    )
    write_csv(
        settings.landing_dir / "users" / f"dt={day}" / "part-0.csv",
        f'user_id,profile_text\n {victim} ,"{forgotten["text"]}"\n',
    )
    night = run_night(settings, day, engine="local")
    assert night["stages"]["ingest"]["rows_of_forgotten_users"] == {
        "users": 1,
        "items": 0,
        "interactions": 1,
        "social_edges": 0,
    }
    assert night["stages"]["recommend"]["active_users"] > 0
    # the new drop still holds what the source sent (until `forget` runs again); nothing the
    # pipeline made from it does
    found = search_home(settings.home, [victim, forgotten["text"]])
    assert found and all(f"dt={day}" in f for f in found), found
    (erased,) = rows(
        settings,
        "select count(*) from quarantine.rejected_rows r, meta.loaded_files f "
        "where r.reason = 'erased_user' and r.source_file = f.path and f.path like ?",
        [f"%dt={day}%"],
    )[0]
    assert erased == 2


def test_forget_refuses_blank_ids_and_a_missing_warehouse(home: Settings) -> None:
    with pytest.raises(RecsysError, match="blank user id"):
        forget(home, ["u1", "  "])
    with pytest.raises(RecsysError, match="no warehouse"):
        forget(home, ["u1"])


def test_the_search_sees_inside_zips_and_duckdb_tables(tmp_path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(tmp_path / "w.pt", "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("data.pkl", "secret-id " * 50)
    con = duckdb.connect(str(tmp_path / "x.duckdb"))
    con.execute("create table t as select 'a secret-id b' as s")
    con.close()
    found = search_home(tmp_path, ["secret-id"])
    assert any("w.pt!data.pkl" in f for f in found)
    assert any('"t"' in f for f in found)
