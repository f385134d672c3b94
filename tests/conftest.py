"""Shared fixtures: one small demo night per test session, built with the real stages."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipeline.clean.transform import transform
from pipeline.core.allocator import keep_freed_memory
from pipeline.core.config import Settings
from pipeline.core.run_date import resolve_run_date
from pipeline.core.train_settings import TrainSettings
from pipeline.landing.demo_data import generate
from pipeline.landing.ingest import ingest
from pipeline.orchestration.home import airflow_env

# Airflow reads its configuration once, when first imported: point it at a home of this test
# session's own before any test imports it (never the developer's ~/airflow).
AIRFLOW_ROOT = Path(tempfile.mkdtemp(prefix="recsys-test-airflow-"))
for _key, _value in airflow_env(Settings(home=AIRFLOW_ROOT), base={}).items():
    if _key.startswith("AIRFLOW"):
        os.environ[_key] = _value

# Tests write landing files by hand and ingest them at once: no settle window (a real writer's
# file could be unfinished). tests/landing/test_ingest_settle.py checks the window itself.
os.environ["RECSYS_LANDING_SETTLE_SECONDS"] = "0"

# Tests' nights train a few epochs (theirs and their `recsys` subprocesses'): they check what a
# night does, not how good its model gets. tests/evaluate/test_quality.py trains with the
# defaults, since quality is what it checks; a test may set its own.
QUICK_TRAIN = {"RECSYS_TRAIN_MAX_EPOCHS": "6", "RECSYS_TRAIN_PATIENCE": "2"}
for _key, _value in QUICK_TRAIN.items():
    os.environ.setdefault(_key, _value)
# Tests that fit models in this process (not through `recsys train`) get the stages' malloc
# setting too: the same code paths, and large tensors without fresh pages.
keep_freed_memory()
# the settings' defaults, for a test whose night must train as a real one does
NIGHTLY_EPOCHS = {
    name: TrainSettings.model_fields[name].default for name in ("max_epochs", "patience")
}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(AIRFLOW_ROOT, ignore_errors=True)


DEMO_SCALE = 0.1  # ~200 users, ~8k events: every planted kind present, the night in seconds


@dataclass
class Night:
    settings: Settings
    manifest: dict[str, Any]
    ingest_summary: dict[str, Any]
    transform_summary: dict[str, Any]

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        con = duckdb.connect(str(self.settings.warehouse_path), read_only=True)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()


@pytest.fixture(scope="session")
def demo_night(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Night]:
    """demo-data -> ingest -> transform on a small demo shop, once for the whole session."""
    home = tmp_path_factory.mktemp("night")
    settings = Settings(home=home)
    generate(settings.landing_dir, seed=7, scale=DEMO_SCALE)
    manifest = json.loads((settings.landing_dir / "manifest.json").read_text())
    run_date = resolve_run_date(settings)
    night = Night(
        settings=settings,
        manifest=manifest,
        ingest_summary=ingest(settings, run_date),
        transform_summary=transform(settings, run_date),
    )
    yield night


@pytest.fixture
def home(tmp_path: Path) -> Settings:
    """Settings for an empty pipeline home of the test's own."""
    return Settings(home=tmp_path / "home")


def write_csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_decoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama-style decoder with a word-level tokenizer, built offline from a config."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-decoder")
    words = [
        "the",
        "a",
        "of",
        "and",
        "to",
        "in",
        "sourdough",
        "bread",
        "baking",
        "oven",
        "telescope",
        "galaxy",
        "stars",
        "jazz",
        "music",
    ]
    vocab = {w: i for i, w in enumerate(["<unk>", "<pad>", "<s>", "</s>", *words])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
    )
    tokenizer.save_pretrained(folder)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=64,
        pad_token_id=1,
    )
    import torch

    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def embedded_night(demo_night: Night, tmp_path_factory: pytest.TempPathFactory) -> Night:
    """The demo night after `embed` (in-process), in a home of its own: train and later stages
    start from here. Tests that train copy it first (`night_home`), so MLflow starts empty."""
    import shutil

    from pipeline.embed.stage import embed

    home = tmp_path_factory.mktemp("embedded")
    shutil.copy(demo_night.settings.warehouse_path, home / "warehouse.duckdb")
    settings = Settings(home=home, landing=demo_night.settings.landing_dir)
    embed(settings, resolve_run_date(settings), engine="local")
    return Night(
        settings, demo_night.manifest, demo_night.ingest_summary, demo_night.transform_summary
    )


def night_home(night: Night, dest: Path, **overrides: Any) -> Settings:
    """A fresh home holding a copy of `night`'s warehouse (and its landing), for one test."""
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(night.settings.warehouse_path, dest / "warehouse.duckdb")
    return Settings(home=dest, landing=night.settings.landing_dir, **overrides)


@pytest.fixture(scope="session")
def trained_night(embedded_night: Night, tmp_path_factory: pytest.TempPathFactory) -> Night:
    """The embedded demo night after `train`: a `recsys_mtl@champion` in its own MLflow."""
    from pipeline.train.stage import train

    settings = night_home(embedded_night, tmp_path_factory.mktemp("trained"))
    summary = train(settings, resolve_run_date(settings))
    assert summary["alias"] == "champion", summary
    return Night(settings, embedded_night.manifest, embedded_night.ingest_summary, summary)
