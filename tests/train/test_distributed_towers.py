"""Where a night's towers train: in the task's process, or as the data-parallel Spark job."""

from __future__ import annotations

from datetime import date
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.learn.ensemble.distributed import SparkTowerLoop
from pipeline.learn.ensemble.fit import local_towers
from pipeline.train.distributed_towers import towers_job, towers_of

NIGHT = SimpleNamespace(events=range(5000), run_date=date(2026, 11, 27))


def settings(tmp_path: Path, **train: int) -> Settings:
    return Settings(home=tmp_path, train=train, spark={"master": "spark://head:7077"})


def test_a_night_trains_in_its_process_unless_asked_and_large_enough(tmp_path: Path) -> None:
    assert towers_of(settings(tmp_path), NIGHT) is local_towers  # type: ignore[arg-type]
    asked = settings(tmp_path, distributed_processes=2, distributed_min_events=5001)
    assert towers_of(asked, NIGHT) is local_towers  # type: ignore[arg-type]
    large = settings(tmp_path, distributed_processes=2, distributed_min_events=5000)
    towers = towers_of(large, NIGHT)  # type: ignore[arg-type]
    assert isinstance(towers, partial) and towers.func is SparkTowerLoop
    assert towers.keywords["work"] == tmp_path / "train" / "2026-11-27" / "towers"


def test_more_processes_than_a_step_has_rows_are_refused(tmp_path: Path) -> None:
    many = settings(tmp_path, distributed_processes=9, distributed_min_events=0, batch_size=8)
    with pytest.raises(RecsysError, match="DISTRIBUTED_PROCESSES=9 is more than a step"):
        towers_of(many, NIGHT)  # type: ignore[arg-type]


def test_the_job_asks_one_gpu_per_rank_on_gpu_executors(tmp_path: Path) -> None:
    cpu = towers_job(settings(tmp_path, distributed_processes=4), Path("j"), Path("o"), tmp_path)
    assert cpu.master == "spark://head:7077" and "--gpu" not in cpu.application_args
    assert cpu.application_args[-2:] == ["--processes", "4"]
    assert cpu.application.endswith("pipeline/learn/ensemble/towers_job.py")
    gpus = Settings(
        home=tmp_path,
        train={"distributed_processes": 4},
        spark={"master": "spark://head:7077", "executor_gpus": 2, "task_gpus": 2.0},
    )
    gpu = towers_job(gpus, Path("j"), Path("o"), tmp_path)
    assert gpu.application_args[-1] == "--gpu"
    assert gpu.conf["spark.task.resource.gpu.amount"] == "1"  # an integer, one per rank
    assert gpu.conf["spark.executor.resource.gpu.amount"] == "2"
