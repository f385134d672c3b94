"""dbt, run in its own process (dbt-duckdb keeps the warehouse file locked in-process): one
`dbt build` per stage, its log streamed to stderr, a failure named by the nodes that failed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError

ANALYTICS_MODELS = ["path:models/analytics"]  # built by `recsys publish`, after `recommend`


def dbt_executable() -> str:
    beside_python = Path(sys.executable).parent / "dbt"
    found = str(beside_python) if beside_python.exists() else shutil.which("dbt")
    if not found:
        raise RecsysError("dbt is not installed in this environment: run `make setup`")
    return found


def dbt_env(settings: Settings) -> dict[str, str]:
    """Environment for a dbt process: profiles inside the project, outputs under RECSYS_HOME."""
    return {
        **os.environ,
        "RECSYS_WAREHOUSE_PATH": str(settings.warehouse_path),
        "RECSYS_DBT_THREADS": str(settings.dbt.threads),
        "DBT_PROFILES_DIR": str(settings.dbt.project_dir),
        "DBT_TARGET_PATH": str(settings.dbt_target_dir),
        "DBT_LOG_PATH": str(settings.dbt_log_dir),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",  # no network at run time
        "DBT_PARTIAL_PARSE": "true",
        "DBT_USE_COLORS": "true" if sys.stderr.isatty() else "false",
    }


def run_dbt(settings: Settings, args: list[str], run_date: date) -> None:
    """Run one dbt command in its own process, streaming its log to stderr; raise on failure."""
    command = [
        dbt_executable(),
        *args,
        "--project-dir",
        str(settings.dbt.project_dir),
        "--vars",
        json.dumps({"run_date": run_date.isoformat()}),
    ]
    process = subprocess.run(
        command, env=dbt_env(settings), stdout=sys.stderr, stderr=sys.stderr, check=False
    )
    if process.returncode != 0:
        raise RecsysError(f"dbt {args[0]} failed: {dbt_failures(settings)}")


def dbt_failures(settings: Settings) -> str:
    """One line per failed node from dbt's run_results.json (tests name the rule they enforce)."""
    results_path = settings.dbt_target_dir / "run_results.json"
    try:
        results = json.loads(results_path.read_text())["results"]
    except (OSError, ValueError, KeyError):
        return f"see the dbt log in {settings.dbt_log_dir}"
    failed = [
        f"{r['unique_id']}: {' '.join(str(r.get('message') or r['status']).split())}"
        for r in results
        if r.get("status") in ("error", "fail")
    ]
    return "; ".join(failed) if failed else f"see the dbt log in {settings.dbt_log_dir}"
