"""One DAG task in a process of its own, killed with SIGKILL at a chosen point.

    python -m tests.crash.child TASK POINT RUN_DATE XCOMS_JSON OUT_JSON

Settings come from the environment (RECSYS_*). POINT is:
- `none`: run the task, write its return value to OUT_JSON;
- `start`: killed before the task does anything;
- `write`: killed at the first write boundary the task reaches: a DuckDB transaction's commit
  (killed just before it), a file renamed into place (before the rename), a Parquet file
  written (after the first one, or after the first batch of a streamed one), or the second dbt
  invocation of a stage (between them). Which one is written to OUT_JSON + ".point" first;
- `return`: killed after the task returned, before anything is reported.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any


def die(marker: Path, where: str) -> None:
    fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, where.encode())
    os.fsync(fd)
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)


def arm_write_boundaries(marker: Path) -> None:
    """Kill at the first write boundary any stage reaches."""
    import pyarrow.parquet as pq

    import pipeline.core.warehouse as warehouse

    original_transaction = warehouse.transaction

    @contextlib.contextmanager
    def transaction(con: Any) -> Iterator[Any]:
        with original_transaction(con) as inner:
            yield inner
            die(marker, "duckdb transaction, before its commit")

    original_replace = os.replace

    def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        die(marker, f"rename into place of {Path(dst).name}")
        original_replace(src, dst, *args, **kwargs)

    original_write_table = pq.write_table

    def write_table(*args: Any, **kwargs: Any) -> None:
        original_write_table(*args, **kwargs)
        where = args[1] if len(args) > 1 else kwargs.get("where")
        die(marker, f"after writing {Path(str(where)).name}, the first Parquet file")

    original_write_batch = pq.ParquetWriter.write_batch

    def write_batch(self: Any, *args: Any, **kwargs: Any) -> None:
        original_write_batch(self, *args, **kwargs)
        die(marker, "after the first batch of a streamed Parquet file")

    import pipeline.clean.dbt as dbt

    original_run_dbt = dbt.run_dbt
    calls = {"n": 0}

    def run_dbt(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            die(marker, "between the stage's two dbt builds")
        return original_run_dbt(*args, **kwargs)

    os.replace = replace
    pq.write_table = write_table
    pq.ParquetWriter.write_batch = write_batch
    for name, module in list(sys.modules.items()):
        if not name.startswith("pipeline"):
            continue
        for attr, patched, original in (
            ("transaction", transaction, original_transaction),
            ("run_dbt", run_dbt, original_run_dbt),
        ):
            if getattr(module, attr, None) is original:
                setattr(module, attr, patched)


def main(task_name: str, point: str, day: str, xcoms: str, out: str) -> None:
    from pipeline.core.config import Settings
    from tests.crash.night_tasks import TASKS

    marker = Path(out + ".point")
    if point == "start":
        die(marker, "at its start")
    task: Callable[..., dict] = TASKS[task_name]
    # import every module the task uses before arming, so the patches reach their names
    for module in (
        "pipeline.landing.ingest",
        "pipeline.clean.transform",
        "pipeline.embed.stage",
        "pipeline.train.stage",
        "pipeline.serve.recommend",
        "pipeline.serve.publish",
        "pipeline.privacy.forget",
    ):
        __import__(module)
    if point == "write":
        arm_write_boundaries(marker)
    result = task(Settings(), date.fromisoformat(day), json.loads(Path(xcoms).read_text()))
    if point == "return":
        die(marker, "after it returned, before reporting")
    Path(out).write_text(json.dumps(result, default=str))


if __name__ == "__main__":
    main(*sys.argv[1:6])
