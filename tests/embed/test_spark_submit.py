"""What spark-submit is given, built from Settings (no Spark started here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.embed.spark_submit import AUTH_SECRET_ENV, JOB_SCRIPT, spark_job


def test_gpu_settings_reach_spark_submit_only_when_asked(tmp_path: Path) -> None:
    requests, output = tmp_path / "r.parquet", tmp_path / "v"
    cpu = " ".join(spark_job(Settings(home=tmp_path), requests, output, "m").command())
    assert "--master local[*]" in cpu
    assert "resource.gpu" not in cpu
    gpu_settings = Settings(
        home=tmp_path,
        spark={
            "master": "spark://spark-master:7077",
            "executor_gpus": 1,
            "task_gpus": 0.5,
            "gpu_discovery_script": tmp_path / "getGpus.sh",
        },
    )
    gpu = " ".join(spark_job(gpu_settings, requests, output, "m").command())
    assert "--master spark://spark-master:7077" in gpu
    assert "spark.executor.resource.gpu.amount=1" in gpu
    assert "spark.task.resource.gpu.amount=0.5" in gpu
    assert f"spark.executor.resource.gpu.discoveryScript={tmp_path / 'getGpus.sh'}" in gpu


def test_the_job_is_the_packaged_script_with_the_project_on_its_path(tmp_path: Path) -> None:
    job = spark_job(Settings(home=tmp_path), tmp_path / "r.parquet", tmp_path / "v", "m")
    assert job.application == str(JOB_SCRIPT) and JOB_SCRIPT.is_file()
    assert str(JOB_SCRIPT.parents[2]) in job.env["PYTHONPATH"].split(":")
    assert job.command()[:3] == ["spark-submit", "--master", "local[*]"]


def test_an_authenticated_cluster_gets_auth_and_encryption_never_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(home=tmp_path, spark={"authenticate": True})
    monkeypatch.delenv(AUTH_SECRET_ENV, raising=False)
    with pytest.raises(RecsysError, match=AUTH_SECRET_ENV):
        spark_job(settings, tmp_path / "r.parquet", tmp_path / "v", "m")
    monkeypatch.setenv(AUTH_SECRET_ENV, "s3cret-value")
    command = " ".join(spark_job(settings, tmp_path / "r.parquet", tmp_path / "v", "m").command())
    assert "spark.authenticate=true" in command
    assert "spark.network.crypto.enabled=true" in command
    assert "s3cret-value" not in command  # read from the environment by Spark itself
    plain = " ".join(
        spark_job(Settings(home=tmp_path), tmp_path / "r", tmp_path / "v", "m").command()
    )
    assert "spark.authenticate" not in plain
