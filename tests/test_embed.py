"""The embed stage on a copy of the demo night: Spark and in-process engines, incremental reruns."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import Settings
from pipeline.embed import embed, encoder_spec, spark_submit_command, work_dir
from pipeline.encoder import TextEncoder
from pipeline.ingest import ingest
from pipeline.transform import transform
from pipeline.warehouse import connect
from tests.conftest import Night, write_csv


@pytest.fixture(scope="module")
def night_copy(demo_night: Night, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The shared night's warehouse in a home of this module's own (the night stays untouched)."""
    home = tmp_path_factory.mktemp("embed-home")
    shutil.copy(demo_night.settings.warehouse_path, home / "warehouse.duckdb")
    return Settings(home=home, landing=home / "drop")


def run_date(night: Night) -> date:
    return date.fromisoformat(night.manifest["run_date"])


def vectors(settings: Settings, model_id: str) -> dict[tuple[str, str], np.ndarray]:
    with connect(settings.warehouse_path, read_only=True) as con:
        rows = con.execute(
            "select entity, id, embedding from features.text_embeddings where model_id = ?",
            [model_id],
        ).fetchall()
    return {(e, i): np.asarray(v, dtype=np.float32) for e, i, v in rows}


def test_spark_first_then_nothing_then_one_changed_text(
    demo_night: Night, night_copy: Settings
) -> None:
    day = run_date(demo_night)
    first = embed(night_copy, day, engine="spark")
    assert first["engine"] == "spark"
    assert first["embedded"] > 100
    assert first["items_without_vector"] == 0
    (requests,) = demo_night.query("select count(*) from marts.embedding_requests")[0]
    assert first["requested"] == first["vectors_written"] == requests

    stored = vectors(night_copy, first["model_id"])
    assert len(stored) == requests
    assert all(v.shape == (384,) and abs(np.linalg.norm(v) - 1) < 1e-5 for v in stored.values())

    again = embed(night_copy, day)
    assert (again["engine"], again["embedded"], again["reused"]) == ("none", 0, requests)
    assert not (work_dir(night_copy, day) / "vectors").exists()  # no job ran, nothing was written

    # a new drop changes one user's profile: only that text is embedded, in-process
    write_csv(
        night_copy.landing_dir / "users" / "dt=2026-11-27" / "part-0.csv",
        "user_id,age,gender,occupation,profile_text\nu00003,33,f,artist,Now I only love chess endgames.\n",
    )
    ingest(night_copy)
    transform(night_copy.model_copy(update={"quarantine_threshold": 1.0}), day)
    changed = embed(night_copy, day)
    assert (changed["engine"], changed["embedded"]) == ("local", 1)
    assert changed["vectors_removed"] == changed["vectors_written"] == 1
    after = vectors(night_copy, first["model_id"])
    assert float(after[("user", "u00003")] @ stored.get(("user", "u00003"), np.zeros(384))) < 0.99


def test_both_engines_equal_direct_transformers_output(
    demo_night: Night, night_copy: Settings
) -> None:
    day = run_date(demo_night)
    model_id = encoder_spec(night_copy).model_id()
    from_spark = vectors(night_copy, model_id)
    local = embed(night_copy, day, engine="local", force=True)
    assert local["engine"] == "local"
    from_local = vectors(night_copy, model_id)
    assert from_local.keys() == from_spark.keys()

    with connect(night_copy.warehouse_path, read_only=True) as con:
        sample = con.execute(
            "select entity, id, text from marts.embedding_requests order by entity, id limit 40"
        ).fetchall()
    direct, _ = TextEncoder(encoder_spec(night_copy)).encode([t for _, _, t in sample])
    for (entity, id_, _), reference in zip(sample, direct, strict=True):
        assert float(from_local[(entity, id_)] @ reference) > 0.999
        assert float(from_spark[(entity, id_)] @ reference) > 0.999


def test_tiny_decoder_embeds_through_the_spark_job(
    demo_night: Night, tiny_decoder: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(demo_night.settings.warehouse_path, home / "warehouse.duckdb")
    settings = Settings(home=home, embed_model=str(tiny_decoder), spark_partitions=2)
    summary = embed(settings, run_date(demo_night), engine="spark")
    assert summary["engine"] == "spark"
    assert ":last_token" in summary["model_id"]
    stored = vectors(settings, summary["model_id"])
    assert {v.shape for v in stored.values()} == {(32,)}

    with connect(home / "warehouse.duckdb", read_only=True) as con:
        sample = con.execute(
            "select entity, id, text from marts.embedding_requests limit 5"
        ).fetchall()
    direct, _ = TextEncoder(encoder_spec(settings)).encode([t for _, _, t in sample])
    for (entity, id_, _), reference in zip(sample, direct, strict=True):
        assert float(stored[(entity, id_)] @ reference) > 0.999


def test_gpu_settings_reach_spark_submit_only_when_asked(tmp_path: Path) -> None:
    requests, output = tmp_path / "r.parquet", tmp_path / "v"
    cpu = " ".join(spark_submit_command(Settings(home=tmp_path), requests, output, "m"))
    assert "--master local[*]" in cpu
    assert "resource.gpu" not in cpu
    gpu_settings = Settings(
        home=tmp_path,
        spark_master="spark://spark-master:7077",
        spark_executor_gpus=1,
        spark_task_gpus=0.5,
        spark_gpu_discovery_script=tmp_path / "getGpus.sh",
    )
    gpu = " ".join(spark_submit_command(gpu_settings, requests, output, "m"))
    assert "--master spark://spark-master:7077" in gpu
    assert "spark.executor.resource.gpu.amount=1" in gpu
    assert "spark.task.resource.gpu.amount=0.5" in gpu
    assert f"spark.executor.resource.gpu.discoveryScript={tmp_path / 'getGpus.sh'}" in gpu
