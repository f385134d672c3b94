"""Submitting this package's Spark jobs (embedding, scoring): what `spark-submit` is given
(master, conf, GPU resources, arguments, environment), built once from Settings for the CLI and
for Airflow's operator alike.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.core.config import PROJECT_ROOT, Settings
from pipeline.core.errors import RecsysError
from pipeline.embed.encoder import encoder_spec

log = logging.getLogger(__name__)

JOB_SCRIPT = PROJECT_ROOT / "pipeline" / "embed" / "job.py"
SPARK_LOG_CONFIG = JOB_SCRIPT.parent / "log4j2.properties"
GPU_DISCOVERY_SCRIPT = JOB_SCRIPT.parent / "gpu_discovery.sh"


@dataclass(frozen=True)
class SparkJob:
    """One run of the embedding job: what `spark-submit` gets from the CLI, and what Airflow's
    SparkSubmitOperator gets in the DAG (which may take the master from a connection instead)."""

    master: str
    application: str
    conf: dict[str, str]
    application_args: list[str]
    env: dict[str, str]  # added to the submitting process's environment
    # a 0600 file holding spark.authenticate.secret: a standalone master's driver must have the
    # secret in its configuration, and a --conf flag would show it in the process list
    properties_file: str | None = None

    def command(self, spark_submit: str = "spark-submit") -> list[str]:
        command = [spark_submit, "--master", self.master]
        if self.properties_file:
            command += ["--properties-file", self.properties_file]
        for key, value in self.conf.items():
            command += ["--conf", f"{key}={value}"]
        return [*command, self.application, *self.application_args]


# Spark's own variable for the shared secret of spark.authenticate (SecurityManager reads it)
AUTH_SECRET_ENV = "_SPARK_AUTH_SECRET"


def spark_job(settings: Settings, requests: Path, output: Path, model_id: str) -> SparkJob:
    """The embedding job with the master and resources from Settings (GPU ones only when asked)."""
    spec = encoder_spec(settings, threads=settings.spark.torch_threads)
    args = [
        "--input", str(requests),
        "--output", str(output),
        "--spec", json.dumps(asdict(spec)),
        "--model-id", model_id,
        "--udf", settings.spark.udf,
    ]  # fmt: skip
    if settings.spark.partitions:
        args += ["--partitions", str(settings.spark.partitions)]
    conf = {
        "spark.sql.execution.arrow.maxRecordsPerBatch": "2048",
        "spark.executorEnv.HF_HUB_OFFLINE": "1",
        "spark.executorEnv.TRANSFORMERS_OFFLINE": "1",
        "spark.executorEnv.TOKENIZERS_PARALLELISM": "false",
    }
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return python_job(settings, JOB_SCRIPT, args, output.parent, conf=conf, env=env)


def python_job(
    settings: Settings,
    application: Path,
    args: list[str],
    work: Path,
    *,
    conf: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
) -> SparkJob:
    """A PySpark application of this package (the embedding or the scoring job): the master,
    memory, GPU resources and authentication from Settings, this Python on driver and executors.
    `work` is the run's folder (the secret's properties file goes there)."""
    threads = str(settings.spark.torch_threads)
    conf = {
        "spark.driver.memory": settings.spark.driver_memory,
        "spark.executor.memory": settings.spark.executor_memory,
        "spark.python.worker.reuse": "true",  # keeps each worker's loaded model across tasks
        "spark.ui.showConsoleProgress": "true",
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{SPARK_LOG_CONFIG}",
        **(conf or {}),
        "spark.executorEnv.OMP_NUM_THREADS": threads,
    }
    if settings.spark.executor_gpus:
        conf["spark.executor.resource.gpu.amount"] = str(settings.spark.executor_gpus)
        conf["spark.task.resource.gpu.amount"] = str(settings.spark.task_gpus)
        script = settings.spark.gpu_discovery_script or GPU_DISCOVERY_SCRIPT
        conf["spark.executor.resource.gpu.discoveryScript"] = str(script)
    properties = None
    if settings.spark.authenticate:
        secret = os.environ.get(AUTH_SECRET_ENV)
        if not secret:
            raise RecsysError(
                f"RECSYS_SPARK_AUTHENTICATE is on but {AUTH_SECRET_ENV} is not set: give the "
                "driver the cluster's shared secret in the environment"
            )
        conf["spark.authenticate"] = "true"
        conf["spark.network.crypto.enabled"] = "true"
        work.mkdir(parents=True, exist_ok=True)
        properties = work / ".spark-auth.properties"
        fd = os.open(properties, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"spark.authenticate.secret={secret}\n")
    conf.update(settings.spark.conf)
    job_env = {
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])
        ),
        # spark-submit lives beside this Python: found even when the venv is not on PATH
        "PATH": os.pathsep.join(
            filter(None, [str(Path(sys.executable).parent), os.environ.get("PATH")])
        ),
        **(env or {}),
        "OMP_NUM_THREADS": threads,
    }
    if settings.spark.master.startswith("local"):
        job_env["SPARK_LOCAL_IP"] = os.environ.get("SPARK_LOCAL_IP", "127.0.0.1")  # no network
    return SparkJob(
        settings.spark.master,
        str(application),
        conf,
        args,
        job_env,
        str(properties) if properties else None,
    )


def _spark_submit() -> Path:
    beside_python = Path(sys.executable).parent / "spark-submit"
    found = beside_python if beside_python.exists() else shutil.which("spark-submit")
    if not found:
        raise RecsysError("spark-submit is not installed in this environment: run `make setup`")
    return Path(found)


def run_spark_job(job: SparkJob, submit: Callable[[SparkJob], None] | None = None) -> None:
    """`submit` the job (default: spark-submit here); the secret's properties file stays on disk
    no longer than the job, whatever happens."""
    try:
        (submit or submit_spark_job)(job)
    finally:
        if job.properties_file:
            Path(job.properties_file).unlink(missing_ok=True)


def submit_spark_job(job: SparkJob) -> None:
    """spark-submit in a subprocess, its output streamed to stderr; a failure names its cause."""
    tail: deque[str] = deque(maxlen=30)
    with subprocess.Popen(
        job.command(str(_spark_submit())),
        env={**os.environ, **job.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stderr.write(line)
            tail.append(line.rstrip())
    if process.returncode != 0:
        errors = [line for line in tail if "Error" in line or "Exception" in line] or list(tail)[
            -5:
        ]
        raise RecsysError(
            f"the Spark job {Path(job.application).name} failed (exit {process.returncode}): "
            f"{' | '.join(errors[-3:])}"
        )
