"""Spark job: embed texts in partitions. Launched by `spark-submit` (see `pipeline/embed.py`).

    spark-submit [--master URL] embed_texts.py --input requests.parquet --output vectors/ \
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

import pyarrow as pa

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
    from pipeline.encoder import EncoderSpec, TextEncoder

    spec = EncoderSpec(**json.loads(spec_json))
    context = _task_context()
    gpus = context.resources().get("gpu") if context else None
    if gpus and gpus.addresses:
        spec = EncoderSpec(**{**spec.__dict__, "device": f"cuda:{gpus.addresses[0]}"})
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


def _task_context() -> Any:
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
) -> dict[str, list]:
    """Embed one batch of requests (column lists) into output columns."""
    vectors, errors = _encoder(spec_json).encode(columns["text"], progress=progress)
    return {
        "entity": columns["entity"],
        "id": columns["id"],
        "content_hash": columns["content_hash"],
        "model_id": [model_id] * len(errors),
        "embedding": [None if e else v.tolist() for v, e in zip(vectors, errors, strict=True)],
        "error": errors,
    }


def embed_arrow(spec_json: str, model_id: str, batches: Iterator[Any]) -> Iterator[Any]:
    for batch in batches:
        if batch.num_rows:
            out = embed_batch(spec_json, model_id, batch.to_pydict())
            yield pa.RecordBatch.from_pydict(out, schema=OUTPUT_ARROW_SCHEMA)


def embed_pandas(spec_json: str, model_id: str, frames: Iterator[Any]) -> Iterator[Any]:
    import pandas as pd

    for frame in frames:
        if len(frame):
            yield pd.DataFrame(
                embed_batch(spec_json, model_id, {c: frame[c].tolist() for c in frame})
            )


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

    spark = SparkSession.builder.appName("recsys-embed-texts").getOrCreate()
    try:
        requests = spark.read.parquet(args.input).select("entity", "id", "content_hash", "text")
        partitions = args.partitions or 2 * spark.sparkContext.defaultParallelism
        requests = requests.repartition(partitions)
        if args.udf == "arrow":
            vectors = requests.mapInArrow(
                partial(embed_arrow, args.spec, args.model_id), OUTPUT_SCHEMA
            )
        else:
            vectors = requests.mapInPandas(
                partial(embed_pandas, args.spec, args.model_id), OUTPUT_SCHEMA
            )
        vectors.write.mode("overwrite").parquet(args.output)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
