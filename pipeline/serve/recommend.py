"""`recsys recommend`: the champion scores every active user against the catalogue.

Three steps, so the scoring can run on a GPU worker that never opens the warehouse:
1. export (warehouse): tonight's marts and text vectors -> Parquet (the training export's format);
2. score (Parquet in, Parquet out; `scoring.py`): vector tables from the champion, chunked matrix
   products and a top-k per chunk (memory bounded by the chunk), seen items excluded, ties broken
   by item id; the explaining item; similar users from the social head. In this process, or, from
   RECSYS_RECOMMEND_LOCAL_MAX_PAIRS active users x items, as a Spark job over chunks of users
   (`score_job.py`) with the same rows;
3. write (warehouse): one transaction per run date replaces that date's rows and drops rows older
   than the retention window. A crash at any point leaves the previous state.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from pipeline.core import allocator, stopwatch
from pipeline.core.config import PROJECT_ROOT, Settings
from pipeline.core.errors import RecsysError
from pipeline.core.file_manifest import file_manifest
from pipeline.core.modes import Engine
from pipeline.core.warehouse import connect, ensure_schemas, transaction
from pipeline.embed.spark_submit import SparkJob, python_job, run_spark_job
from pipeline.learn.data.snapshot import Snapshot, export_snapshot
from pipeline.learn.ensemble.recommender import Recommender
from pipeline.serve.scoring import Scorer, night_counts, night_tables
from pipeline.train.registry import load_champion

log = logging.getLogger(__name__)

SCORE_JOB = PROJECT_ROOT / "pipeline" / "serve" / "score_job.py"

RECOMMENDATIONS_DDL = """
create table if not exists marts.recommendations (
    run_date date not null,
    user_id varchar not null,
    rank integer not null,
    item_id varchar not null,
    score double not null,
    model_version varchar not null,
    because_item_id varchar,
    primary key (run_date, user_id, rank)
)
"""
SIMILAR_USERS_DDL = """
create table if not exists marts.similar_users (
    run_date date not null,
    user_id varchar not null,
    rank integer not null,
    similar_user_id varchar not null,
    score double not null,
    primary key (run_date, user_id, rank)
)
"""


def score_dir(settings: Settings, run_date: date) -> Path:
    return settings.home / "score" / run_date.isoformat()


def export_scoring_data(settings: Settings, run_date: date) -> Path:
    """Step 1 (warehouse task)."""
    return export_snapshot(settings, run_date, score_dir(settings, run_date) / "input")


def score(
    bundle: Recommender,
    snapshot: Snapshot,
    top_n: int,
    *,
    chunk_size: int = 2048,
    rerank_by_rating: bool = False,
    progress: bool = True,
) -> tuple[pa.Table, pa.Table, dict[str, Any]]:
    """Step 2 in this process: (recommendations, similar users, counts) for every active user."""
    allocator.keep_freed_memory()  # each chunk's score blocks from kept memory
    scorer = Scorer.build(
        bundle, snapshot, top_n, chunk_size=chunk_size, rerank_by_rating=rerank_by_rating
    )
    bar = tqdm(total=len(scorer.active), desc="recommend", unit="user", disable=not progress)
    batches = []
    for index in range(scorer.chunks):
        batches.append(scorer.chunk(index))
        bar.update(min(chunk_size, len(scorer.active) - index * chunk_size))
    bar.close()
    recommendations, similar = night_tables(snapshot, batches)
    return recommendations, similar, night_counts(snapshot, top_n, recommendations, similar)


def choose_engine(settings: Settings, engine: Engine, pairs: int) -> str:
    """In-process below RECSYS_RECOMMEND_LOCAL_MAX_PAIRS active users x items (a Spark job's
    start-up costs more than it saves there), else the Spark job."""
    if engine == "auto":
        return "local" if pairs < settings.recommend.local_max_pairs else "spark"
    return engine


def score_night(
    settings: Settings,
    run_date: date,
    top_n: int,
    bundle: Recommender,
    folder: Path | None = None,
    *,
    engine: Engine = Engine.AUTO,
    submit: Callable[[SparkJob], None] | None = None,
) -> dict[str, Any]:
    """Step 2 from Parquet to Parquet (the part that may run on a GPU worker or on Spark)."""
    folder = folder or score_dir(settings, run_date)
    snapshot = Snapshot.load(folder / "input")
    active = snapshot.events["user"].nunique()
    chosen = choose_engine(settings, engine, active * len(snapshot.items))
    started = time.perf_counter()
    stopwatch.reset()
    if chosen == "local":
        recommendations, similar, counts = score(
            bundle,
            snapshot,
            top_n,
            chunk_size=settings.recommend.chunk_users,
            rerank_by_rating=settings.recommend.rerank_by_rating,
        )
    else:
        recommendations, similar = score_on_spark(settings, bundle, snapshot, folder, top_n, submit)
        counts = night_counts(snapshot, top_n, recommendations, similar)
    pq.write_table(recommendations, folder / "recommendations.parquet")
    pq.write_table(similar, folder / "similar_users.parquet")
    return {
        "engine": chosen,
        "score_seconds": round(time.perf_counter() - started, 2),
        # in-process only: item_item is the term's share (a Spark job's parts stay on its workers)
        "seconds_by_part": stopwatch.seconds_by_part(),
        **counts,
    }


def score_on_spark(
    settings: Settings,
    bundle: Recommender,
    snapshot: Snapshot,
    folder: Path,
    top_n: int,
    submit: Callable[[SparkJob], None] | None = None,
) -> tuple[pa.Table, pa.Table]:
    """The Spark job over chunks of active users; the champion's files and the night's input
    are read by the workers from the (shared) home. Its working files go when it ends."""
    if bundle.source is None:
        raise RecsysError("the Spark scoring job needs a champion loaded from its files")
    champion, output = folder / "champion", folder / "chunks"
    shutil.rmtree(champion, ignore_errors=True)
    shutil.rmtree(output, ignore_errors=True)
    shutil.copytree(bundle.source, champion)  # the registry's download may be a private temp dir
    chunk_size = settings.recommend.chunk_users
    active = snapshot.events["user"].nunique()
    spec = {
        "bundle": str(champion),
        # the workers check their copy against the verified files before loading it
        "bundle_files": file_manifest(champion),
        "input": str(folder / "input"),
        "top_n": top_n,
        "chunk_size": chunk_size,
        "rerank_by_rating": settings.recommend.rerank_by_rating,
    }
    args = ["--spec", json.dumps(spec), "--output", str(output)]
    args += ["--chunks", str(-(-active // chunk_size))]
    if settings.spark.partitions:
        args += ["--partitions", str(settings.spark.partitions)]
    job = python_job(settings, SCORE_JOB, args, folder)
    log.info("spark-submit --master %s (%s)", job.master, SCORE_JOB.name)
    try:
        run_spark_job(job, submit)
        recommendations, similar = night_tables(snapshot, [pq.read_table(output)])
    finally:  # the champion's copy (user vectors) stays no longer than the job
        shutil.rmtree(champion, ignore_errors=True)
        shutil.rmtree(output, ignore_errors=True)
    scored = len(set(similar["user_id"].to_pylist())) if len(snapshot.users) > 1 else active
    if scored != active:
        raise RecsysError(f"the Spark scoring job returned {scored} of {active} active users")
    return recommendations, similar


def write_night(
    settings: Settings, run_date: date, model_version: str, folder: Path | None = None
) -> dict[str, int]:
    """Step 3 (warehouse task): replace the run date's rows in one transaction."""
    folder = folder or score_dir(settings, run_date)
    recommendations = pq.read_table(folder / "recommendations.parquet")
    similar = pq.read_table(folder / "similar_users.parquet")
    oldest = run_date - timedelta(days=settings.recommend.retention_days)
    with connect(settings.warehouse_path) as con:
        ensure_schemas(con)
        con.execute(RECOMMENDATIONS_DDL)
        con.execute(SIMILAR_USERS_DDL)
        with transaction(con):
            con.register("new_recommendations", recommendations)
            con.register("new_similar", similar)
            con.execute(
                "delete from marts.recommendations where run_date = $day", {"day": run_date}
            )
            con.execute(
                """
                insert into marts.recommendations
                select $day, user_id, rank, item_id, score, $version, because_item_id
                from new_recommendations
                """,
                {"day": run_date, "version": model_version},
            )
            insert_similar_users(con, run_date)
            removed = con.execute(
                "delete from marts.recommendations where run_date < $oldest", {"oldest": oldest}
            ).fetchall()
            con.execute(
                "delete from marts.similar_users where run_date < $oldest", {"oldest": oldest}
            )
    return {
        "rows_written": recommendations.num_rows,
        "similar_rows_written": similar.num_rows,
        "rows_expired": int(removed[0][0]) if removed else 0,
    }


def insert_similar_users(con: Any, run_date: date) -> None:
    con.execute("delete from marts.similar_users where run_date = $day", {"day": run_date})
    con.execute(
        """
        insert into marts.similar_users
        select $day, user_id, rank, similar_user_id, score from new_similar
        """,
        {"day": run_date},
    )


def score_with_champion(
    settings: Settings,
    run_date: date,
    top_n: int | None = None,
    *,
    engine: Engine = Engine.AUTO,
    submit: Callable[[SparkJob], None] | None = None,
) -> dict[str, Any]:
    """Step 2 with the model: load `@champion`, score the exported night; counts and version.
    `submit` runs the Spark job (default: spark-submit; the DAG passes Airflow's hook)."""
    top_n = top_n or settings.top_n
    bundle, version = load_champion(settings)
    counts = score_night(settings, run_date, top_n, bundle, engine=engine, submit=submit)
    return {"model_version": str(version.version), "top_n": top_n, **counts}


def recommend(
    settings: Settings, run_date: date, top_n: int | None = None, *, engine: Engine = Engine.AUTO
) -> dict[str, Any]:
    """The whole stage: export, score with the champion (in-process or on Spark), write."""
    started = time.perf_counter()
    export_scoring_data(settings, run_date)
    scored = score_with_champion(settings, run_date, top_n, engine=engine)
    written = write_night(settings, run_date, scored["model_version"])
    return {
        "stage": "recommend",
        "run_date": run_date.isoformat(),
        "status": "ok",
        **scored,
        **written,
        "seconds": round(time.perf_counter() - started, 1),
    }
