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
