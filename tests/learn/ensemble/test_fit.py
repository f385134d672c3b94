"""Loss weighting: fixed weights and uncertainty weighting (Kendall et al. 2018)."""

from __future__ import annotations

import math

import pytest
import torch

from pipeline.learn.towers.loss_weights import LossWeights


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
