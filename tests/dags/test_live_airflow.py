"""Airflow as a team runs it: api-server, scheduler and dag-processor started here on 127.0.0.1,
the DAG listed with its params over the REST API, runs triggered and backfilled through it.

Runs after the session's night (it reuses that night's warehouse and champion), with an Airflow
home of its own that had only `airflow db migrate`: the pool comes from the project's plugin.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.dags.conftest import AIRFLOW, AirflowNight, migrate
from tests.processes import free_port

pytestmark = pytest.mark.slow
TRIGGERED = date(2026, 9, 27)
BACKFILLED = (date(2026, 9, 25), date(2026, 9, 26))
RUN_TIMEOUT_S = 900


@dataclass
class LiveAirflow:
    url: str
    session: requests.Session
    logs: Path

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, f"{self.url}/api/v2{path}", timeout=30, **kwargs)

    def wait_for_run(self, run_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline:
            run = self.api("GET", f"/dags/recsys_nightly/dagRuns/{run_id}").json()
            if run["state"] in ("success", "failed"):
                return run
            time.sleep(3)
        raise AssertionError(f"run {run_id} did not finish in {RUN_TIMEOUT_S}s: {self.tail()}")

    def tail(self) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}"
            for log in sorted(self.logs.glob("*.log"))
        )


@pytest.fixture(scope="module")
def live(
    airflow_night: AirflowNight, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveAirflow]:
    home = tmp_path_factory.mktemp("airflow-live")
    port = free_port()
    passwords = home / "passwords.json"
    password = secrets.token_urlsafe(12)
    passwords.write_text(json.dumps({"admin": password}))
    env = {
        **os.environ,
        **airflow_night.env,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        # the schedule's first night lies in the future: only the test's own triggered and
        # backfilled runs happen (a backfill is not bound by the start date)
        "RECSYS_AIRFLOW_START_DATE": "2099-01-01",
        "RECSYS_LANDING": str(airflow_night.landing),
    }
    migrate(env)
    processes = []
    for name, args in (
        ("api-server", ["api-server", "--port", str(port)]),
        ("scheduler", ["scheduler"]),
        ("dag-processor", ["dag-processor"]),
    ):
        log = (home / f"{name}.log").open("w")
        processes.append(
            subprocess.Popen(
                [AIRFLOW, *args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped with its children
            )
        )
    url = f"http://127.0.0.1:{port}"
    live = LiveAirflow(url, requests.Session(), home)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                token = requests.post(
                    f"{url}/auth/token",
                    json={"username": "admin", "password": password},
                    timeout=10,
                )
                if token.status_code in (200, 201):
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, live.tail()
            time.sleep(2)
        live.session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield live
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def listed(live: LiveAirflow) -> dict[str, Any]:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        dags = live.api("GET", "/dags", params={"dag_id_pattern": "recsys_nightly"}).json()
        if dags.get("total_entries"):
            return dags["dags"][0]
        time.sleep(2)
    raise AssertionError(f"recsys_nightly was never listed: {live.tail()}")


def test_the_dag_is_listed_with_its_params_and_triggered_with_params(
    live: LiveAirflow, airflow_night: AirflowNight
) -> None:
    dag = listed(live)
    assert dag["dag_id"] == "recsys_nightly" and dag["max_active_runs"] == 1
    assert not dag["is_paused"]
    details = live.api("GET", "/dags/recsys_nightly/details").json()
    params = details["params"]
    assert set(params) == {"run_date", "landing", "top_n", "force_reembed", "retrain", "backfill"}
    assert params["top_n"]["schema"]["maximum"] == 1000
    # nobody made the pool: the project's plugin did when the scheduler started
    pool = live.api("GET", "/pools/warehouse").json()
    assert pool["slots"] == 1, pool

    refused = live.api(
        "POST",
        "/dags/recsys_nightly/dagRuns",
        json={"logical_date": None, "conf": {"run_date": "2026-02-30"}},
    )
    assert refused.status_code == 400, refused.text
    assert "run_date" in refused.text

    triggered = live.api(
        "POST",
        "/dags/recsys_nightly/dagRuns",
        json={
            "logical_date": None,  # a manual run without a logical date: the param decides
            # the day before the published night: a backfill on purpose
            "conf": {
                "run_date": TRIGGERED.isoformat(),
                "retrain": False,
                "top_n": 5,
                "backfill": True,
            },
        },
    )
    assert triggered.status_code == 200, triggered.text
    run = live.wait_for_run(triggered.json()["dag_run_id"])
    assert run["state"] == "success", live.tail()
    counts = airflow_night.rows(
        "select distinct count(*) over (partition by user_id) from marts.recommendations "
        "where run_date = ?",
        [TRIGGERED],
    )
    assert counts == [(5,)]


def test_a_two_date_backfill_gives_both_dates_rows(
    live: LiveAirflow, airflow_night: AirflowNight
) -> None:
    listed(live)
    created = live.api(
        "POST",
        "/backfills",
        json={
            "dag_id": "recsys_nightly",
            "from_date": f"{BACKFILLED[0].isoformat()}T00:00:00Z",
            "to_date": f"{BACKFILLED[1].isoformat()}T23:59:59Z",
            "run_backwards": False,
            "dag_run_conf": {"retrain": False},
            "reprocess_behavior": "none",
            "max_active_runs": 1,
        },
    )
    assert created.status_code == 200, created.text
    deadline = time.monotonic() + 2 * RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        runs = live.api(
            "GET", "/dags/recsys_nightly/dagRuns", params={"run_type": "backfill"}
        ).json()["dag_runs"]
        if len(runs) == 2 and all(r["state"] in ("success", "failed") for r in runs):
            break
        time.sleep(3)
    assert sorted(r["state"] for r in runs) == ["success", "success"], live.tail()
    served = airflow_night.rows(
        "select run_date, count(distinct user_id) from marts.recommendations "
        "where run_date in (?, ?) group by run_date order by run_date",
        list(BACKFILLED),
    )
    assert [day for day, _ in served] == list(BACKFILLED)
    assert all(users > 100 for _, users in served)
