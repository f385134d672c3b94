"""The whole DAG on a small demo night: rows in marts.recommendations, reruns, retries, params;
last, the recsys_forget DAG triggered with a request id."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline.orchestration.home import DAGS_FOLDER
from pipeline.privacy.erasure_requests import request_path, write_request
from pipeline.privacy.journal import pending_erasures
from tests.conftest import Night
from tests.dags.conftest import AIRFLOW, RUN_DATE, AirflowNight, task_states
from tests.privacy.homes import copy_home
from tests.privacy.search import search_home

pytestmark = pytest.mark.slow


def logical(day: Any) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC)


def test_the_whole_dag_fills_recommendations_for_its_run_date(airflow_night: AirflowNight) -> None:
    active = airflow_night.rows("select count(distinct user_id) from marts.fct_interactions")[0][0]
    per_user = airflow_night.rows(
        "select user_id, count(*), count(distinct item_id), min(rank), max(rank) "
        "from marts.recommendations where run_date = ? group by user_id",
        [RUN_DATE],
    )
    assert active > 100
    assert len(per_user) == active
    assert {row[1:] for row in per_user} == {(10, 10, 1, 10)}
    assert (
        airflow_night.rows(
            "select count(*) from marts.similar_users where run_date = ?", [RUN_DATE]
        )[0][0]
        > 0
    )
    assert (airflow_night.home / "published" / "analytics.duckdb").is_file()


def test_the_spark_job_ran_through_the_operator_with_the_master_from_settings(
    airflow_night: AirflowNight,
) -> None:
    vectors = airflow_night.home / "embeddings" / RUN_DATE.isoformat() / "vectors"
    # Spark writes part files and a _SUCCESS marker; the in-process engine writes part-local
    assert (vectors / "_SUCCESS").is_file()
    assert not (vectors / "part-local.parquet").exists()
    embedded = airflow_night.rows(
        "select count(*) from features.text_embeddings where entity = 'item'"
    )[0][0]
    assert embedded > 100


def test_a_rerun_of_the_same_date_from_the_cli_leaves_identical_rows(
    airflow_night: AirflowNight,
) -> None:
    """The issue's own command, `airflow dags test recsys_nightly D -c '{"landing": ...}'`."""
    before = airflow_night.recommendations()
    done = subprocess.run(
        [
            AIRFLOW, "dags", "test", "recsys_nightly", RUN_DATE.isoformat(),
            "-c", json.dumps({"landing": str(airflow_night.landing)}),
        ],
        env={**os.environ, **airflow_night.env},
        capture_output=True,
        text=True,
        timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "state=success" in done.stdout + done.stderr
    after = airflow_night.recommendations()
    # the same rows: a deterministic retrain, a new version number of the same weights
    assert [r[:5] + r[6:] for r in after] == [r[:5] + r[6:] for r in before]
    assert len(after) == len({(r[1], r[2]) for r in after})


def test_a_task_that_fails_after_its_write_succeeds_on_retry_without_duplicates(
    airflow_night: AirflowNight, dag_module: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.serve.recommend

    real = pipeline.serve.recommend.write_night
    calls: list[int] = []

    def write_then_die(*args: Any, **kwargs: Any) -> dict[str, int]:
        written = real(*args, **kwargs)  # the rows are committed ...
        calls.append(1)
        if len(calls) == 1:  # ... and the worker is lost before Airflow hears of it
            raise RuntimeError("worker lost after the write")
        return written

    monkeypatch.setattr(pipeline.serve.recommend, "write_night", write_then_die)
    run = dag_module.test(
        logical_date=logical(RUN_DATE),
        run_conf={"landing": str(airflow_night.landing), "retrain": False},
    )
    assert run.state == "success", task_states(run)
    assert len(calls) == 2
    states = task_states(run)
    assert states["train_model"] == "skipped" and states["publish"] == "success"
    tries = {ti.task_id: ti.try_number for ti in run.get_task_instances()}
    assert tries["recommend_write"] == 2
    rows = airflow_night.recommendations()
    assert (
        len(rows)
        == len({(r[1], r[2]) for r in rows})
        == airflow_night.rows("select count(distinct user_id) * 10 from marts.fct_interactions")[0][
            0
        ]
    )


@pytest.mark.parametrize("bad", ["2026-02-30", "28/09/2026", "yesterday"])
def test_an_invalid_run_date_param_is_refused_with_a_clear_message(
    airflow_night: AirflowNight, dag_module: Any, bad: str
) -> None:
    from airflow.sdk.definitions.param import ParamValidationError

    with pytest.raises(ParamValidationError, match="run_date") as refused:
        dag_module.test(logical_date=logical(RUN_DATE), run_conf={"run_date": bad})
    assert bad in str(refused.value)


# Last in this package: dag.test() serializes every DAG of the folder under this test's own home,
# and the nightly DAG's asset URI names its home: a night test after it would find the asset of
# its home inactive in the shared Airflow DB.
def test_a_dag_triggered_forget_leaves_no_id_in_airflow(
    airflow_db: None,
    demo_night: Night,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    settings, victim = copy_home(demo_night, tmp_path / "home")
    monkeypatch.setenv("RECSYS_HOME", str(settings.home))
    request_id = write_request(settings, [victim], "ticket 5")
    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert not bag.import_errors, bag.import_errors
    run = bag.dags["recsys_forget"].test(run_conf={"request": request_id})

    (task,) = run.get_task_instances()
    assert run.state == "success", task.state
    captured = capfd.readouterr()
    assert victim not in captured.out + captured.err  # the task's log lines
    assert not request_path(settings, request_id).exists()
    assert pending_erasures(settings) == []
    assert search_home(settings.home, [victim]) == []
    airflow_home = Path(os.environ["AIRFLOW_HOME"])
    # the metadata DB (SQLite) and any log file, byte for byte: the run's conf is there, the id
    # is not
    assert search_home(airflow_home, [request_id]) != []
    assert search_home(airflow_home, [victim]) == []
