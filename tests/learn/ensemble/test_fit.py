"""Loss weighting (fixed, and uncertainty weighting, Kendall et al. 2018), and the epochs and
patience a night's events budget allows."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd
import pytest
import torch

from pipeline.core.config import Settings
from pipeline.learn.ensemble.fit import budgeted_epochs, budgeted_patience
from pipeline.learn.towers.loss_weights import LossWeights
from pipeline.learn.towers.train_config import TrainConfig


def test_fixed_weights_sum_the_weighted_losses() -> None:
    weighting = LossWeights({"interaction": 1.0, "rating": 2.0, "social": 0.5}, "fixed")
    losses = {"interaction": torch.tensor(3.0), "rating": torch.tensor(0.5)}
    assert float(weighting(losses)) == pytest.approx(3.0 + 1.0)
    assert not any(p.requires_grad for p in weighting.parameters())
    assert weighting.effective(["rating"]) == {"rating": 2.0}


def test_uncertainty_weighting_learns_the_inverse_of_each_losss_scale() -> None:
    # minimising exp(-s) L + s over s gives s = log L: each task ends weighted by 1 / L
    weighting = LossWeights({"interaction": 1.0, "rating": 1.0}, "uncertainty")
    losses = {"interaction": torch.tensor(4.0), "rating": torch.tensor(0.25)}
    assert float(weighting(losses).detach()) == pytest.approx(4.25)  # s = 0 at the start
    opt = torch.optim.Adam(weighting.parameters(), lr=0.05)
    for _ in range(800):
        opt.zero_grad()
        weighting(losses).backward()
        opt.step()
    effective = weighting.effective(["interaction", "rating"])
    assert effective["interaction"] == pytest.approx(1 / 4.0, rel=0.02)
    assert effective["rating"] == pytest.approx(1 / 0.25, rel=0.02)
    assert math.isfinite(float(weighting(losses).detach()))


def test_an_unknown_weighting_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown loss weighting 'gradnorm'"):
        LossWeights({"interaction": 1.0}, "gradnorm")


def test_a_large_night_trains_and_waits_fewer_epochs_by_its_events() -> None:
    cfg = replace(
        TrainConfig.from_settings(Settings(), progress=False),
        max_epochs=30,
        patience=5,
        epoch_event_budget=4e6,
    )

    def night(events: int) -> tuple[int, int]:
        allowed = budgeted_epochs(cfg.max_epochs, pd.DataFrame(index=range(events)), cfg)
        return allowed, budgeted_patience(allowed, cfg)

    assert night(100_000) == (30, 5)  # within the budget: the settings' epochs and patience
    assert night(200_000) == (20, 3)
    assert night(1_100_000) == (3, 1)
    assert night(10_000_000) == (1, 1)  # never below one
