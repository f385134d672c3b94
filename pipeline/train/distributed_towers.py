"""Where a night's towers train: in the task's process, or, for a night of at least
RECSYS_TRAIN_DISTRIBUTED_MIN_EVENTS events with RECSYS_TRAIN_DISTRIBUTED_PROCESSES > 1,
as a data-parallel job on the Spark master (`learn/ensemble/distributed.py`), submitted like the
embedding and scoring jobs (the CLI's spark-submit, or Airflow's SparkSubmitHook)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

from pipeline.core.config import PROJECT_ROOT, Settings
from pipeline.core.errors import RecsysError
from pipeline.embed.spark_submit import SparkJob, python_job, run_spark_job
from pipeline.learn.data.snapshot import Snapshot, snapshot_dir
from pipeline.learn.ensemble.distributed import SparkTowerLoop
from pipeline.learn.ensemble.fit import TowersOf, local_towers

log = logging.getLogger(__name__)

TOWERS_JOB = PROJECT_ROOT / "pipeline" / "learn" / "ensemble" / "towers_job.py"


def towers_job(settings: Settings, job: Path, output: Path, work: Path) -> SparkJob:
    """The job with the master, memory, GPU resources and authentication from Settings: one
    process per task slot, on GPU executors where RECSYS_SPARK_EXECUTOR_GPUS is set."""
    args = ["--job", str(job), "--output", str(output)]
    args += ["--processes", str(settings.train.distributed_processes)]
    if settings.spark.executor_gpus:
        args.append("--gpu")
    job = python_job(settings, TOWERS_JOB, args, work)
    if settings.spark.executor_gpus:
        # one GPU per rank: TorchDistributor reads the task's amount as an integer and starts
        # one torchrun process per GPU a task holds (each would write rank 0's output)
        job = replace(job, conf={**job.conf, "spark.task.resource.gpu.amount": "1"})
    return job


def towers_of(
    settings: Settings, snapshot: Snapshot, submit: Callable[[SparkJob], None] | None = None
) -> TowersOf:
    """The towers' loop of tonight's fits: distributed when the settings ask for it and the
    night is large enough, else in this process."""
    processes = settings.train.distributed_processes
    events = len(snapshot.events)  # the night's: each fit trains on most of them
    if processes <= 1:
        return local_towers
    if events < settings.train.distributed_min_events:
        log.info(
            "train: %s events < RECSYS_TRAIN_DISTRIBUTED_MIN_EVENTS (%s): the towers train in "
            "this process",
            *(f"{events:,}", f"{settings.train.distributed_min_events:,}"),
        )
        return local_towers
    smallest = min(settings.train.batch_size, settings.train.history_batch)
    if processes > smallest:
        raise RecsysError(
            f"RECSYS_TRAIN_DISTRIBUTED_PROCESSES={processes} is more than a step's rows can "
            f"share (RECSYS_TRAIN_BATCH_SIZE / RECSYS_TRAIN_HISTORY_BATCH: {smallest})"
        )
    work = snapshot_dir(settings, snapshot.run_date) / "towers"

    def submit_towers(job: Path, output: Path) -> None:
        run_spark_job(towers_job(settings, job, output, work), submit)

    log.info(
        "train: %s events: the towers train as %d processes on %s",
        *(f"{events:,}", processes, settings.spark.master),
    )
    return partial(SparkTowerLoop, work=work, submit=submit_towers, snapshot=snapshot)
