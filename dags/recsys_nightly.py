"""recsys_nightly: the whole night as an Airflow DAG, wiring only; each task calls the same stage
function as the `recsys` CLI and returns its small summary.

claim_night (setup: the run date check, the night lock) -> ingest -> transform -> embed_export ->
embed_texts (Spark) -> embed_load -> retrain? -> train_export -> train_model (Spark for a large
night's towers) -> recommend_export -> recommend_score (Spark) -> recommend_write -> publish ->
release_night (teardown: runs whether the night succeeded or failed)

Tasks that open the DuckDB file run in the one-slot `warehouse` pool; the embedding job, training
and scoring read and write Parquet only and run on the `gpu` queue. Every task works under the
run's night lock (`pipeline/orchestration/night_lease.py`): nothing else writes the home between
two of its tasks. The run for day D starts after D has ended (a data-interval timetable); its run
date is D, or the `run_date` param.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import (
    DAG,
    Asset,
    CronDataIntervalTimetable,
    Param,
    chain,
    get_current_context,
    task,
)

from pipeline.core.config import Settings
from pipeline.orchestration.callbacks import on_task_failure
from pipeline.orchestration.context import NightParams, from_context
from pipeline.orchestration.spark import (
    EmbedTextsOperator,
    ScoreUsersOperator,
    TrainModelOperator,
)

settings = Settings()
WAREHOUSE = {"pool": settings.airflow.warehouse_pool}
GPU = {
    "queue": settings.airflow.gpu_queue,
    "execution_timeout": timedelta(minutes=settings.airflow.gpu_task_timeout_minutes),
}
# Updated once the night's rows are written and the published copy holds them: a consumer
# reads the read-only copy at once, never waiting on the nightly writer's lock.
RECOMMENDATIONS = Asset(
    name="marts.recommendations",
    uri=f"duckdb://{settings.warehouse_path}/marts/recommendations",
    group="recsys",
)


def night() -> NightParams:
    """This task's run date, settings and params."""
    return from_context(get_current_context())


with DAG(
    dag_id="recsys_nightly",
    description="Landing files -> clean marts -> text embeddings -> multi-task model -> top-N",
    schedule=CronDataIntervalTimetable(settings.airflow.schedule, timezone="UTC"),
    start_date=datetime.combine(settings.airflow.start_date, datetime.min.time(), UTC),
    catchup=False,
    max_active_runs=1,
    tags=["recsys"],
    default_args={
        "retries": settings.airflow.retries,
        "retry_delay": timedelta(seconds=settings.airflow.retry_delay_s),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(seconds=settings.airflow.max_retry_delay_s),
        "execution_timeout": timedelta(minutes=settings.airflow.task_timeout_minutes),
        "on_failure_callback": on_task_failure,
    },
    params={
        "run_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Run date",
            description="Day to process (YYYY-MM-DD); empty: the run's logical date.",
        ),
        "landing": Param(
            None,
            type=["null", "string"],
            title="Landing folder",
            description="Folder of landing files; empty: $RECSYS_HOME/landing.",
        ),
        "top_n": Param(
            settings.top_n,
            type="integer",
            minimum=1,
            maximum=1000,
            title="Top N",
            description="Recommendations per active user.",
        ),
        "force_reembed": Param(
            False, type="boolean", description="Embed every text again, ignoring stored vectors."
        ),
        "retrain": Param(
            True, type="boolean", description="Train tonight; off: recommend with the champion."
        ),
        "backfill": Param(
            False,
            type="boolean",
            description="Process a date before the newest published night on purpose "
            "(an Airflow backfill run needs no param).",
        ),
    },
    doc_md=__doc__,
) as dag:

    @task(**WAREHOUSE)
    def claim_night() -> dict[str, Any]:
        """The run takes the night lock for all its tasks, after checking its run date and that
        no erasure is half-done."""
        from pipeline.night import check_night_may_run

        n = night()
        with n.lock():
            check_night_may_run(n.settings, n.run_date, backfill=n.backfill)
        return n.summary()

    @task
    def release_night() -> dict[str, Any]:
        """Teardown: the run's lease ends, whether the night succeeded or failed."""
        from pipeline.orchestration.night_lease import end_lease, run_owner

        return end_lease(settings, run_owner(get_current_context()))

    @task(**WAREHOUSE)
    def ingest() -> dict[str, Any]:
        from pipeline.landing.ingest import ingest

        n = night()
        with n.lock():
            return ingest(n.settings, n.run_date)

    @task(**WAREHOUSE)
    def transform() -> dict[str, Any]:
        from pipeline.clean.transform import transform

        n = night()
        with n.lock():
            return transform(n.settings, n.run_date)

    @task(**WAREHOUSE)
    def embed_export() -> dict[str, Any]:
        from pipeline.embed.stage import embed_export

        n = night()
        with n.lock():
            return embed_export(n.settings, n.run_date, force=n.force_reembed)

    embed_texts = EmbedTextsOperator(task_id="embed_texts", conn_id=settings.spark.conn_id, **GPU)

    @task(**WAREHOUSE)
    def embed_load(exported: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
        from pipeline.embed.stage import embed_load

        n = night()
        with n.lock():
            return embed_load(n.settings, n.run_date, exported, job)

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def retrain() -> bool:
        return night().retrain

    @task(**WAREHOUSE)
    def train_export() -> dict[str, Any]:
        from pipeline.train.stage import export_training_data

        n = night()
        with n.lock():
            return export_training_data(n.settings, n.run_date)

    train_model = TrainModelOperator(task_id="train_model", conn_id=settings.spark.conn_id, **GPU)

    @task(trigger_rule="none_failed", **WAREHOUSE)
    def recommend_export() -> dict[str, Any]:
        from pipeline.serve.recommend import export_scoring_data

        n = night()
        with n.lock():
            return {"folder": str(export_scoring_data(n.settings, n.run_date))}

    recommend_score = ScoreUsersOperator(
        task_id="recommend_score", conn_id=settings.spark.conn_id, **GPU
    )

    @task(**WAREHOUSE)
    def recommend_write(scored: dict[str, Any]) -> dict[str, Any]:
        from pipeline.serve.recommend import write_night

        n = night()
        with n.lock():
            return {**scored, **write_night(n.settings, n.run_date, scored["model_version"])}

    @task(outlets=[RECOMMENDATIONS], **WAREHOUSE)
    def publish() -> dict[str, Any]:
        from pipeline.serve.publish import publish

        n = night()
        with n.lock(last=True):
            return publish(n.settings, n.run_date)

    claimed = claim_night().as_setup()
    exported = embed_export()
    loaded = embed_load(exported, embed_texts.output)
    chain(claimed, ingest(), transform(), exported, embed_texts)
    scoring = recommend_export()
    chain(loaded, retrain(), train_export(), train_model, scoring)
    loaded >> scoring  # also when training is skipped
    scoring >> recommend_score
    (
        recommend_write(recommend_score.output)
        >> publish()
        >> release_night().as_teardown(setups=claimed)
    )
