"""The Spark application that trains the towers data-parallel (`distributed.py`):
TorchDistributor starts one torchrun rank per process as a barrier stage on the cluster's
executors; rank 0's result is written to --output.

spark-submit towers_job.py --job J --output O --processes N [--gpu]
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", required=True, help="the loop's inputs (distributed.TowersJob)")
    parser.add_argument("--output", required=True, help="where rank 0's TowersResult goes")
    parser.add_argument("--processes", type=int, required=True)
    parser.add_argument("--gpu", action="store_true", help="one GPU per process (nccl)")
    args = parser.parse_args(argv)

    import torch
    from pyspark.ml.torch.distributor import TorchDistributor
    from pyspark.sql import SparkSession

    # taken from the installed module (not this __main__): pickled by reference, not by value
    from pipeline.learn.ensemble import distributed

    spark = SparkSession.builder.appName("recsys-train-towers").getOrCreate()
    try:
        result = TorchDistributor(
            num_processes=args.processes, local_mode=False, use_gpu=args.gpu
        ).run(distributed.train_rank, args.job)
        if result is None:
            raise RuntimeError("rank 0 of the distributed training returned nothing")
        torch.save(result, args.output)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
