"""What the model must show on the demo world, judged on the holdout like every night.

A mid-sized demo night (scale 0.5: ~1,000 users, ~40k events, ~45 new items) so that "random new
items" is a real yardstick: on the tiny session night, ten random picks cover almost every new item.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.clean.transform import transform
from pipeline.core.config import Settings
from pipeline.core.run_date import resolve_run_date
from pipeline.embed.stage import embed
from pipeline.evaluate.baseline_exam import CONTENT_HALF_LIVES
from pipeline.evaluate.baseline_registry import baseline_metrics
from pipeline.evaluate.exam import Exam, model_metrics
from pipeline.evaluate.split import temporal_split, validation_split
from pipeline.landing.demo_data import generate
from pipeline.landing.ingest import ingest
from pipeline.learn.data.snapshot import Snapshot, export_snapshot
from pipeline.learn.ensemble.fit import Fitted, Trainer
from pipeline.learn.towers.train_config import TrainConfig
from tests.conftest import NIGHTLY_EPOCHS


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Snapshot, Fitted, Exam, dict]:
    home = tmp_path_factory.mktemp("quality")
    settings = Settings(home=home, train=NIGHTLY_EPOCHS)  # quality: the nights' own epochs
    generate(settings.landing_dir, seed=3, scale=0.5)
    day = resolve_run_date(settings)
    ingest(settings, day)
    transform(settings, day)
    embed(settings, day, engine="local")
    snapshot = Snapshot.load(export_snapshot(settings, day))
    cfg = TrainConfig.from_settings(settings, progress=False)
    split = temporal_split(snapshot, settings.holdout_days, seed=cfg.seed)
    tuning = validation_split(split, settings.holdout_days)
    fitted = Trainer(snapshot, cfg).fit(
        tuning.train, split.friends_train, validation=tuning.holdout
    )
    exam = Exam.build(snapshot, split, settings.holdout_days, cfg.seed)
    tuning_exam = Exam.build(snapshot, tuning, settings.holdout_days, cfg.seed)
    metrics = model_metrics(fitted, snapshot, split, exam)
    metrics.update(
        baseline_metrics(snapshot, split, exam, seed=cfg.seed, tuning=(tuning, tuning_exam))
    )
    return snapshot, fitted, exam, metrics


def test_collaborative_baselines_are_tuned_strong_and_blind_to_new_items(judged: tuple) -> None:
    from pipeline.learn.algorithms.ease import EASE_LAMBDAS
    from pipeline.learn.algorithms.ials import MF_GRID
    from pipeline.learn.algorithms.itemknn import ITEMKNN_KS

    metrics = judged[3]
    assert metrics["baseline_ease_param"] in EASE_LAMBDAS
    assert metrics["baseline_itemknn_param"] in ITEMKNN_KS
    chosen = (
        metrics["baseline_mf_factors"],
        metrics["baseline_mf_param"],
        metrics["baseline_mf_alpha"],
    )
    assert chosen in MF_GRID
    for name in ("ease", "itemknn", "mf"):
        assert metrics[f"baseline_{name}_ndcg_at_10"] > metrics["baseline_popularity_ndcg_at_10"]
    # the model's reach beyond them: the new items
    assert metrics["recall_at_10"] > metrics["baseline_ease_recall_at_10"]


def test_model_beats_popularity_on_recall_and_ndcg(judged: tuple) -> None:
    metrics = judged[3]
    assert metrics["recall_at_10"] > metrics["baseline_popularity_recall_at_10"]
    assert metrics["ndcg_at_10"] > metrics["baseline_popularity_ndcg_at_10"]
    assert metrics["interaction_auc"] > metrics["baseline_popularity_interaction_auc"]


def test_cold_items_are_found_better_than_by_random_new_items(judged: tuple) -> None:
    _, _, exam, metrics = judged
    assert len(exam.cold_truth) >= 50  # enough users with a holdout event on a cold item
    assert metrics["cold_recall_at_10"] > metrics["baseline_random_new_cold_recall_at_10"]
    assert metrics["cold_recall_at_10"] > metrics["baseline_content_cold_recall_at_10"]
    assert metrics["cold_recall_at_10"] > metrics["baseline_content_recent_cold_recall_at_10"]
    assert metrics["baseline_content_recent_half_life"] in CONTENT_HALF_LIVES


def test_rating_head_beats_the_bias_baseline(judged: tuple) -> None:
    metrics = judged[3]
    assert metrics["rating_rmse"] < metrics["baseline_bias_rating_rmse"]
    assert 0 < metrics["social_recall_at_10"] <= 1


def test_vector_tables_reproduce_the_training_score(judged: tuple) -> None:
    snapshot, fitted, _, _ = judged
    model = fitted.model
    users_f, items_f = fitted.space.encode(snapshot, snapshot.events)
    at = snapshot.run_end
    u_table, v_table = model.vector_tables(users_f, items_f, at)
    rows_u, rows_i = torch.tensor([0, 5, 9]), torch.tensor([3, 3, 40])
    with torch.no_grad():
        u = model.users(users_f, rows_u, table=model.history_table(items_f))
        v, b = model.items(items_f, rows_i)
        direct = (
            (u * v).sum(1)
            + b
            + model.fresh(torch.tensor(at, dtype=torch.float64), items_f.release_s[rows_i])
        )
    table = np.sum(u_table[rows_u.numpy()] * v_table[rows_i.numpy()], axis=1)
    assert table == pytest.approx(direct.numpy(), abs=1e-4)


def test_unknown_ids_are_scored_from_text_and_features(judged: tuple, tmp_path: Path) -> None:
    snapshot, fitted, _, _ = judged
    users_f, items_f = fitted.space.encode(snapshot, snapshot.events)
    never_seen = (items_f.ids == 0).nonzero().ravel()
    assert len(never_seen) > 0  # new items: no training events, no id embedding
    _, v = fitted.model.vector_tables(users_f, items_f, snapshot.run_end)
    assert np.isfinite(v[never_seen.numpy()]).all()
    assert np.unique(v[never_seen.numpy()].round(5), axis=0).shape[0] == len(never_seen)


def test_the_sampled_softmax_with_catalogue_sized_steps_still_learns(judged: tuple) -> None:
    """A large shop's path (no whole-catalogue softmax, steps as large as the catalogue needs,
    rating and social pairs once per epoch), forced on the demo night: it must still rank
    better than popularity, on the same exam."""
    import dataclasses

    snapshot, _, exam, metrics = judged
    settings = Settings(home=Path("unused"))
    cfg = TrainConfig.from_settings(settings, progress=False)
    cfg = dataclasses.replace(cfg, full_softmax_budget=1.0, max_epochs=6)
    split = temporal_split(snapshot, settings.holdout_days, seed=cfg.seed)
    tuning = validation_split(split, settings.holdout_days)
    fitted = Trainer(snapshot, cfg).fit(
        tuning.train, split.friends_train, validation=tuning.holdout
    )
    sampled = model_metrics(fitted, snapshot, split, exam)
    assert sampled["ndcg_at_10"] > metrics["baseline_popularity_ndcg_at_10"]
    assert sampled["recall_at_10"] > metrics["baseline_popularity_recall_at_10"]
