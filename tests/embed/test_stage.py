"""The embed stage on a copy of the demo night: Spark and in-process engines, incremental reruns."""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from pipeline.clean.transform import transform
from pipeline.core.config import Settings
from pipeline.core.warehouse import connect
from pipeline.embed.encoder import TextEncoder, encoder_spec
from pipeline.embed.stage import embed, work_dir
from pipeline.landing.ingest import ingest
from tests.conftest import Night, night_home, write_csv


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


@pytest.fixture(scope="module")
def spark_night(
    demo_night: Night, night_copy: Settings
) -> tuple[dict, dict[tuple[str, str], np.ndarray]]:
    """The first night's embed, through Spark; its summary and the vectors it stored."""
    summary = embed(night_copy, run_date(demo_night), engine="spark")
    return summary, vectors(night_copy, summary["model_id"])


def test_first_night_through_spark_embeds_every_text_once(
    demo_night: Night, spark_night: tuple[dict, dict]
) -> None:
    summary, stored = spark_night
    (requests, texts) = demo_night.query(
        "select count(*), count(distinct content_hash) from marts.embedding_requests"
    )[0]
    assert summary["engine"] == "spark"
    assert (summary["requested"], summary["embedded"]) == (requests, texts)
    assert summary["embedded_requests"] == summary["vectors_written"] == requests
    assert summary["items_without_vector"] == 0
    assert len(stored) == requests
    assert all(v.shape == (384,) and abs(np.linalg.norm(v) - 1) < 1e-5 for v in stored.values())


def test_spark_loads_the_model_once_per_python_worker(
    demo_night: Night, tmp_path: Path, capfd
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(demo_night.settings.warehouse_path, home / "warehouse.duckdb")
    settings = Settings(home=home, spark={"partitions": 6})  # more tasks than workers
    embed(settings, run_date(demo_night), engine="spark")
    loads = capfd.readouterr().err.count("[embed worker] model loaded")
    assert 1 <= loads <= (os.cpu_count() or 1)


def test_unchanged_night_starts_nothing_and_one_changed_text_embeds_one(
    demo_night: Night, night_copy: Settings, spark_night: tuple[dict, dict], monkeypatch
) -> None:
    import pipeline.embed.stage as stage

    first, stored = spark_night
    day = run_date(demo_night)

    def must_not_run(*args: object) -> None:
        raise AssertionError("no embedding engine may start when nothing changed")

    with monkeypatch.context() as patch:
        patch.setattr(stage, "run_spark_job", must_not_run)
        patch.setattr(stage, "_embed_locally", must_not_run)
        again = embed(night_copy, day)
    assert (again["engine"], again["embedded"], again["reused"]) == ("none", 0, first["requested"])
    assert again["vectors_written"] == again["vectors_removed"] == 0

    # a new drop changes one user's profile: only that text is embedded, in-process
    assert ("user", "u00003") in stored
    write_csv(
        night_copy.landing_dir / "users" / "dt=2026-11-27" / "part-0.csv",
        "user_id,age,gender,occupation,profile_text\nu00003,33,f,artist,Now I only love chess endgames.\n",
    )
    ingest(night_copy)
    transform(night_copy.model_copy(update={"quarantine_threshold": 1.0}), day)
    with monkeypatch.context() as patch:
        patch.setattr(stage, "run_spark_job", must_not_run)
        changed = embed(night_copy, day)
    assert (changed["engine"], changed["embedded"]) == ("local", 1)
    assert changed["vectors_removed"] == changed["vectors_written"] == 1
    after = vectors(night_copy, first["model_id"])
    assert float(after[("user", "u00003")] @ stored[("user", "u00003")]) < 0.99


def test_both_engines_equal_sentence_transformers_output(
    demo_night: Night, spark_night: tuple[dict, dict], tmp_path: Path
) -> None:
    from sentence_transformers import SentenceTransformer

    _, from_spark = spark_night
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(demo_night.settings.warehouse_path, home / "warehouse.duckdb")
    settings = Settings(home=home)
    local = embed(settings, run_date(demo_night), engine="local")
    assert local["engine"] == "local"
    from_local = vectors(settings, local["model_id"])
    assert from_local.keys() == from_spark.keys()

    sample = demo_night.query(
        "select entity, id, text from marts.embedding_requests order by entity, id limit 60"
    )
    model = SentenceTransformer(encoder_spec(settings).model_path, device="cpu")
    direct = model.encode([t for _, _, t in sample], normalize_embeddings=True)
    for (entity, id_, _), reference in zip(sample, direct, strict=True):
        assert float(from_local[(entity, id_)] @ reference) > 0.999
        assert float(from_spark[(entity, id_)] @ reference) > 0.999


def test_tiny_decoder_embeds_through_the_spark_job(
    demo_night: Night, tiny_decoder: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(demo_night.settings.warehouse_path, home / "warehouse.duckdb")
    settings = Settings(home=home, embed={"model": str(tiny_decoder)}, spark={"partitions": 2})
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


def test_a_text_the_model_cannot_embed_is_skipped_once_with_its_reason(
    demo_night: Night, tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.embed.stage import export_requests, load_vectors

    settings = night_home(demo_night, tmp_path / "home")
    day = run_date(demo_night)
    first = export_requests(settings, day, "m1")
    requests = pq.read_table(first["requests_path"]).slice(0, 1).to_pydict()
    # the job's output for that text: no vector, and why (as the job writes it)
    output = work_dir(settings, day) / "vectors"
    output.mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                **requests,
                "model_id": ["m1"],
                "embedding": pa.array([None], pa.list_(pa.float32())),
                "error": ["RuntimeError: boom"],
            }
        ).drop_columns(["text"]),
        output / "part-0.parquet",
    )
    loaded = load_vectors(settings, day, "m1")
    assert (loaded["embedded"], loaded["newly_skipped"]) == (0, 1)
    again = export_requests(settings, day, "m1")
    assert again["to_embed"] == first["to_embed"] - 1
    assert again["skipped"] >= 1
    # another model (or revision, or precision: all in the model_id) asks for the text again
    assert export_requests(settings, day, "m2")["to_embed"] == first["to_embed"]
    with connect(settings.warehouse_path, read_only=True) as con:
        assert con.execute("select reason from features.embedding_skips").fetchall() == [
            ("RuntimeError: boom",)
        ]


def test_a_run_where_too_many_texts_fail_records_nothing_and_its_retry_asks_again(
    demo_night: Night, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broken device that fails every text without saying so (simulated: no GPU here)."""
    from pipeline.core.errors import RecsysError
    from pipeline.embed.stage import embed_export, run_embedding

    settings = night_home(demo_night, tmp_path / "home")
    day = run_date(demo_night)
    first = embed_export(settings, day)
    assert first["to_embed"] > settings.embed.max_failed_texts

    def broken(self: TextEncoder, features: dict) -> np.ndarray:
        raise RuntimeError("the kernel returned garbage")

    monkeypatch.setattr(TextEncoder, "_encode_batch", broken)
    with pytest.raises(RecsysError, match=r"texts failed to embed .*RECSYS_EMBED_MAX_FAILED"):
        run_embedding(settings, day, first["model_id"], engine="local")
    assert not (work_dir(settings, day) / "vectors").exists()  # nothing left to load
    again = embed_export(settings, day)
    assert (again["to_embed"], again["skipped"]) == (first["to_embed"], first["skipped"])
