"""The modes a stage runs in, named once (their values are what the CLI, the DAG's params, the
settings and the stage summaries say)."""

from __future__ import annotations

from enum import StrEnum


class Engine(StrEnum):
    """Where `embed` and `recommend` run: `auto` picks by the night's size."""

    AUTO = "auto"
    SPARK = "spark"
    LOCAL = "local"


class TrainMode(StrEnum):
    """How `train` starts: from scratch, from the champion, or `auto` (warm unless a rule says
    full: `RECSYS_TRAIN_MODE`)."""

    AUTO = "auto"
    FULL = "full"
    WARM = "warm"
