"""The champion sits tonight's exam: the gate compares two models on the same holdout.

Each version keeps, beside its served model, the model its own night judged (`warm_start/
evaluated`: fitted before that night's holdout). That model is scored on tonight's split exactly
as tonight's candidate is: its towers as trained, its score terms (closed-form) refitted on
tonight's training events, every user at their own moment. It never saw tonight's holdout: its
data ends before its own night's holdout, which starts no later than tonight's (a champion of a
later date is never judged this way: a run older than the champion never moves the alias).

Where that model cannot sit tonight's exam (a version from before the states were kept, a
changed architecture or text model), the gate falls back to the champion's metric on its own
night and says so (`gate_exam` tag).
"""

from __future__ import annotations

import logging
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient

from pipeline.core.config import Settings
from pipeline.evaluate.exam import model_metrics
from pipeline.learn.ensemble.fit import Trainer
from pipeline.learn.ensemble.warm_state import WarmStart
from pipeline.learn.towers.warm_start import WarmStartError
from pipeline.train.tracking import TrainedNight
from pipeline.train.train_start import WARM_ARTIFACT, read_state

log = logging.getLogger(__name__)

TONIGHT, OWN_NIGHT = "tonight", "own_night"


@dataclass(frozen=True)
class ChampionScore:
    """The champion's primary metric and on which exam it was measured (`TONIGHT` or
    `OWN_NIGHT`), with why when it is not tonight's."""

    value: float
    exam: str
    why: str = ""


def champion_score(
    settings: Settings, client: MlflowClient, champion: Any, night: TrainedNight
) -> ChampionScore:
    """The champion's primary metric, on tonight's exam where it can sit it."""
    primary = settings.gate.metric
    run = client.get_run(champion.run_id)
    own = run.data.metrics.get(primary, math.nan)

    def fallback(why: str) -> ChampionScore:
        log.warning("gate: champion version %s judged on its own night: %s", champion.version, why)
        return ChampionScore(own, OWN_NIGHT, why)

    if run.data.params.get("embedding_model") != night.snapshot.embedding_model:
        return fallback("its text model differs from tonight's")
    state = evaluated_state(champion.run_id)
    if state is None:
        return fallback("it kept no evaluated model")
    if state.data_end_s > night.split.cutoff_s:
        return fallback("its evaluated model learned from events of tonight's holdout")
    try:
        sitting = Trainer(night.snapshot, night.cfg).fit(
            night.split.train, night.split.friends_train, epochs=0, label="champion", warm=state
        )
    except WarmStartError as exc:
        return fallback(f"it cannot follow tonight's model: {exc}")
    value = model_metrics(sitting, night.snapshot, night.split, night.exam).get(primary, math.nan)
    log.info(
        "gate: champion version %s scores %s %.4f on tonight's exam (%.4f on its own night)",
        champion.version,
        primary,
        value,
        own,
    )
    return ChampionScore(value, TONIGHT)


def evaluated_state(run_id: str) -> WarmStart | None:
    """The model a run's own night judged, or None where the run kept none."""
    with tempfile.TemporaryDirectory(prefix="recsys-champion-") as tmp:
        try:
            folder = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=f"{WARM_ARTIFACT}/evaluated", dst_path=tmp
            )
        except (OSError, mlflow.exceptions.MlflowException):
            return None
        return read_state(Path(folder))
