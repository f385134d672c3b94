"""How the tasks' losses become the one that is minimised, and how old events weigh.

Loss weighting (`TrainConfig.loss_weighting`):
- *fixed*: total = sum of weight_t x loss_t with the configured weights;
- *uncertainty* (Kendall, Gal and Cipolla 2018): total = sum of exp(-s_t) x loss_t + s_t with a
  learned log-variance s_t per task, so no task's scale drowns the others; a configured weight of
  0 still switches its task off. This is the common simplified form: one expression for the
  regression (rating) and the classification (interaction, social) losses.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from pipeline.learn.towers.model import SECONDS_PER_DAY

LOSS_WEIGHTINGS = ("fixed", "uncertainty")


class LossWeights(torch.nn.Module):
    """Combines the tasks' losses into the one that is minimised (see the module docstring)."""

    def __init__(self, weights: dict[str, float], kind: str) -> None:
        super().__init__()
        if kind not in LOSS_WEIGHTINGS:
            raise ValueError(
                f"unknown loss weighting {kind!r}: choose one of {', '.join(LOSS_WEIGHTINGS)}"
            )
        self.kind, self.weights = kind, weights
        learned = kind == "uncertainty"
        self.log_vars = torch.nn.ParameterDict(
            {t: torch.nn.Parameter(torch.zeros(()), requires_grad=learned) for t in weights}
        )

    def forward(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.kind == "fixed":
            return sum(self.weights[t] * loss for t, loss in losses.items())  # type: ignore[return-value]
        return sum(  # type: ignore[return-value]
            torch.exp(-self.log_vars[t]) * loss + self.log_vars[t] for t, loss in losses.items()
        )

    def effective(self, tasks: Iterable[str]) -> dict[str, float]:
        """The weight on each of `tasks`' losses now."""
        if self.kind == "fixed":
            return {t: self.weights[t] for t in tasks}
        return {t: float(torch.exp(-self.log_vars[t].detach())) for t in tasks}


def recency_weights(
    event_s: np.ndarray, half_life_days: float, end_s: float | None = None
) -> np.ndarray:
    """0.5 ** (age of the event at `end_s`, by default the latest of `event_s`, / half-life); all
    ones when switched off."""
    if half_life_days <= 0 or not len(event_s):
        return np.ones(len(event_s), dtype=np.float32)
    end = float(event_s.max()) if end_s is None else end_s
    age_days = (end - event_s) / SECONDS_PER_DAY
    return np.power(0.5, age_days / half_life_days).astype(np.float32)
