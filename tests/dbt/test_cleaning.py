"""The cleaning layer on a real demo night: every raw row accounted for, every planted defect found."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest

from pipeline.clean.transform import CLEAN_MODELS, transform
from pipeline.core.errors import RecsysError
from pipeline.landing.demo_data import SQL_ITEM_ID, SQL_USER_ID
from pipeline.landing.ingest import ingest
from tests.conftest import Night

# Planted kinds that are not a data-quality check of their own.
NOT_CHECKS = {"sql_shaped_id", "messy_text", "cold_items", "unreleased_items"}
MARTS = [
    "marts.dim_users",
    "marts.dim_items",
    "marts.fct_interactions",
    "marts.fct_social_edges",
    "marts.embedding_requests",
    "marts.merged_duplicates",
    "marts.deferred_rows",
    "marts.data_quality",
    "quarantine.rejected_rows",
]


def test_raw_rows_equal_clean_plus_merged_plus_deferred_plus_quarantined(demo_night: Night) -> None:
    tables = demo_night.transform_summary["tables"]
    for table, counts in tables.items():
        assert counts["raw"] == demo_night.manifest["rows"][table], table
        assert counts["raw"] == (
            counts["clean"] + counts["merged"] + counts["deferred"] + counts["quarantined"]
        ), table
        (clean,) = demo_night.query(f"select count(*) from {CLEAN_MODELS[table]}")[0]
        assert clean == counts["clean"]


def test_every_planted_defect_is_found_with_its_count(demo_night: Night) -> None:
    found = {
        (table, check): rows
        for table, check, rows in demo_night.query(
            "select table_name, check_name, sum(rows_affected) from marts.data_quality "
            "where run_date = ? group by all",
            [demo_night.manifest["run_date"]],
        )
    }
    for table, kinds in demo_night.manifest["planted"].items():
        expected = {k: n for k, n in kinds.items() if k not in NOT_CHECKS}
        if "reversed_duplicate" in expected:  # a reversed friend link is an exact duplicate pair
            expected["exact_duplicate"] = expected.get("exact_duplicate", 0) + expected.pop(
                "reversed_duplicate"
            )
        for kind, count in expected.items():
            assert found.get((table, kind)) == count, (table, kind)


def test_every_quarantined_row_has_a_reason_and_its_raw_record(demo_night: Night) -> None:
    rows = demo_night.query(
        "select count(*), count_if(reason is null), count_if(record is null), "
        "count_if(json_extract_string(record, '$._source_file') <> source_file) "
        "from quarantine.rejected_rows"
    )
    total, no_reason, no_record, wrong_lineage = rows[0]
    assert total > 0
    assert (no_reason, no_record, wrong_lineage) == (0, 0, 0)


def test_marts_hold_no_null_ids_out_of_range_values_or_duplicates(demo_night: Night) -> None:
    q = demo_night.query
    assert q(
        "select count(*) from marts.fct_interactions where user_id is null or item_id is null"
    ) == [(0,)]
    assert q(
        "select count(*) from marts.fct_interactions f anti join marts.dim_users u using (user_id)"
    ) == [(0,)]
    assert q("select count(*) from marts.fct_interactions where rating not between 0.5 and 5") == [
        (0,)
    ]
    assert q(
        "select count(*) from marts.fct_interactions where rating * 2 <> round(rating * 2)"
    ) == [(0,)]
    assert q("select count(*) from marts.dim_users where age not between 5 and 110") == [(0,)]
    assert q("select count(*) from marts.dim_items where price < 0 or price is null") == [(0,)]
    assert q(
        "select count(*) - count(distinct (user_id, item_id, event_ts)) from marts.fct_interactions"
    ) == [(0,)]
    assert q("select count(*) from marts.fct_social_edges where user_id >= friend_id") == [(0,)]


def test_no_event_after_the_run_date_reaches_the_marts(demo_night: Night) -> None:
    run_date = demo_night.manifest["run_date"]
    assert demo_night.query(
        "select count(*) from marts.fct_interactions where event_ts >= cast(? as date) + 1",
        [run_date],
    ) == [(0,)]
    (deferred,) = demo_night.query(
        "select count(*) from marts.deferred_rows where event_ts >= cast(? as date) + 1", [run_date]
    )[0]
    assert deferred == demo_night.manifest["planted"]["interactions"]["after_run_date"]


def test_sql_shaped_ids_are_stored_as_data(demo_night: Night) -> None:
    assert demo_night.query(
        "select count(*) from marts.dim_users where user_id = ?", [SQL_USER_ID]
    ) == [(1,)]
    assert demo_night.query(
        "select count(*) from marts.dim_items where item_id = ?", [SQL_ITEM_ID]
    ) == [(1,)]
    (events,) = demo_night.query(
        "select count(*) from marts.fct_interactions where user_id = ? or item_id = ?",
        [SQL_USER_ID, SQL_ITEM_ID],
    )[0]
    assert events > 0


def test_messy_text_is_cleaned_but_emoji_and_cjk_survive(demo_night: Night) -> None:
    q = demo_night.query
    assert q(
        "select count(*) from marts.embedding_requests where text ~ '.*(<[a-z/]|&amp;|\n|\t|  ).*'"
    ) == [(0,)]
    (cjk,) = q("select count(*) from marts.embedding_requests where text like '%日本語%'")[0]
    (emoji,) = q("select count(*) from marts.embedding_requests where text like '%🎁%'")[0]
    assert cjk > 0 and emoji > 0


def test_embedding_requests_hash_their_text(demo_night: Night) -> None:
    rows = demo_night.query("select entity, text, content_hash from marts.embedding_requests")
    assert {entity for entity, _, _ in rows} == {"item", "user"}
    for _, text, content_hash in rows:
        assert text.strip()
        assert content_hash == hashlib.sha256(text.encode("utf-8")).hexdigest()
    (items,) = demo_night.query("select count(*) from marts.dim_items")[0]
    assert sum(1 for entity, _, _ in rows if entity == "item") == items


def test_cold_items_are_recommendable_and_future_ones_are_not(demo_night: Night) -> None:
    planted = demo_night.manifest["planted"]["items"]
    run_date = demo_night.manifest["run_date"]
    (cold,) = demo_night.query(
        "select count(*) from marts.dim_items i where is_released and release_ts >= cast(? as date) "
        "and not exists (select 1 from marts.fct_interactions f where f.item_id = i.item_id)",
        [run_date],
    )[0]
    assert cold == planted["cold_items"]
    assert demo_night.query("select count(*) from marts.dim_items where not is_released") == [
        (planted["unreleased_items"],)
    ]


def test_second_ingest_loads_nothing_and_second_transform_gives_identical_marts(
    demo_night: Night,
) -> None:
    def snapshot() -> dict[str, list[tuple]]:
        return {m: sorted(demo_night.query(f"select * from {m}"), key=repr) for m in MARTS}

    before = snapshot()
    assert ingest(demo_night.settings)["files_loaded"] == 0
    run_date = demo_night.transform_summary["run_date"]
    again = transform(demo_night.settings, date.fromisoformat(run_date))
    assert again["tables"] == demo_night.transform_summary["tables"]
    assert snapshot() == before


def test_circuit_breaker_stops_the_night_naming_counts_and_reasons(demo_night: Night) -> None:
    strict = demo_night.settings.model_copy(update={"quarantine_threshold": 0.001})
    with pytest.raises(RecsysError) as caught:
        transform(strict, date.fromisoformat(demo_night.manifest["run_date"]))
    message = str(caught.value)
    quarantined = demo_night.transform_summary["tables"]["interactions"]["quarantined"]
    assert "circuit breaker" in message
    assert f"interactions: {quarantined} of" in message
    assert "unknown_user_id" in message
