"""The local Airflow installation under `$RECSYS_HOME/airflow`: one machine, SQLite, this DAG.

`recsys airflow ARGS` runs Airflow's own CLI with this environment (`make run`, `make airflow`
and the tests use it), so nobody hand-edits an airflow.cfg. A variable already set in the
environment wins: point AIRFLOW_HOME or any AIRFLOW__* elsewhere and it is kept.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline.core.config import PROJECT_ROOT, Settings

DAGS_FOLDER = PROJECT_ROOT / "dags"
API_HOST, API_PORT = "127.0.0.1", 8080


def airflow_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) plus the local Airflow settings it lacks."""
    env = dict(os.environ if base is None else base)
    home = settings.home / "airflow"
    defaults = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # every forked LocalExecutor worker costs ~170 MB; 4 is plenty for one night's DAG
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__API__HOST": API_HOST,
        "AIRFLOW__API__PORT": str(API_PORT),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__BASE_URL": f"http://{API_HOST}:{API_PORT}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{API_HOST}:{API_PORT}/execution/",
        "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
    }
    for key, value in defaults.items():
        env.setdefault(key, value)
    # `airflow standalone` starts `airflow` from PATH: this environment's own
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = os.pathsep.join(filter(None, [bin_dir, env.get("PATH")]))
    return env


def airflow_executable() -> str:
    return str(Path(sys.executable).parent / "airflow")


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop(signum)


def group_alive(pgid: int) -> list[int]:
    """Live (not zombie) processes of the process group `pgid`."""
    import psutil

    alive = []
    for process in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                alive.append(process.pid)
        except (ProcessLookupError, psutil.Error):
            continue
    return alive


def supervise(argv: list[str], env: dict[str, str], *, grace_s: float = 30.0) -> int:
    """Run a long-lived Airflow command (standalone) in a process group of its own, and on
    Ctrl-C or SIGTERM stop all of it: first its own clean shutdown (SIGINT), then SIGTERM and
    SIGKILL to whatever of the group is left, so no scheduler, worker or server outlives it."""
    child = subprocess.Popen(argv, env=env, start_new_session=True)
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return child.wait()
    except _Stop:
        os.killpg(child.pid, signal.SIGINT)
        for sig, wait_s in ((None, grace_s), (signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            if sig is not None and group_alive(child.pid):
                os.killpg(child.pid, sig)
            deadline = time.monotonic() + wait_s
            while group_alive(child.pid) and time.monotonic() < deadline:
                time.sleep(0.5)
            if not group_alive(child.pid):
                break
        child.wait()
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
