"""Spark job: embed texts in partitions. Launched by `spark-submit` (see `pipeline/embed/spark_submit.py`).

    spark-submit [--master URL] pipeline/embed/job.py --input requests.parquet --output vectors/ \
        --spec '{"model_path": ...}' [--partitions N] [--udf arrow|pandas]

Input Parquet: `entity, id, content_hash, text`. Output Parquet: `entity, id, content_hash,
model_id, embedding` (array<float>, L2-normalised) and `error` (why a text got no vector).

Each Python worker loads the model once (a module-level cache; Spark reuses Python workers across
tasks) and embeds its partition's Arrow batches with the same `TextEncoder` as the in-process
engine. A task that Spark gave a GPU (spark.task.resource.gpu.amount) runs on that device.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa

INPUT_SCHEMA = "entity string, id string, content_hash string, text string"
OUTPUT_SCHEMA = (
    "entity string, id string, content_hash string, model_id string, "
    "embedding array<float>, error string"
)
OUTPUT_ARROW_SCHEMA = pa.schema(
    [
        ("entity", pa.string()),
        ("id", pa.string()),
        ("content_hash", pa.string()),
        ("model_id", pa.string()),
        ("embedding", pa.list_(pa.float32())),
        ("error", pa.string()),
    ]
)
_ENCODERS: dict[str, Any] = {}  # one per Python worker process and spec


def _encoder(spec_json: str) -> Any:
    """The worker's encoder, loaded on first use; on a GPU task, bound to Spark's GPU address."""
    from pipeline.embed.encoder import EncoderSpec, TextEncoder

    spec = EncoderSpec(**json.loads(spec_json))
    context = task_context()
    gpus = context.resources().get("gpu") if context else None
    if gpus and gpus.addresses and spec.device != "cpu":
        spec = EncoderSpec(**{**spec.__dict__, "device": cuda_device(gpus.addresses[0])})
    key = json.dumps(spec.__dict__, sort_keys=True)
    if key not in _ENCODERS:
        started = time.perf_counter()
        _ENCODERS[key] = TextEncoder(spec)
        print(
            f"[embed worker] model loaded in {time.perf_counter() - started:.1f}s "
            f"on {_ENCODERS[key].device}",
            file=sys.stderr,
            flush=True,
        )
    return _ENCODERS[key]


def cuda_device(address: str) -> str:
    """The torch device for a GPU address Spark assigned (from gpu_discovery.sh: an ordinal
    among this process's visible devices); anything else falls back to the default GPU."""
    return f"cuda:{int(address)}" if address.strip().isdigit() else "cuda"


def task_context() -> Any:
    """Spark's TaskContext inside a task; None in-process (and without importing pyspark)."""
    if "pyspark" not in sys.modules:
        return None
    from pyspark import TaskContext

    return TaskContext.get()


def embed_batch(
    spec_json: str,
    model_id: str,
    columns: dict[str, list],
    progress: Callable[[int], None] | None = None,
) -> pa.RecordBatch:
    """Embed one batch of requests (column lists) into an output record batch."""
    vectors, errors = _encoder(spec_json).encode(columns["text"], progress=progress)
    rows, dim = vectors.shape
    offsets = pa.array(np.arange(0, (rows + 1) * dim, dim, dtype=np.int32))
    failed = pa.array([e is not None for e in errors], pa.bool_())
    embedding = pa.ListArray.from_arrays(offsets, pa.array(vectors.reshape(-1)), mask=failed)
    return pa.RecordBatch.from_arrays(
        [
            pa.array(columns["entity"], pa.string()),
            pa.array(columns["id"], pa.string()),
            pa.array(columns["content_hash"], pa.string()),
            pa.array([model_id] * rows, pa.string()),
            embedding,
            pa.array(errors, pa.string()),
        ],
        schema=OUTPUT_ARROW_SCHEMA,
    )


def embed_arrow(spec_json: str, model_id: str, batches: Iterator[Any]) -> Iterator[Any]:
    for batch in batches:
        if batch.num_rows:
            yield embed_batch(spec_json, model_id, batch.to_pydict())


def embed_pandas(spec_json: str, model_id: str, frames: Iterator[Any]) -> Iterator[Any]:
    for frame in frames:
        if len(frame):
            columns = {c: frame[c].tolist() for c in frame}
            yield embed_batch(spec_json, model_id, columns).to_pandas()


MIN_TEXTS_PER_PARTITION = 500  # below this a task's model load costs more than it shares


def plan_partitions(path: str, wanted: int) -> int:
    """`wanted` partitions, fewer when there are too few texts to keep each task busy."""
    try:
        import pyarrow.parquet as pq

        rows = pq.read_metadata(path).num_rows
    except (OSError, ValueError):  # not a local file (object storage): trust the setting
        return wanted
    return max(1, min(wanted, -(-rows // MIN_TEXTS_PER_PARTITION)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--spec", required=True, help="EncoderSpec as JSON")
    parser.add_argument("--model-id", required=True)
    parser.add_argument("--partitions", type=int, default=0)
    parser.add_argument("--udf", choices=["arrow", "pandas"], default="arrow")
    args = parser.parse_args(argv)

    from functools import partial

    from pyspark.sql import SparkSession

    # This file runs as __main__, whose functions Spark would pickle by value: every task would
    # then get a fresh, empty model cache. Taken from the installed module instead, they pickle
    # by reference, so each Python worker imports the module once and keeps its model.
    from pipeline.embed import job

    spark = SparkSession.builder.appName("recsys-embed-texts").getOrCreate()
    try:
        # a known schema: no Spark job just to read the file's footer
        requests = spark.read.schema(INPUT_SCHEMA).parquet(args.input)
        # an explicit --partitions (RECSYS_SPARK_PARTITIONS) is taken as it is
        partitions = args.partitions or plan_partitions(
            args.input, 2 * spark.sparkContext.defaultParallelism
        )
        if partitions > 1:  # a small night stays in one task: one worker, one model load
            requests = requests.repartition(partitions)
        if args.udf == "arrow":
            vectors = requests.mapInArrow(
                partial(job.embed_arrow, args.spec, args.model_id), OUTPUT_SCHEMA
            )
        else:
            vectors = requests.mapInPandas(
                partial(job.embed_pandas, args.spec, args.model_id), OUTPUT_SCHEMA
            )
        vectors.write.mode("overwrite").parquet(args.output)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
