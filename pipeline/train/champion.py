"""`recsys champion`: which version is served, and setting it by hand (a rollback, or promoting a
blocked model an operator has judged), recorded in MLflow on the version."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mlflow.exceptions import MlflowException

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.train.gate import CHAMPION, champion_version, trained_for
from pipeline.train.registry import tracking_uri, use_tracking


def show_champion(settings: Settings) -> dict[str, Any]:
    """The champion and the versions an operator could set instead (newest first)."""
    client = use_tracking(settings)
    name = settings.registered_model
    found = champion_version(client, name)
    versions = sorted(
        client.search_model_versions(f"name = '{name}'"), key=lambda v: -int(v.version)
    )
    return {
        "stage": "champion",
        "status": "ok",
        "tracking_uri": tracking_uri(settings),
        "champion": None if found is None else str(found.version),
        "versions": [
            {
                "version": str(v.version),
                "run_date": v.tags.get("run_date") or _run_date(client, v),
                "gate_alias": v.tags.get("gate_alias"),
                "gate_reason": v.tags.get("gate_reason"),
            }
            for v in versions[:20]
        ],
    }


def _run_date(client: Any, version: Any) -> str | None:
    day = trained_for(client, version)
    return day.isoformat() if day else None


def set_champion(settings: Settings, version: str, reason: str | None = None) -> dict[str, Any]:
    """Point `champion` at `version`; the version's tags record who set it, when and why."""
    client = use_tracking(settings)
    name = settings.registered_model
    try:
        target = client.get_model_version(name, version)
    except MlflowException:
        raise RecsysError(
            f"no version {version!r} of the model {name!r} in {tracking_uri(settings)}: "
            "`recsys champion` lists the versions"
        ) from None
    before = champion_version(client, name)
    client.set_registered_model_alias(name, CHAMPION, target.version)
    for key, value in (
        ("gate_alias", CHAMPION),
        ("gate_reason", "set_by_operator"),
        ("champion_set_at", datetime.now(UTC).isoformat(timespec="seconds")),  # audit metadata only
        ("champion_set_reason", reason or ""),
        ("champion_replaced", "none" if before is None else str(before.version)),
    ):
        client.set_model_version_tag(name, target.version, key, value)
    return {
        "stage": "champion",
        "status": "ok",
        "champion": str(target.version),
        "replaced": None if before is None else str(before.version),
        "reason": reason,
    }
