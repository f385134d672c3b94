"""The tuned configuration: the file `recsys tune` writes and nightly training reads.

It holds train settings (`"train"`: lr, history_cuts, ...) and model options (`"model_options"`:
dim, dropouts, ...) found best on a validation week, with the search's record. A night reads it
where it exists (`RECSYS_TUNE_FILE`, default `$RECSYS_HOME/tuned.json`; `RECSYS_TUNE_APPLY=false`
ignores it); a setting the deployment set explicitly (a `RECSYS_TRAIN_*` variable, a key of
`RECSYS_MODEL_OPTIONS`) wins over the file, so a team can pin one knob and keep the rest tuned.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeline.core.config import Settings, TrainSettings
from pipeline.core.errors import RecsysError

log = logging.getLogger(__name__)

FORMAT = 1  # the file's "recsys_tune" version


def read_tuned(path: Path) -> dict[str, Any]:
    """The file's content, checked: a clear error names what is wrong with it."""
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RecsysError(f"{path} is not a tuned configuration (invalid JSON: {exc})") from None
    if not isinstance(record, dict) or record.get("recsys_tune") != FORMAT:
        raise RecsysError(f"{path} is not a tuned configuration of format {FORMAT}")
    train, options = record.get("train", {}), record.get("model_options", {})
    if not isinstance(train, dict) or not isinstance(options, dict):
        raise RecsysError(f"{path}: 'train' and 'model_options' must be objects")
    unknown = sorted(set(train) - set(TrainSettings.model_fields))
    if unknown:
        raise RecsysError(f"{path}: unknown train settings {', '.join(unknown)}")
    return record


def tuned_record(settings: Settings) -> dict[str, Any] | None:
    """The tuned file a night of these settings uses, or None (absent, or not applied)."""
    path = settings.tuned_path
    if not settings.tune.apply:
        return None
    if not path.exists():
        if settings.tune.file is not None:
            raise RecsysError(f"RECSYS_TUNE_FILE {path} does not exist: run `recsys tune` first")
        return None
    return read_tuned(path)


def with_tuned(settings: Settings) -> Settings:
    """`settings` with the tuned file's values under the explicitly set ones."""
    record = tuned_record(settings)
    if record is None:
        return settings
    explicit = settings.train.model_dump(include=settings.train.model_fields_set)
    pinned = sorted(set(record["train"]) & set(explicit))
    pinned += sorted(set(record["model_options"]) & set(settings.model_options))
    if pinned:
        log.warning("tuned configuration: explicitly set, so not tuned: %s", ", ".join(pinned))
    try:
        train = TrainSettings.model_validate({**record["train"], **explicit})
        tuned = settings.model_copy(
            update={
                "train": train,
                "model_options": {**record["model_options"], **settings.model_options},
            }
        )
    except ValidationError as exc:
        raise RecsysError(f"{settings.tuned_path}: {exc}") from None
    log.info(
        "tuned configuration %s (tuned on %s, validation %s %.4f): %s",
        settings.tuned_path,
        record.get("run_date"),
        record.get("metric"),
        record.get("best", {}).get("value", float("nan")),
        {**record["train"], **record["model_options"]},
    )
    return tuned


def write_tuned(path: Path, record: dict[str, Any]) -> None:
    """Written whole or not at all: a night never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps({"recsys_tune": FORMAT, **record}, indent=2, sort_keys=True))
    partial.replace(path)
