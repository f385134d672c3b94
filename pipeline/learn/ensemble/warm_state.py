"""What a warm fit starts from, as a run keeps it: the fitted recommender (its terms' choices
included), the newest event it learned from, its fit's epochs and Adam's state of its weights.
How the weights follow tonight's vocabularies is `towers/warm_start.py`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from pipeline.learn.ensemble.recommender import OfRecommender, Recommender
from pipeline.learn.towers.warm_start import MOMENTS_FILE, Moments

WARM_FILE = "warm.json"


@dataclass
class WarmStart(OfRecommender):
    """What a warm fit starts from: a fitted recommender (its terms' choices included), the
    vocabularies its rows follow, the newest event it learned from, and its fit's epochs."""

    recommender: Recommender
    data_end_s: float
    epochs: int
    # Adam's state of the fit's returned weights (`adam_moments`); None from an older run
    moments: Moments | None = None

    def write(self, folder: Path) -> None:
        """Beside the model's bundle files (`bundle.save_model`): what a warm fit needs more."""
        meta = {"data_end_s": self.data_end_s, "epochs": self.epochs}
        (folder / WARM_FILE).write_text(json.dumps(meta) + "\n", encoding="utf-8")
        if self.moments is not None:
            torch.save(self.moments, folder / MOMENTS_FILE)

    @staticmethod
    def read(folder: Path) -> dict:
        meta = json.loads((folder / WARM_FILE).read_text(encoding="utf-8"))
        moments = folder / MOMENTS_FILE
        meta["moments"] = (
            torch.load(moments, map_location="cpu", weights_only=True) if moments.exists() else None
        )
        return meta
