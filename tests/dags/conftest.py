"""One small night through Airflow per test session: a migrated Airflow home (the session's,
see tests/conftest.py), a tiny demo shop, and the DAG run once for its run date."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipeline.landing.demo_data import generate

AIRFLOW = str(Path(sys.executable).parent / "airflow")
RUN_DATE = date(2026, 9, 28)
# Small and quick: few epochs, no waiting between retries, and every text through Spark (the
# SparkSubmitOperator path) rather than the in-process shortcut.
NIGHT_ENV = {
    "RECSYS_TRAIN_MAX_EPOCHS": "2",
    "RECSYS_AIRFLOW_RETRY_DELAY_S": "1",
    "RECSYS_AIRFLOW_RETRIES": "1",
    "RECSYS_EMBED_LOCAL_MAX_TEXTS": "0",
    "RECSYS_SPARK_MASTER": "local[2]",
    "RECSYS_GATE_MIN_EVAL_USERS": "10",
}


@dataclass
class AirflowNight:
    home: Path  # RECSYS_HOME of the DAG's tasks
    landing: Path
    run_date: date
    env: dict[str, str]  # the environment the tasks ran with

    def rows(self, sql: str, params: list | None = None) -> list[tuple]:
        con = duckdb.connect(str(self.home / "warehouse.duckdb"), read_only=True)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()

    def recommendations(self, day: date | None = None) -> list[tuple]:
        return self.rows(
            "select * from marts.recommendations where run_date = ? order by user_id, rank",
            [day or self.run_date],
        )


def migrate(env: dict[str, str]) -> None:
    done = subprocess.run(
        [AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """The session's Airflow home after `airflow db migrate`, and nothing else."""
    migrate(dict(os.environ))


@pytest.fixture(scope="package")
def dag_module(airflow_db: None, airflow_night_env: dict[str, str]) -> Any:
    """The DAG as the tasks see it: parsed under the night's environment."""
    from airflow.dag_processing.dagbag import DagBag

    from pipeline.orchestration.home import DAGS_FOLDER

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert not bag.import_errors, bag.import_errors
    return bag.dags["recsys_nightly"]


# package scope: the environment is restored when the tests leave tests/dags, so no setting of
# this night leaks into another package's tests
@pytest.fixture(scope="package")
def airflow_night_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """RECSYS_* of the session's Airflow night, set in this process (dag.test runs tasks here)."""
    home = tmp_path_factory.mktemp("airflow-night")
    env = {**NIGHT_ENV, "RECSYS_HOME": str(home)}
    before = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    yield env
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="package")
def airflow_night(
    dag_module: Any, airflow_night_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> AirflowNight:
    """`dag.test()` of the whole DAG for RUN_DATE on a landing folder it has never seen."""
    landing = tmp_path_factory.mktemp("landing-airflow")
    generate(landing, seed=11, run_date=RUN_DATE, scale=0.1)
    run = dag_module.test(
        logical_date=datetime.combine(RUN_DATE, datetime.min.time(), UTC),
        run_conf={"landing": str(landing)},
    )
    assert run.state == "success", task_states(run)
    return AirflowNight(
        Path(airflow_night_env["RECSYS_HOME"]), landing, RUN_DATE, dict(airflow_night_env)
    )


def task_states(run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
