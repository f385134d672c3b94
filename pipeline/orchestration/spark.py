"""The Spark steps as Airflow tasks (embedding texts, training, scoring users): Airflow's
SparkSubmitOperator, told what to run by the same stage functions as the CLI.

The master comes from the Airflow connection (`spark_default`) when it exists, else from
`RECSYS_SPARK_MASTER`; so one machine needs no connection, and a cluster is one connection (or
one environment variable) away. A small increment is embedded in-process and an empty one
starts nothing, exactly as `recsys embed --engine auto` does; a night with fewer active users x
items than RECSYS_RECOMMEND_LOCAL_MAX_PAIRS is scored in the task's process.
"""

from __future__ import annotations

import json
import logging
import os
from abc import abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from airflow.exceptions import AirflowNotFoundException
from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

from pipeline.embed.encoder import encoder_spec
from pipeline.embed.spark_submit import SparkJob
from pipeline.embed.stage import run_embedding
from pipeline.orchestration.context import NightParams, from_context

log = logging.getLogger(__name__)


def connection_exists(conn_id: str) -> bool:
    try:
        SparkSubmitHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return False
    return True


def connection_master(conn_id: str) -> str | None:
    """The master Airflow's hook resolves from `conn_id`, or None when there is no such
    connection."""
    if not connection_exists(conn_id):
        return None
    return SparkSubmitHook(conn_id=conn_id)._connection["master"]


FALLBACK_CONN_ID = "recsys_spark_master"


class NightSparkOperator(SparkSubmitOperator):
    """A stage step that may submit one of this package's Spark jobs: `run` decides (and may
    run the step in-process instead); `submit` hands a job to Airflow's SparkSubmitHook, on the
    master of the Spark connection."""

    def __init__(self, **kwargs: Any) -> None:
        # the step clears its output before each submission: a retry must submit again, never
        # resume an earlier submission whose output is gone
        kwargs.setdefault("durable", False)
        super().__init__(application="", **kwargs)

    @abstractmethod  # Airflow's operator metaclass is an ABCMeta: this class cannot be built
    def run(self, night: NightParams, submit: Callable[[SparkJob], None]) -> dict[str, Any]:
        """The step, which calls `submit` for any Spark job it runs; returns its summary."""

    def execute(self, context: Any) -> dict[str, Any]:  # type: ignore[override]
        night = from_context(context)
        conn_id = self._conn_id
        # the job (its environment included) is built for the master it will really run on
        master = connection_master(conn_id)
        if master:
            spark = night.settings.spark.model_copy(update={"master": master})
            night = replace(night, settings=night.settings.model_copy(update={"spark": spark}))

        def submit(job: SparkJob) -> None:
            self.application = job.application
            self.application_args = job.application_args
            self.conf = job.conf
            self.env_vars = job.env
            self.properties_file = job.properties_file
            self._hook = None  # the hook is built for this job
            with master_connection(conn_id, job.master) as used:
                self._conn_id = used
                try:
                    super(NightSparkOperator, self).execute(context)
                finally:
                    self._conn_id = conn_id

        with night.lock():
            return self.run(night, submit)


class EmbedTextsOperator(NightSparkOperator):
    """Step 2 of `embed`: vectors for the exported texts; returns the job's summary."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("name", "recsys-embed-texts")
        super().__init__(**kwargs)

    def run(self, night: NightParams, submit: Callable[[SparkJob], None]) -> dict[str, Any]:
        model_id = encoder_spec(night.settings).model_id()
        return run_embedding(night.settings, night.run_date, model_id, submit=submit)


class ScoreUsersOperator(NightSparkOperator):
    """Step 2 of `recommend`: the champion scores the exported night, in-process below
    RECSYS_RECOMMEND_LOCAL_MAX_PAIRS active users x items, else as the Spark scoring job."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("name", "recsys-score-users")
        super().__init__(**kwargs)

    def run(self, night: NightParams, submit: Callable[[SparkJob], None]) -> dict[str, Any]:
        from pipeline.serve.recommend import score_with_champion

        return score_with_champion(night.settings, night.run_date, night.top_n, submit=submit)


@contextmanager
def master_connection(conn_id: str, fallback_master: str) -> Iterator[str]:
    """`conn_id` when Airflow has it; else a connection to `fallback_master`, defined for this
    task process only (an AIRFLOW_CONN_* variable), so the hook resolves it as any other."""
    if connection_exists(conn_id):
        yield conn_id
        return
    log.info(
        "no Airflow connection %r: Spark master %s (RECSYS_SPARK_MASTER)", conn_id, fallback_master
    )
    key = f"AIRFLOW_CONN_{FALLBACK_CONN_ID.upper()}"
    before = os.environ.get(key)
    os.environ[key] = json.dumps({"conn_type": "spark", "host": fallback_master})
    try:
        yield FALLBACK_CONN_ID
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


class TrainModelOperator(NightSparkOperator):
    """`train_model`: fit, judge, log and gate in the task's process; the towers of a night of
    at least RECSYS_TRAIN_DISTRIBUTED_MIN_EVENTS events (with RECSYS_TRAIN_DISTRIBUTED_PROCESSES
    > 1) train as the data-parallel Spark job."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("name", "recsys-train-towers")
        super().__init__(**kwargs)

    def run(self, night: NightParams, submit: Callable[[SparkJob], None]) -> dict[str, Any]:
        from pipeline.train.stage import train_model

        return train_model(night.settings, night.run_date, submit=submit)
