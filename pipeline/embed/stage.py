"""Embed: new or changed texts -> vectors in `features.text_embeddings`, incrementally.

Three steps, so that Airflow can run the middle one on a GPU worker:

1. `export_requests` (warehouse): requests whose (content_hash, model_id) has no vector and no
   recorded skip yet -> `$RECSYS_HOME/embeddings/<run_date>/requests.parquet`, one row per text.
2. `run_embedding` (no warehouse): the Spark job via spark-submit, or the same `TextEncoder`
   in-process for small increments -> `vectors/*.parquet`. Nothing to embed: nothing starts.
3. `load_vectors` (warehouse): vectors merged into `features.text_embeddings`, one row per
   (entity, id, model_id); a changed text replaces that id's vector; rows of texts that no longer
   exist are removed; texts the model could not embed are recorded in `features.embedding_skips`
   with the reason, so they are not requested again by the same `model_id` (a new model, revision
   or precision asks for them again).

Failures: a text that fails on its own is such a skip. A device fault (out of memory, a CUDA
error) fails the job at once (`encoder.py`), and a run where more texts failed than
`RECSYS_EMBED_MAX_FAILED_TEXTS` and `..._SHARE` allow fails step 2 (`check_failures`) before
anything is recorded, so the task's retry embeds those texts again.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from tqdm import tqdm

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.modes import Engine
from pipeline.core.warehouse import connect, ensure_schemas, table_exists, transaction
from pipeline.embed.encoder import encoder_spec
from pipeline.embed.spark_submit import JOB_SCRIPT, SparkJob, run_spark_job, spark_job

log = logging.getLogger(__name__)


EMBEDDINGS_DDL = """
create table if not exists features.text_embeddings (
    entity varchar not null,
    id varchar not null,
    model_id varchar not null,
    content_hash varchar not null,
    dim integer not null,
    embedding float[] not null,
    primary key (entity, id, model_id)
)
"""
SKIPS_DDL = """
create table if not exists features.embedding_skips (
    content_hash varchar not null,
    model_id varchar not null,
    reason varchar not null,
    primary key (content_hash, model_id)
)
"""


def work_dir(settings: Settings, run_date: date) -> Path:
    return settings.home / "embeddings" / run_date.isoformat()


def export_requests(
    settings: Settings, run_date: date, model_id: str, *, force: bool = False
) -> dict[str, Any]:
    """Write the texts that need the model to Parquet; count what is reused and skipped."""
    folder = work_dir(settings, run_date)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "requests.parquet"
    with connect(settings.warehouse_path) as con:
        if not table_exists(con, "marts", "embedding_requests"):
            raise RecsysError("marts.embedding_requests is missing: run `recsys transform` first")
        ensure_schemas(con)
        con.execute(EMBEDDINGS_DDL)
        con.execute(SKIPS_DDL)
        con.execute(
            """
            create or replace temp table request_status as
            select
                r.entity, r.id, r.text, r.content_hash,
                not $force and exists (
                    select 1 from features.text_embeddings e
                    where e.content_hash = r.content_hash and e.model_id = $model_id
                ) as has_vector,
                not $force and exists (
                    select 1 from features.embedding_skips s
                    where s.content_hash = r.content_hash and s.model_id = $model_id
                ) as was_skipped,
            from marts.embedding_requests r
            """,
            {"force": force, "model_id": model_id},
        )
        requested, reused, skipped = con.execute(
            "select count(*), count_if(has_vector), count_if(was_skipped and not has_vector) "
            "from request_status"
        ).fetchall()[0]
        todo = con.sql(
            """
            select first_request.entity, first_request.id, content_hash, text
            from (
                -- one row per distinct text, named after its first request
                select
                    min({'entity': entity, 'id': id}) as first_request,
                    content_hash,
                    any_value(text) as text,
                from request_status
                where not has_vector and not was_skipped
                group by content_hash
            )
            order by content_hash
            """
        ).to_arrow_table()
    pq.write_table(todo, path)
    return {
        "requested": requested,
        "reused": reused,
        "skipped": skipped,
        "to_embed": todo.num_rows,
        "requests_path": str(path),
    }


def choose_engine(settings: Settings, engine: Engine, texts: int) -> str:
    if texts == 0:
        return "none"
    if engine == "auto":
        return "local" if texts < settings.embed.local_max_texts else "spark"
    return engine


def run_embedding(
    settings: Settings,
    run_date: date,
    model_id: str,
    *,
    engine: Engine = Engine.AUTO,
    submit: Callable[[SparkJob], None] | None = None,
) -> dict[str, Any]:
    """Step 2: embed the exported texts with the chosen engine; never opens the warehouse.

    `submit` runs a Spark job (default: spark-submit in a subprocess; the DAG passes Airflow's
    SparkSubmitHook)."""
    folder = work_dir(settings, run_date)
    requests = folder / "requests.parquet"
    output = folder / "vectors"
    texts = pq.read_metadata(requests).num_rows if requests.exists() else 0
    chosen = choose_engine(settings, engine, texts)
    shutil.rmtree(output, ignore_errors=True)
    if chosen == "none":
        return {"engine": "none", "texts": 0, "seconds": 0.0, "texts_per_s": None}
    started = time.perf_counter()
    if chosen == "local":
        _embed_locally(settings, requests, output, model_id)
    else:
        job = spark_job(settings, requests, output, model_id)
        log.info("spark-submit --master %s (%s)", job.master, JOB_SCRIPT.name)
        run_spark_job(job, submit)
    seconds = time.perf_counter() - started
    failed = check_failures(settings, output, texts)
    log.info("embedded %d texts with %s in %.1fs (%d failed)", texts, chosen, seconds, failed)
    return {
        "engine": chosen,
        "texts": texts,
        "failed": failed,
        "seconds": round(seconds, 2),
        "texts_per_s": round(texts / seconds, 1),
    }


def check_failures(settings: Settings, output: Path, texts: int) -> int:
    """The number of texts the job could not embed; raise (and drop the job's output, so that
    nothing of it is loaded) where they are more than RECSYS_EMBED_MAX_FAILED_TEXTS and than
    RECSYS_EMBED_MAX_FAILED_SHARE of the run: a broken device or job, not bad texts. The task
    then fails, and its retry embeds every one of them again."""
    files = sorted(output.glob("*.parquet")) if output.is_dir() else []
    if not files:
        return 0
    errors = [e for e in pq.read_table(files, columns=["error"])["error"].to_pylist() if e]
    cfg = settings.embed
    if len(errors) > max(cfg.max_failed_texts, cfg.max_failed_share * texts):
        shutil.rmtree(output, ignore_errors=True)
        raise RecsysError(
            f"{len(errors)} of {texts} texts failed to embed (first: {errors[0]}): more than "
            f"RECSYS_EMBED_MAX_FAILED_TEXTS ({cfg.max_failed_texts}) and "
            f"RECSYS_EMBED_MAX_FAILED_SHARE ({cfg.max_failed_share:.1%}) allow, which points at "
            "the device or the job rather than the texts: nothing was recorded, and a retry "
            "embeds them again"
        )
    return len(errors)


LOCAL_CHUNK = 8192  # texts per in-process chunk: bounded memory on a big --engine local run


def _embed_locally(settings: Settings, requests: Path, output: Path, model_id: str) -> None:
    """The Spark job's own batch function, run in this process: the same vectors, no start-up."""
    from pipeline.embed.job import OUTPUT_ARROW_SCHEMA, embed_batch

    source = pq.ParquetFile(requests)
    spec_json = json.dumps(asdict(encoder_spec(settings)))
    output.mkdir(parents=True)
    with (
        tqdm(
            total=source.metadata.num_rows, desc="embed (local)", unit="text", disable=None
        ) as bar,
        pq.ParquetWriter(output / "part-local.parquet", OUTPUT_ARROW_SCHEMA) as writer,
    ):
        for batch in source.iter_batches(batch_size=LOCAL_CHUNK):
            writer.write_batch(
                embed_batch(spec_json, model_id, batch.to_pydict(), progress=bar.update)
            )


def load_vectors(settings: Settings, run_date: date, model_id: str) -> dict[str, Any]:
    """Merge the job's vectors into features.text_embeddings for every request that can use them."""
    output = work_dir(settings, run_date) / "vectors"
    files = sorted(output.glob("*.parquet")) if output.is_dir() else []
    table = pq.read_table(files) if files else None
    with connect(settings.warehouse_path) as con, transaction(con):
        con.execute(EMBEDDINGS_DDL)
        con.execute(SKIPS_DDL)
        embedded = new_skips = 0
        if table is not None and table.num_rows:
            con.register("job_output", table)
            bad = con.execute(
                "select count(*) from job_output where model_id <> ?", [model_id]
            ).fetchall()[0][0]  # type: ignore[index]
            if bad:
                raise RecsysError(
                    f"the job's output holds vectors of another model than {model_id}"
                )
            con.execute(
                """
                create or replace temp table new_vectors as
                select content_hash, any_value(embedding) as embedding
                from job_output where error is null group by content_hash
                """
            )
            embedded = con.execute("select count(*) from new_vectors").fetchall()[0][0]  # type: ignore[index]
            new_skips = con.execute(
                """
                insert or replace into features.embedding_skips
                select content_hash, ?, any_value(error) from job_output
                where error is not null group by content_hash
                """,
                [model_id],
            ).fetchall()[0][0]  # type: ignore[index]
            con.unregister("job_output")
        else:
            con.execute(
                "create or replace temp table new_vectors (content_hash varchar, embedding float[])"
            )
        con.execute(
            """
            create or replace temp table available as
            select content_hash, embedding from new_vectors
            union all by name
            select content_hash, any_value(embedding) as embedding
            from features.text_embeddings
            where model_id = $model_id and content_hash not in (select content_hash from new_vectors)
            group by content_hash
            """,
            {"model_id": model_id},
        )
        # every request whose text has a vector gets exactly that vector; others lose theirs
        con.execute(
            """
            create or replace temp table wanted as
            select r.entity, r.id, $model_id as model_id, r.content_hash,
                   len(a.embedding)::integer as dim, a.embedding
            from marts.embedding_requests r join available a using (content_hash)
            """,
            {"model_id": model_id},
        )
        # a row goes when its text changed or vanished, or when its text was just re-embedded
        (served,) = con.execute(
            "select count(*) from wanted where content_hash in (select content_hash from new_vectors)"
        ).fetchall()[0]
        removed = con.execute(
            """
            delete from features.text_embeddings e
            where model_id = $model_id and (
                e.content_hash in (select content_hash from new_vectors)
                or not exists (
                    select 1 from wanted w
                    where w.entity = e.entity and w.id = e.id and w.content_hash = e.content_hash
                )
            )
            """,
            {"model_id": model_id},
        ).fetchall()[0][0]  # type: ignore[index]
        added = con.execute(
            """
            insert into features.text_embeddings
            select * from wanted w where not exists (
                select 1 from features.text_embeddings e
                where e.entity = w.entity and e.id = w.id and e.model_id = w.model_id
            )
            """
        ).fetchall()[0][0]  # type: ignore[index]
        items_without = con.execute(
            """
            select count(*) from marts.dim_items i where not exists (
                select 1 from features.text_embeddings e
                where e.entity = 'item' and e.id = i.item_id and e.model_id = ?
            )
            """,
            [model_id],
        ).fetchall()[0][0]  # type: ignore[index]
    if items_without:
        log.warning("%d items have no text vector (see features.embedding_skips)", items_without)
    return {
        "embedded": embedded,
        "embedded_requests": served,
        "newly_skipped": new_skips,
        "vectors_written": added,
        "vectors_removed": removed,
        "items_without_vector": items_without,
    }


def embed_export(settings: Settings, run_date: date, *, force: bool = False) -> dict[str, Any]:
    """Step 1 (warehouse task): the texts without a vector -> Parquet; names the model."""
    model_id = encoder_spec(settings).model_id()
    return {"model_id": model_id, **export_requests(settings, run_date, model_id, force=force)}


def embed_load(
    settings: Settings, run_date: date, exported: dict[str, Any], job: dict[str, Any]
) -> dict[str, Any]:
    """Step 3 (warehouse task): load the job's vectors; the stage summary of all three steps."""
    model_id = exported["model_id"]
    loaded = load_vectors(settings, run_date, model_id)
    return {
        "stage": "embed",
        "run_date": run_date.isoformat(),
        "status": "ok",
        "model_id": model_id,
        "engine": job["engine"],
        "requested": exported["requested"],
        "embedded": loaded["embedded"],  # distinct texts through the model
        "embedded_requests": loaded["embedded_requests"],  # request rows they serve
        "reused": exported["reused"],
        "skipped": exported["skipped"] + loaded["newly_skipped"],
        "texts_per_s": job["texts_per_s"],
        "seconds": job["seconds"],
        "vectors_written": loaded["vectors_written"],
        "vectors_removed": loaded["vectors_removed"],
        "items_without_vector": loaded["items_without_vector"],
    }


def embed(
    settings: Settings, run_date: date, *, engine: Engine = Engine.AUTO, force: bool = False
) -> dict[str, Any]:
    """export -> embed (Spark or in-process) -> load; return the stage summary."""
    exported = embed_export(settings, run_date, force=force)
    job = run_embedding(settings, run_date, exported["model_id"], engine=engine)
    return embed_load(settings, run_date, exported, job)
