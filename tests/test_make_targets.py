"""`make airflow` and `make mlflow` serve on 127.0.0.1 and stop on Ctrl-C with nothing left."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from pipeline.core.config import PROJECT_ROOT
from tests.processes import free_port

pytestmark = pytest.mark.slow


def left_behind(home: Path) -> list[str]:
    """Live processes started for this test's pipeline home (any process group)."""
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "status", "cmdline"]):
        try:
            if process.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if process.environ().get("RECSYS_HOME") == str(home):
                found.append(f"{process.pid} {' '.join(process.info['cmdline'] or [])[:120]}")
        except psutil.Error:
            continue
    return found


@pytest.mark.parametrize("target", ["airflow", "mlflow"])
def test_the_ui_target_serves_and_ctrl_c_stops_everything(target: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "RECSYS_HOME": str(tmp_path),
        "MLFLOW_PORT": str(port),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
    }
    health = {"airflow": "/api/v2/monitor/health", "mlflow": "/health"}[target]
    log = (tmp_path / f"{target}.log").open("w")
    make = subprocess.Popen(
        ["make", "-C", str(PROJECT_ROOT), target],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a group of its own, as a terminal's foreground job
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{health}", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert make.poll() is None, (tmp_path / f"{target}.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (tmp_path / f"{target}.log").read_text()[-3000:]
            time.sleep(2)
        if target == "airflow":
            assert "Password for user 'admin'" in (tmp_path / "airflow.log").read_text()
        os.killpg(make.pid, signal.SIGINT)  # what Ctrl-C sends to the foreground group
        make.wait(timeout=90)
        assert left_behind(tmp_path) == []  # no orphaned worker, server or scheduler
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
