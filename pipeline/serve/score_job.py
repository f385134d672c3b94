"""Spark job: the champion scores the night's active users, chunk by chunk, over the cluster.
Launched by `spark-submit` (see `pipeline/serve/recommend.py`, `run_scoring`).

    spark-submit [--master URL] pipeline/serve/score_job.py --input score/<day>/input \
        --bundle score/<day>/champion --output score/<day>/chunks --chunks K --spec '{...}'

The job's rows are the chunks' indices (0..K-1, `spark.range`). Each Python worker builds the
`Scorer` once (the champion's bundle and the night's snapshot, read from the shared home; a
module-level cache that Spark's reused Python workers keep across tasks) and scores its chunks:
the same users per chunk as the in-process path, so the same rows. Output Parquet: `scoring.
CHUNK_SCHEMA` (row indices); the task turns it into the two tables. A task that Spark gave a GPU
scores on that device.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

OUTPUT_SCHEMA = "kind string, user bigint, rank int, item bigint, score double, because bigint"
_SCORERS: dict[str, Any] = {}  # one per Python worker process and job


def _scorer(spec_json: str) -> Any:
    from pipeline.core import allocator
    from pipeline.core.errors import RecsysError
    from pipeline.core.file_manifest import differences
    from pipeline.embed.job import cuda_device, task_context
    from pipeline.learn.data.snapshot import Snapshot
    from pipeline.learn.ensemble.bundle import load_bundle
    from pipeline.serve.scoring import Scorer

    if spec_json not in _SCORERS:
        spec = json.loads(spec_json)
        started = time.perf_counter()
        changed = differences(spec["bundle_files"], Path(spec["bundle"]))
        if changed:  # the driver verified the files it copied: this copy is not them
            raise RecsysError(
                f"the champion's copy {spec['bundle']} changed after the scoring task verified "
                f"it ({'; '.join(changed[:5])}); nothing was scored: rerun the recommend task"
            )
        context = task_context()
        gpus = context.resources().get("gpu") if context else None
        device = cuda_device(gpus.addresses[0]) if gpus and gpus.addresses else "cpu"
        _SCORERS.clear()  # one job's scorer at a time: a reused worker never holds two nights
        allocator.keep_freed_memory()  # as the in-process engine scores
        _SCORERS[spec_json] = Scorer.build(
            load_bundle(Path(spec["bundle"]), device),
            Snapshot.load(Path(spec["input"])),
            spec["top_n"],
            chunk_size=spec["chunk_size"],
            rerank_by_rating=spec["rerank_by_rating"],
        )
        print(
            f"[score worker] champion and night loaded in {time.perf_counter() - started:.1f}s "
            f"on {device}",
            file=sys.stderr,
            flush=True,
        )
    return _SCORERS[spec_json]


def score_arrow(spec_json: str, batches: Iterator[Any]) -> Iterator[Any]:
    """mapInArrow: chunk indices in, the chunks' rows out."""
    for batch in batches:
        for index in batch.column(0).to_pylist():
            yield _scorer(spec_json).chunk(index)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="bundle, input, top_n, chunk_size, ...")
    parser.add_argument("--output", required=True)
    parser.add_argument("--chunks", type=int, required=True)
    parser.add_argument("--partitions", type=int, default=0)
    args = parser.parse_args(argv)

    from functools import partial

    from pyspark.sql import SparkSession

    # Taken from the installed module (not this __main__), the function pickles by reference:
    # each Python worker imports it once and keeps its scorer (as in the embedding job).
    from pipeline.serve import score_job

    spark = SparkSession.builder.appName("recsys-score-users").getOrCreate()
    try:
        partitions = args.partitions or 2 * spark.sparkContext.defaultParallelism
        chunks = spark.range(0, args.chunks, numPartitions=max(1, min(partitions, args.chunks)))
        rows = chunks.mapInArrow(partial(score_job.score_arrow, args.spec), OUTPUT_SCHEMA)
        rows.write.mode("overwrite").parquet(args.output)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
