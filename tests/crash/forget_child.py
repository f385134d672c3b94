"""`forget` in a process of its own, killed with SIGKILL at its N-th write boundary.

    python -m tests.crash.forget_child IDS_JSON N TRACE_JSONL

Settings come from the environment (RECSYS_*). The boundaries are the night matrix's
(`child.arm_write_boundaries`: each DuckDB commit, each rename into place, each Parquet file
written, the second dbt build) plus each file uploaded to the MLflow artifact store. Every
boundary reached is appended to TRACE_JSONL with the forget step it belongs to; N = 0 kills at
none (a trace of the whole forget).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from tests.crash import child


def main(ids_json: str, target: str, trace_path: str) -> None:
    from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

    import pipeline.privacy.forget as forget_module
    from pipeline.core.config import Settings

    for module in (
        "pipeline.privacy.journal",
        "pipeline.privacy.work_files",
        "pipeline.privacy.artifacts",
        "pipeline.clean.transform",
        "pipeline.serve.publish",
    ):
        __import__(module)
    trace = Path(trace_path)
    kill_at = int(target)
    state = {"step": "begin", "n": 0}

    class Steps(logging.Handler):
        """Follows the step forget logs as it starts each one."""

        def emit(self, record: logging.LogRecord) -> None:
            if record.msg == forget_module.STEP_MESSAGE and isinstance(record.args, tuple):
                state["step"] = str(record.args[-1])

    forget_module.log.addHandler(Steps())
    forget_module.log.setLevel(logging.INFO)
    kill = child.die

    def boundary(marker: Path, where: str) -> None:
        state["n"] += 1
        with trace.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"n": state["n"], "step": state["step"], "where": where}) + "\n")
        if state["n"] == kill_at:
            kill(marker, f"{state['step']}: {where}")

    child.die = boundary  # what the armed patches call
    child.arm_write_boundaries(trace.with_suffix(".point"))
    upload = LocalArtifactRepository.log_artifact

    def log_artifact(self: Any, local_file: str, artifact_path: str | None = None) -> None:
        upload(self, local_file, artifact_path)
        boundary(trace.with_suffix(".point"), f"upload of {Path(local_file).name}")

    LocalArtifactRepository.log_artifact = log_artifact  # type: ignore[method-assign]
    summary = forget_module.forget(Settings(), json.loads(ids_json))
    print(json.dumps(summary, default=str))


if __name__ == "__main__":
    main(*sys.argv[1:4])
