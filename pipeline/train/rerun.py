"""A rerun of a night that is already trained: the same export under the same training settings
and code is the same model, so it is not fitted and registered again.

Without this, the second trigger of a run date would register a new version with the same
weights, move `champion` to it (at least as good as itself) and relabel that night's
recommendations: a rerun must replace its output exactly. The night's fingerprint is a tag of its
MLflow run; the champion's is compared with tonight's before anything is fitted.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pipeline.core.config import Settings
from pipeline.core.version import code_digest

FINGERPRINT_TAG = "night_fingerprint"
# what does not change the fitted model: where things live and run, the other stages' knobs
NOT_TRAINING = {
    "home", "landing", "run_date", "quarantine_threshold", "embed", "spark", "tune", "mlflow",
    "recommend", "airflow", "dbt", "work", "erasure",
}  # fmt: skip


def night_fingerprint(settings: Settings, folder: Path) -> str:
    """sha256 of the training export's files, the training settings and the code (its digest:
    any change of the package's files, released or not, makes another night)."""
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            digest.update(path.name.encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    training = settings.model_dump(mode="json", exclude=NOT_TRAINING)
    digest.update(json.dumps(training, sort_keys=True, default=str).encode())
    digest.update(code_digest().encode())
    return digest.hexdigest()


def already_trained(client: Any, champion: Any | None, fingerprint: str) -> bool:
    """Whether the champion was trained on exactly tonight's export and settings."""
    if champion is None:
        return False
    return client.get_run(champion.run_id).data.tags.get(FINGERPRINT_TAG) == fingerprint
