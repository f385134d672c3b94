"""What a score term is fitted on: every term's `refit` and choice take the same data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class TermData:
    events: pd.DataFrame  # user and item rows, event_s, rating
    shape: tuple[int, int]  # users x items of the night
    texts: np.ndarray | None = None  # the items' text vectors: new items borrow from neighbours
    seed: int = 0
