"""A Spark standalone cluster on 127.0.0.1 (a master and one worker, started from the pyspark
package as the docker deployment starts them) with `spark.authenticate` and RPC encryption:
the embedding job, submitted with the shared secret (from Spark's own variable, handed to the
driver in a 0600 properties file, never on its command line), embeds the same vectors as the
in-process path."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.core.config import Settings
from pipeline.embed.encoder import encoder_spec
from pipeline.embed.spark_submit import AUTH_SECRET_ENV
from pipeline.embed.stage import run_embedding, work_dir
from tests.processes import start_spark_standalone, stop_group

pytestmark = pytest.mark.slow

DAY = date(2026, 11, 27)
AUTH_OPTS = "-Dspark.authenticate=true -Dspark.network.crypto.enabled=true"


@dataclass
class Cluster:
    master: str
    secret: str
    logs: Path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("spark-cluster")
    secret = secrets.token_hex(16)
    env = {
        **os.environ,
        "SPARK_MASTER_OPTS": AUTH_OPTS,
        "SPARK_WORKER_OPTS": AUTH_OPTS,
        AUTH_SECRET_ENV: secret,
        "PYSPARK_PYTHON": sys.executable,
    }
    master, _, processes = start_spark_standalone(root, env)
    try:
        yield Cluster(master, secret, root)
    finally:
        for process in reversed(processes):
            stop_group(process)


def write_requests(settings: Settings) -> None:
    texts = [f"a short text about {w}" for w in ("telescopes", "sourdough", "jazz", "chess")]
    folder = work_dir(settings, DAY)
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table(
            {
                "entity": ["item"] * len(texts),
                "id": [f"i{i}" for i in range(len(texts))],
                "content_hash": [f"h{i}" for i in range(len(texts))],
                "text": texts,
            }
        ),
        folder / "requests.parquet",
    )


def stored(settings: Settings) -> dict[str, np.ndarray]:
    table = pq.read_table(work_dir(settings, DAY) / "vectors")
    return {
        i: np.asarray(v, np.float32)
        for i, v in zip(table["id"].to_pylist(), table["embedding"].to_pylist(), strict=True)
    }


def test_the_job_runs_on_the_authenticated_cluster_and_equals_the_local_path(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spark = {"master": cluster.master, "authenticate": True, "executor_memory": "1g"}
    on_cluster = Settings(home=tmp_path / "cluster", spark=spark)
    local = Settings(home=tmp_path / "local")
    for settings in (on_cluster, local):
        write_requests(settings)
    model_id = encoder_spec(local).model_id()
    monkeypatch.setenv(AUTH_SECRET_ENV, cluster.secret)
    monkeypatch.setenv("SPARK_LOCAL_IP", "127.0.0.1")  # the executors call the driver back here

    job = run_embedding(on_cluster, DAY, model_id, engine="spark")
    run_embedding(local, DAY, model_id, engine="local")

    assert job["engine"] == "spark" and job["failed"] == 0
    a, b = stored(on_cluster), stored(local)
    assert a.keys() == b.keys() and len(a) == 4
    for key in a:
        assert float(a[key] @ b[key]) > 0.9999
