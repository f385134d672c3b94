from __future__ import annotations

import json

import pytest

from pipeline.clean.dbt import dbt_failures
from pipeline.clean.transform import check_circuit_breaker
from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError


def counts(raw: int, quarantined: int, **reasons: int) -> dict:
    return {
        "raw": raw,
        "clean": raw - quarantined,
        "merged": 0,
        "deferred": 0,
        "quarantined": quarantined,
        "quarantine_reasons": reasons,
    }


def test_breaker_passes_at_the_threshold_and_trips_above_it() -> None:
    check_circuit_breaker({"users": counts(100, 5, null_user_id=5)}, threshold=0.05)
    with pytest.raises(
        RecsysError,
        match=r"users: 6 of 100 rows quarantined \(6\.0%; null_user_id: 4, conflicting_duplicate: 2\)",
    ):
        check_circuit_breaker(
            {"users": counts(100, 6, null_user_id=4, conflicting_duplicate=2)}, threshold=0.05
        )


def test_breaker_ignores_empty_tables() -> None:
    check_circuit_breaker({"social_edges": counts(0, 0)}, threshold=0.0)


def testdbt_failures_are_summarised_one_per_failed_node(tmp_path) -> None:
    settings = Settings(home=tmp_path)
    settings.dbt_target_dir.mkdir(parents=True)
    (settings.dbt_target_dir / "run_results.json").write_text(
        json.dumps(
            {
                "results": [
                    {
                        "unique_id": "test.recsys.not_null_x",
                        "status": "fail",
                        "message": "Got 3 results,\n configured to fail if != 0",
                    },
                    {"unique_id": "model.recsys.y", "status": "success", "message": "OK"},
                ]
            }
        )
    )
    assert (
        dbt_failures(settings)
        == "test.recsys.not_null_x: Got 3 results, configured to fail if != 0"
    )


def test_a_shop_without_a_users_table_knows_its_users_from_their_events(
    demo_night, tmp_path
) -> None:
    """Many shops have no user attributes: users known only from their interactions are
    ordinary users (attributes unknown), not unknown ids to quarantine."""
    import shutil

    import duckdb

    from pipeline.clean.transform import transform
    from pipeline.core.run_date import resolve_run_date
    from pipeline.landing.ingest import ingest

    landing = tmp_path / "landing"
    shutil.copytree(
        demo_night.settings.landing_dir, landing, ignore=shutil.ignore_patterns("users*")
    )
    settings = Settings(home=tmp_path / "home", landing=landing)
    day = resolve_run_date(settings)
    ingest(settings, day)
    summary = transform(settings, day)

    assert summary["tables"]["users"]["raw"] == 0
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        ((users, ages, genders),) = con.execute(
            "select count(*), count(age), list(distinct gender) from marts.dim_users"
        ).fetchall()
        (event_users,) = con.execute(
            "select count(distinct user_id) from marts.fct_interactions"
        ).fetchone()
        unknown = con.execute(
            "select count(*) from quarantine.rejected_rows "
            "where source_table = 'interactions' and reason = 'unknown_user_id'"
        ).fetchone()[0]
    finally:
        con.close()
    assert users == event_users > 0
    assert (ages, genders) == (0, ["unknown"])
    assert unknown == 0
