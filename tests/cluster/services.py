"""The production topology's servers as processes on 127.0.0.1, each on a free port under a temp
dir, each in a process group of its own that its `stop` checks is gone.

PostgreSQL (initdb/pg_ctl), Redis, an MLflow tracking server on PostgreSQL with served artifacts,
and Airflow with the CeleryExecutor (api-server, scheduler, dag-processor, triggerer, a Celery
worker per queue). The Spark standalone cluster is `tests.processes.start_spark_standalone`.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.processes import free_port, group_alive, start_group, stop_group, wait_until

BIN = Path(sys.executable).parent
# what the Debian packages install; README: `apt-get install postgresql redis-server`
NEEDED = {"initdb": "postgresql", "pg_ctl": "postgresql", "redis-server": "redis-server"}


def find_binary(name: str) -> str | None:
    """On PATH, or where Debian's postgresql package keeps it (not on PATH by default)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def missing() -> list[str]:
    """The Debian packages whose binaries are absent, and the Python modules of the `cluster`
    extra that are not installed."""
    absent = sorted({package for name, package in NEEDED.items() if not find_binary(name)})
    if not shutil.which("java"):
        absent.append("a Java runtime (Spark)")
    for module in ("celery", "psycopg2", "redis"):
        try:
            __import__(module)
        except ImportError:
            absent.append(f"python module {module} (make setup)")
    return absent


@dataclass
class Postgres:
    """A PostgreSQL cluster of its own: initdb into a temp dir, started and stopped by pg_ctl.
    As root (CI), both run as the `postgres` user, which initdb requires."""

    root: Path
    port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    process: subprocess.Popen | None = None

    def _as_owner(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        return ["runuser", "-u", "postgres", "--", *argv]

    def start(self) -> None:
        owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        if owner:  # the pytest temp dir is root's alone: the server gets a dir it may enter
            self.root = Path(tempfile.mkdtemp(prefix="recsys-pg-"))
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        secret = self.root / "pwfile"
        secret.write_text(self.password + "\n")
        if owner:
            os.chown(secret, owner.pw_uid, owner.pw_gid)
        secret.chmod(0o600)
        data = self.root / "data"
        subprocess.run(
            self._as_owner(
                [find_binary("initdb") or "initdb", "-D", str(data), "-U", "postgres",
                 "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={secret}",
                 "--encoding=UTF8", "--no-instructions"]
            ),
            check=True,
            capture_output=True,
        )  # fmt: skip
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        # pg_ctl forks the postmaster into this group: stop() can check that nothing is left
        self.process = start_group(
            self._as_owner(
                [find_binary("pg_ctl") or "pg_ctl", "start", "-w", "-D", str(data), "-o", options,
                 "-l", str(self.root / "postgres.log")]
            ),
            dict(os.environ),
            self.root / "pg_ctl.log",
        )  # fmt: skip
        wait_until(self._accepts, 60, self.log)

    def _accepts(self) -> bool:
        import psycopg2

        try:
            psycopg2.connect(self.dsn("postgres", "postgres", self.password)).close()
        except psycopg2.OperationalError:
            return False
        return True

    def dsn(self, database: str, user: str, password: str) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A role and a database of that name (as the docker init script makes them); returns
        its SQLAlchemy URL."""
        import psycopg2

        password = secrets.token_urlsafe(16)
        con = psycopg2.connect(self.dsn("postgres", "postgres", self.password))
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute(f"create role {name} login password %s", [password])
            cur.execute(f"create database {name} owner {name}")
        con.close()
        return f"postgresql+psycopg2://{name}:{password}@127.0.0.1:{self.port}/{name}"

    def log(self) -> str:
        log = self.root / "postgres.log"
        return log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"

    def stop(self) -> None:
        data = self.root / "data"
        if (data / "postmaster.pid").exists():
            subprocess.run(
                self._as_owner(
                    [find_binary("pg_ctl") or "pg_ctl", "stop", "-w", "-m", "fast", "-D", str(data)]
                ),
                capture_output=True,
                timeout=120,
            )
        if self.process is not None:
            stop_group(self.process)
        if os.geteuid() == 0:
            shutil.rmtree(self.root, ignore_errors=True)


def start_redis(root: Path) -> tuple[str, subprocess.Popen]:
    """A Redis without persistence (the Celery broker); its URL once it answers PING."""
    import redis

    port = free_port()
    process = start_group(
        [find_binary("redis-server") or "redis-server", "--port", str(port), "--bind",
         "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(root)],
        dict(os.environ),
        root / "redis.log",
    )  # fmt: skip

    def pong() -> bool:
        try:
            return bool(redis.Redis(port=port, socket_timeout=2).ping())
        except redis.ConnectionError:
            return False

    wait_until(pong, 60, lambda: (root / "redis.log").read_text())
    return f"redis://127.0.0.1:{port}/0", process


def start_mlflow(root: Path, store: str) -> tuple[str, subprocess.Popen]:
    """`mlflow server` on a PostgreSQL store, serving artifacts from a folder of its own."""
    port = free_port()
    process = start_group(
        [str(BIN / "mlflow"), "server", "--backend-store-uri", store, "--serve-artifacts",
         "--artifacts-destination", str(root / "mlartifacts"), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        root / "mlflow.log",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return requests.get(f"{url}/health", timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    wait_until(healthy, 240, lambda: (root / "mlflow.log").read_text()[-3000:])
    return url, process


AIRFLOW_PROCESSES = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer"],
    # one Celery worker per queue, one task at a time each (2 cores); the `gpu` one is where a
    # GPU machine's worker would run
    "worker-default": ["celery", "worker", "--queues", "default", "--concurrency", "1",
                       "--celery-hostname", "default@127.0.0.1", "--skip-serve-logs"],
    "worker-gpu": ["celery", "worker", "--queues", "gpu", "--concurrency", "1",
                   "--celery-hostname", "gpu@127.0.0.1", "--skip-serve-logs"],
}  # fmt: skip


@dataclass
class Airflow:
    """Airflow with the CeleryExecutor on PostgreSQL and Redis, reached over its REST API."""

    root: Path
    env: dict[str, str]
    url: str
    password: str
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    session: requests.Session = field(default_factory=requests.Session)

    def start(self) -> None:
        migrated = subprocess.run(
            [str(BIN / "airflow"), "db", "migrate"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert migrated.returncode == 0, migrated.stderr[-3000:]
        for name, args in AIRFLOW_PROCESSES.items():
            self.processes[name] = start_group(
                [str(BIN / "airflow"), *args], self.env, self.root / f"{name}.log"
            )
        wait_until(self._signed_in, 300, self.tail)

    def _signed_in(self) -> bool:
        try:
            token = requests.post(
                f"{self.url}/auth/token",
                json={"username": "admin", "password": self.password},
                timeout=10,
            )
        except requests.ConnectionError:
            return False
        if token.status_code not in (200, 201):
            return False
        self.session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        return True

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, f"{self.url}/api/v2{path}", timeout=30, **kwargs)

    def workers_ready(self) -> bool:
        """Both Celery workers answer a ping (as compose's healthcheck asks them)."""
        done = subprocess.run(
            [str(BIN / "celery"), "--app", "airflow.providers.celery.executors.celery_executor.app",
             "inspect", "ping", "--timeout", "5"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )  # fmt: skip
        return "default@127.0.0.1" in done.stdout and "gpu@127.0.0.1" in done.stdout

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        answer = self.api(
            "POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf}
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["dag_run_id"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            run = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}").json()
            if run.get("state") in ("success", "failed"):
                return run
            time.sleep(3)
        raise AssertionError(f"{run_id} did not finish in {timeout_s}s:\n{self.tail()}")

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        answer = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances").json()
        return {ti["task_id"]: ti for ti in answer["task_instances"]}

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        answer = self.api(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
            params={"deserialize": True},
        )
        assert answer.status_code == 200, answer.text
        value = answer.json()["value"]
        return json.loads(value) if isinstance(value, str) else value

    def tail(self) -> str:
        parts = [
            f"--- {log.name}\n{log.read_text(errors='replace')[-2500:]}"
            for log in sorted(self.root.glob("*.log"))
        ]
        for log in sorted((self.root / "logs").rglob("*.log"))[-3:]:  # the last tasks' own logs
            parts.append(f"--- {log}\n{log.read_text(errors='replace')[-2500:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        # workers first (their tasks' spark-submit children go with their groups), then the rest
        for name in reversed(list(self.processes)):
            stop_group(self.processes[name], timeout_s=90)
        assert not [p for p in self.processes.values() if group_alive(p.pid)]
