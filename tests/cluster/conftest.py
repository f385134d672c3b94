"""The whole production topology on loopback, once for tests/cluster: PostgreSQL (Airflow's
metadata, MLflow's store), Redis, a Spark standalone master with two workers, an MLflow server
with served artifacts, and Airflow with the CeleryExecutor (a worker for queue `default`, one for
`gpu`). The tests skip, saying what to install, where the binaries are absent."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from pipeline.orchestration.home import DAGS_FOLDER
from tests.cluster.services import Airflow, Postgres, missing, start_mlflow, start_redis
from tests.processes import free_port, start_spark_standalone, stop_group

# A quick but real night (the model still has to pass the gate), the same on both topologies.
NIGHT_ENV = {"RECSYS_TRAIN_MAX_EPOCHS": "4", "RECSYS_TRAIN_PATIENCE": "2"}
DEMO_SEED, DEMO_SCALE = 7, 0.1


@dataclass
class Cluster:
    root: Path
    home: Path  # RECSYS_HOME of every task (shared storage, as the deployment's volume)
    airflow: Airflow
    mlflow_url: str
    mlflow_store: str  # its PostgreSQL database, as a SQLAlchemy URL
    spark_master: str
    spark_ui: str


def clean_environment() -> dict[str, str]:
    """This process's environment without any RECSYS_* or AIRFLOW* of the session."""
    return {
        k: v for k, v in os.environ.items() if not k.startswith(("RECSYS_", "AIRFLOW", "MLFLOW"))
    }


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    absent = missing()
    if absent:
        pytest.skip(
            "the production topology needs " + ", ".join(absent) + ": `apt-get install "
            "postgresql redis-server` (Debian; see README, 'The production topology')"
        )
    root = tmp_path_factory.mktemp("cluster")
    home = root / "home"
    home.mkdir()
    stops: list = []  # run in reverse order at the end, whatever failed in between
    pool = ThreadPoolExecutor(2)
    postgres = Postgres(root / "postgres")  # as root, its files move to a dir of the server's
    try:
        spark = pool.submit(
            start_spark_standalone,
            root / "spark",
            {**clean_environment(), "PYSPARK_PYTHON": sys.executable},
            workers=2,
            cores=1,
            memory="2g",
        )
        stops.append(lambda: stop_started(spark, lambda r: r[2]))
        postgres.root.mkdir()
        stops.append(postgres.stop)
        postgres.start()
        airflow_db = postgres.create_database("airflow")
        mlflow_store = postgres.create_database("mlflow")
        mlflow = pool.submit(start_mlflow, root, mlflow_store)
        stops.append(lambda: stop_started(mlflow, lambda r: [r[1]]))
        broker, redis = start_redis(root)
        stops.append(lambda: stop_group(redis))
        airflow = Airflow(
            root / "airflow", {}, f"http://127.0.0.1:{free_port()}", secrets.token_urlsafe(12)
        )
        airflow.root.mkdir()
        master, ui, _ = spark.result()
        mlflow_url, _ = mlflow.result()
        airflow.env = airflow_environment(airflow, home, airflow_db, broker, master, mlflow_url)
        stops.append(airflow.stop)
        airflow.start()
        yield Cluster(root, home, airflow, mlflow_url, mlflow_store, master, ui)
    finally:
        pool.shutdown(wait=True)  # a start still under way finishes, then is stopped below
        for stop in reversed(stops):  # Airflow first, PostgreSQL last
            stop()
        left = leftovers(root) + leftovers(postgres.root)
        assert not left, f"processes of the cluster left behind: {left}"


def leftovers(root: Path) -> list[str]:
    """Processes still running that belong to the cluster (its dir in their command line or
    environment), whatever group they moved to (a task's spark-submit, a Spark executor);
    killed, and named for the assertion."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "environ"]):
        try:
            text = " ".join(process.info["cmdline"] or []) + str(process.info["environ"] or "")
            if str(root) in text and process.pid != os.getpid():
                found.append(f"{process.pid}: {' '.join(process.info['cmdline'] or [])[:200]}")
                process.kill()
        except psutil.Error:
            continue
    return found


def stop_started(future: Future, processes: Callable[[Any], list[subprocess.Popen]]) -> None:
    """Stop what a start in the pool started, if it did (workers before their master)."""
    if future.exception() is None:
        for process in reversed(processes(future.result())):
            stop_group(process)


def airflow_environment(
    airflow: Airflow, home: Path, database: str, broker: str, master: str, mlflow_url: str
) -> dict[str, str]:
    passwords = airflow.root / "passwords.json"
    passwords.write_text(json.dumps({"admin": airflow.password}))
    port = airflow.url.rsplit(":", 1)[1]
    spark_host, spark_port = master.rsplit(":", 1)
    return {
        **clean_environment(),
        **NIGHT_ENV,
        "AIRFLOW_HOME": str(airflow.root),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
        "AIRFLOW__CELERY__BROKER_URL": broker,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database,
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": "default",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": port,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__BASE_URL": airflow.url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{airflow.url}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
        # the DAG's Spark connection: both Spark steps are submitted to the standalone master
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps(
            {"conn_type": "spark", "host": spark_host, "port": int(spark_port)}
        ),
        "SPARK_LOCAL_IP": "127.0.0.1",  # executors call the driver (in the gpu worker) back here
        "RECSYS_HOME": str(home),
        "RECSYS_MLFLOW_TRACKING_URI": mlflow_url,
        # every text and every user through the cluster, however small the night
        "RECSYS_EMBED_LOCAL_MAX_TEXTS": "0",
        "RECSYS_RECOMMEND_LOCAL_MAX_PAIRS": "0",
        "RECSYS_SPARK_EXECUTOR_MEMORY": "1g",
        "RECSYS_SPARK_DRIVER_MEMORY": "1g",
        "RECSYS_AIRFLOW_RETRIES": "0",
        # only the test's own runs: the schedule's first night lies in the future
        "RECSYS_AIRFLOW_START_DATE": "2099-01-01",
    }
