"""Task callbacks: a failure says, in one line, what failed, for which night, and what next."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("recsys_nightly")


def failure_message(context: dict[str, Any]) -> str:
    ti = context.get("task_instance") or context.get("ti")
    params = context.get("params") or {}
    logical = context.get("logical_date")
    night = params.get("run_date") or (logical.date().isoformat() if logical else "?")
    task = getattr(ti, "task_id", "?")
    tries = getattr(ti, "try_number", "?")
    retries = getattr(getattr(ti, "task", None), "retries", "?")
    error = context.get("exception")
    reason = f"{type(error).__name__}: {error}" if error else "no exception recorded"
    return (
        f"recsys_nightly task {task} failed for run date {night} (try {tries} of "
        f"{retries + 1 if isinstance(retries, int) else '?'}): {reason}. Every task is "
        "idempotent per run date: fix the cause, then clear the task to rerun it."
    )


def on_task_failure(context: dict[str, Any]) -> None:
    log.error(failure_message(context))
