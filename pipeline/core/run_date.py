"""Which day a run processes. Never the wall clock: an explicit date, or the landing manifest's."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError

MANIFEST = "manifest.json"


def parse_run_date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise RecsysError(f"invalid run date {text!r}: expected YYYY-MM-DD") from None


def manifest_run_date(landing: Path) -> date | None:
    """The `run_date` suggested by `landing/manifest.json`, if the folder has one."""
    path = landing / MANIFEST
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("run_date")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
        raise RecsysError(f"{path} is not a valid JSON manifest: {exc}") from None
    return parse_run_date(str(value)) if value else None


def find_run_date(settings: Settings, *given: date | None) -> date | None:
    """The one precedence rule: the first of `given` that is set (the CLI's --run-date; in a DAG
    run its `run_date` param, then its logical date), else RECSYS_RUN_DATE, else the landing
    manifest's run_date, else None. Never the wall clock."""
    for day in given:
        if day is not None:
            return day
    return settings.run_date or manifest_run_date(settings.landing_dir)


def resolve_run_date(settings: Settings, *given: date | None) -> date:
    """`find_run_date`, or an error that says how to give one."""
    found = find_run_date(settings, *given)
    if found is None:
        raise RecsysError(
            f"no run date: pass --run-date YYYY-MM-DD (no {MANIFEST} with a run_date in "
            f"{settings.landing_dir})"
        )
    return found
