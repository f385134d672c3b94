"""The Spark application's own planning (no Spark started here)."""

from __future__ import annotations

from pathlib import Path


def test_small_nights_stay_in_one_partition(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.embed.job import plan_partitions

    def requests(rows: int) -> str:
        path = tmp_path / f"r{rows}.parquet"
        pq.write_table(pa.table({"text": ["x"] * rows}), path)
        return str(path)

    assert plan_partitions(requests(64), wanted=4) == 1
    assert plan_partitions(requests(1200), wanted=4) == 3
    assert plan_partitions(requests(50_000), wanted=4) == 4
    assert plan_partitions(str(tmp_path / "elsewhere.parquet"), wanted=4) == 4
