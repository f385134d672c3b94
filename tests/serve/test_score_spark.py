"""The Spark scoring job (local mode, two cores) against the in-process path: the same rows."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from pipeline.core.config import Settings
from pipeline.core.run_date import resolve_run_date
from pipeline.learn.data.snapshot import Snapshot
from pipeline.serve.recommend import (
    choose_engine,
    export_scoring_data,
    load_champion,
    score,
    score_dir,
    score_with_champion,
)
from tests.conftest import Night
from tests.serve.test_recommend import copy_home

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scored_both_ways(
    trained_night: Night, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Settings, dict, dict, dict]:
    """One exported night scored in-process and on Spark, small chunks so that several chunks
    and partitions (and reused Python workers) take part."""
    base = copy_home(trained_night, tmp_path_factory.mktemp("score-spark") / "home")
    settings = base.model_copy(
        update={
            "recommend": base.recommend.model_copy(update={"chunk_users": 37}),
            "spark": base.spark.model_copy(update={"master": "local[2]", "partitions": 3}),
        }
    )
    day = resolve_run_date(settings)
    export_scoring_data(settings, day)
    folder = score_dir(settings, day)
    local = score_with_champion(settings, day, engine="local")
    tables = {
        name: pq.read_table(folder / f"{name}.parquet")
        for name in ("recommendations", "similar_users")
    }
    spark = score_with_champion(settings, day, engine="spark")
    return settings, local, spark, tables


def test_spark_scores_the_same_rows_as_the_process(scored_both_ways: tuple) -> None:
    settings, local, spark, local_tables = scored_both_ways
    folder = score_dir(settings, resolve_run_date(settings))
    assert (local["engine"], spark["engine"]) == ("local", "spark")
    assert local["active_users"] > 37 * 3  # more chunks than partitions
    for name, table in local_tables.items():
        on_spark = pq.read_table(folder / f"{name}.parquet")
        assert on_spark.num_rows == table.num_rows > 0
        assert on_spark.equals(table), name  # row for row, scores to the bit
    timing = {"score_seconds", "engine", "seconds_by_part"}
    assert {k: v for k, v in spark.items() if k not in timing} == {
        k: v for k, v in local.items() if k not in timing
    }


def test_the_spark_job_leaves_no_copy_of_the_champion(scored_both_ways: tuple) -> None:
    settings, *_ = scored_both_ways
    folder = score_dir(settings, resolve_run_date(settings))
    assert sorted(p.name for p in folder.iterdir()) == [
        "input",
        "recommendations.parquet",
        "similar_users.parquet",
    ]


def test_reranking_by_rating_orders_each_list_by_rating_times_probability(
    scored_both_ways: tuple,
) -> None:
    settings, *_ = scored_both_ways
    bundle, _ = load_champion(settings)
    snapshot = Snapshot.load(score_dir(settings, resolve_run_date(settings)) / "input")
    threads = torch.get_num_threads()
    plain, *_ = score(bundle, snapshot, 10, progress=False)
    reranked, *_ = score(bundle, snapshot, 10, rerank_by_rating=True, progress=False)
    assert torch.get_num_threads() == threads  # the rating head ran on one thread, then back
    assert reranked.num_rows == plain.num_rows
    lists = reranked.to_pandas()
    assert lists.groupby("user_id")["score"].apply(lambda s: s.is_monotonic_decreasing).all()
    assert lists["score"].between(0, 5).all()  # an expected rating (0.5-5) x a probability
    assert not lists.equals(plain.to_pandas())


def test_auto_scores_small_nights_in_process(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    limit = settings.recommend.local_max_pairs
    assert choose_engine(settings, "auto", limit - 1) == "local"
    assert choose_engine(settings, "auto", limit) == "spark"
    assert choose_engine(settings, "spark", 10) == "spark"
    assert choose_engine(settings, "local", 10 * limit) == "local"
