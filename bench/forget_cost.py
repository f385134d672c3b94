"""What `forget` costs on a registry that holds a year of nights.

    .venv/bin/python bench/forget_cost.py [--runs 365] [--scale 0.1] [--epochs 2]

One served demo night (its own home under a temporary folder), then its MLflow run is copied
`--runs - 1` times into the same experiment: each copy a run of its own holding the original
run's artifacts and the served model's files (its bundle: weights, vocabulary, vector tables,
history, input examples), the kinds of file `forget` rewrites. No model is trained again.

F1  `scrub_mlflow` of one user over 1 run (the night's own; its logged model too), then over
    all the runs: seconds, and seconds per run (the baseline: the 1-run scrub, same process).
F2  the whole `forget` of another user on the registry of all the runs: seconds per step, from
    its journal's log.
Results: stdout and bench/results/forget_cost.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def served_night(home: Path, scale: float, epochs: int) -> None:
    os.environ["RECSYS_HOME"] = str(home)
    os.environ["RECSYS_TRAIN_MAX_EPOCHS"] = str(epochs)
    from pipeline.core.config import Settings
    from pipeline.core.run_date import resolve_run_date
    from pipeline.landing.demo_data import generate
    from pipeline.night import run_night

    settings = Settings()
    generate(settings.landing_dir, seed=7, scale=scale)
    run_night(settings, resolve_run_date(settings), engine="local")


def copy_runs(runs: int, scratch: Path) -> dict[str, float]:
    """The night's run and the champion's files, copied into `runs - 1` new runs."""
    import mlflow

    from pipeline.core.config import Settings
    from pipeline.train.registry import use_tracking

    settings = Settings()
    client = use_tracking(settings)
    experiment = client.get_experiment_by_name(settings.mlflow.experiment)
    run = client.search_runs([experiment.experiment_id])[0]  # the night's (newest) run
    source = Path(mlflow.artifacts.download_artifacts(run.info.artifact_uri, dst_path=scratch))
    version = client.get_model_version_by_alias(settings.registered_model, "champion")
    model = scratch / "served-model"
    mlflow.artifacts.download_artifacts(f"models:/{settings.registered_model}/{version.version}",
                                        dst_path=str(model))  # fmt: skip
    files = [p for p in source.rglob("*") if p.is_file()] + [
        p for p in model.rglob("*") if p.is_file()
    ]
    started = time.perf_counter()
    for n in range(1, runs):
        copy = client.create_run(experiment.experiment_id, run_name=f"copy-{n}")
        client.log_artifacts(copy.info.run_id, str(source))
        client.log_artifacts(copy.info.run_id, str(model), "served-model")
        client.set_terminated(copy.info.run_id)
    return {
        "files_per_run": len(files),
        "mb_per_run": sum(p.stat().st_size for p in files) / 1e6,
        "copy_seconds": time.perf_counter() - started,
    }


def victims() -> list[str]:
    import duckdb

    from pipeline.core.config import Settings

    con = duckdb.connect(str(Settings().warehouse_path), read_only=True)
    try:
        found = con.execute(
            "select distinct user_id from marts.recommendations order by user_id limit 3"
        ).fetchall()
    finally:
        con.close()
    return [u for (u,) in found]


class StepTimes(logging.Handler):
    """The seconds of each forget step, from the line it logs as the step starts."""

    def __init__(self) -> None:
        super().__init__()
        self.marks: list[tuple[str, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        from pipeline.privacy.forget import STEP_MESSAGE

        if record.msg == STEP_MESSAGE and isinstance(record.args, tuple):
            self.marks.append((str(record.args[-1]), time.perf_counter()))

    def seconds(self) -> dict[str, float]:
        return {
            step: later - at
            for (step, at), (_, later) in zip(self.marks, self.marks[1:], strict=False)
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=365)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "forget_cost.md")
    args = parser.parse_args()
    command = "`.venv/bin/python bench/forget_cost.py " + " ".join(sys.argv[1:]) + "`"
    root = Path(tempfile.mkdtemp(prefix="recsys-forget-cost-"))
    try:
        started = time.perf_counter()
        served_night(root / "home", args.scale, args.epochs)
        night_s = time.perf_counter() - started
        from pipeline.core.config import Settings
        from pipeline.privacy.artifacts import scrub_mlflow
        from pipeline.privacy.forget import forget

        # a user each: what a scrub finds decides what it rewrites
        first, second, third = victims()
        settings = Settings()
        # F1 baseline: the one real run and its logged model
        t = time.perf_counter()
        one = scrub_mlflow(settings, [first])
        one_s = time.perf_counter() - t
        copied = copy_runs(args.runs, root / "scratch")
        t = time.perf_counter()
        many = scrub_mlflow(settings, [second])
        many_s = time.perf_counter() - t
        # F2: the whole forget of a third user on the same registry
        steps = StepTimes()
        logging.getLogger("pipeline.privacy.forget").addHandler(steps)
        logging.getLogger("pipeline.privacy.forget").setLevel(logging.INFO)
        t = time.perf_counter()
        summary = forget(settings, [third])
        forget_s = time.perf_counter() - t
    finally:
        shutil.rmtree(root, ignore_errors=True)
    per_step = steps.seconds()
    lines = [
        f"# What forget costs on a registry of many runs (demo scale {args.scale}; 2 cores)",
        "",
        f"Measured on {datetime.now(UTC).date().isoformat()}.",
        f"Command: {command}",
        "",
        f"One served demo night ({night_s:.0f} s to build), its MLflow run copied to "
        f"{args.runs} runs: {copied['files_per_run']} artifact files, "
        f"{copied['mb_per_run']:.1f} MB per run (the run's own and the served model's), "
        f"copied in {copied['copy_seconds']:.0f} s.",
        "",
        "| F1 `scrub_mlflow`, one user | runs | roots rewritten | seconds | seconds per run |",
        "|---|---|---|---|---|",
        f"| baseline: the night's own run | 1 | {len(one)} | {one_s:.1f} | {one_s:.2f} |",
        f"| the registry of copies | {args.runs} | {len(many)} | {many_s:.1f} | "
        f"{many_s / args.runs:.2f} |",
        "",
        f"F2 the whole `forget` of another user on the {args.runs}-run registry: "
        f"{forget_s:.0f} s ({summary['users']} user).",
        "",
        "| step | seconds |",
        "|---|---|",
        *(f"| {step} | {s:.1f} |" for step, s in per_step.items()),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
