"""The recsys_forget DAG triggered with a request id: the user is erased, and Airflow's own
records (the metadata DB: run conf, audit log, XComs; the task logs) never hold the id."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.orchestration.home import DAGS_FOLDER
from pipeline.privacy.erasure_requests import request_path, write_request
from pipeline.privacy.journal import pending_erasures
from tests.conftest import Night
from tests.privacy.homes import copy_home
from tests.privacy.search import search_home

pytestmark = pytest.mark.slow


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
