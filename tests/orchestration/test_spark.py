"""The embedding task's Spark master: the Airflow connection when it exists, else Settings."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipeline.core.config import Settings
from pipeline.embed.spark_submit import spark_job
from pipeline.orchestration.spark import (
    FALLBACK_CONN_ID,
    connection_exists,
    connection_master,
    master_connection,
)


def resolved_master(conn_id: str) -> str:
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    command = SparkSubmitHook(conn_id=conn_id)._build_spark_submit_command("job.py")
    return command[command.index("--master") + 1]


def test_without_a_connection_the_master_comes_from_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_SPARK_DEFAULT", raising=False)
    assert not connection_exists("spark_default")
    with master_connection("spark_default", "local[2]") as conn_id:
        assert conn_id == FALLBACK_CONN_ID
        assert resolved_master(conn_id) == "local[2]"
    assert f"AIRFLOW_CONN_{FALLBACK_CONN_ID.upper()}" not in os.environ  # scoped to the job


def test_an_existing_connection_decides_the_master(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SPARK_DEFAULT",
        json.dumps({"conn_type": "spark", "host": "spark://spark-master", "port": 7077}),
    )
    with master_connection("spark_default", "local[2]") as conn_id:
        assert conn_id == "spark_default"
        assert resolved_master(conn_id) == "spark://spark-master:7077"
    assert connection_master("spark_default") == "spark://spark-master:7077"


def test_a_cluster_master_gets_a_job_whose_driver_is_reachable(tmp_path: Path) -> None:
    requests, output = tmp_path / "r.parquet", tmp_path / "v"
    local = spark_job(Settings(home=tmp_path), requests, output, "m")
    cluster = spark_job(
        Settings(home=tmp_path, spark={"master": "spark://spark-master:7077"}),
        requests,
        output,
        "m",
    )
    assert local.env["SPARK_LOCAL_IP"] == os.environ.get("SPARK_LOCAL_IP", "127.0.0.1")
    assert "SPARK_LOCAL_IP" not in cluster.env  # executors elsewhere must reach the driver
    assert cluster.command()[:3] == ["spark-submit", "--master", "spark://spark-master:7077"]
