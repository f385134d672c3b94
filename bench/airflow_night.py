"""Benchmark of the whole demo night through Airflow.

    .venv/bin/python bench/airflow_night.py [--scale 1.0] [--repeats 1]

N1  the demo night (2,000 users, 78k events at scale 1) run by `airflow dags test recsys_nightly
    D` on a fresh pipeline home and Airflow home (after `airflow db migrate`), wall time of the
    command, target <= 5 min on 2 cores; and per task, from Airflow's metadata DB.
N2  a second night on the same landing, nothing new: no new text (embed starts nothing), the same
    events; the same command's wall time and per task.
Baseline: `recsys run` (the same stages in one process, no Airflow) on a fresh home, same run.
The ratio N1 / baseline is what orchestration costs. Results go to stdout and
bench/results/airflow_night.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def timed(command: list[str], env: dict[str, str], log: Path) -> float:
    started = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: see {log}")
    return seconds


def task_seconds(airflow_home: Path) -> dict[str, float]:
    """task_id -> duration in seconds of the latest run, from the metadata DB (a rerun of the
    same date replaces the run, so read it before the next one)."""
    con = sqlite3.connect(airflow_home / "airflow.db")
    (run_id,) = con.execute("select run_id from dag_run order by id desc limit 1").fetchone()
    rows = con.execute(
        "select task_id, duration from task_instance where run_id = ? order by start_date",
        [run_id],
    ).fetchall()
    con.close()
    return {task: float(duration or 0.0) for task, duration in rows}


def one_repeat(scale: float, work: Path) -> dict[str, object]:
    landing = work / "landing"
    env = {**os.environ, "RECSYS_HOME": str(work / "home-airflow")}
    subprocess.run(
        [str(BIN / "recsys"), "demo-data", str(landing), "--scale", str(scale)],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    day = subprocess.run(
        [str(BIN / "recsys"), "run-date", "--landing", str(landing)],
        env=env, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    recsys_airflow = [str(BIN / "recsys"), "airflow"]
    timed([*recsys_airflow, "db", "migrate"], env, work / "migrate.log")
    test = [*recsys_airflow, "dags", "test", "recsys_nightly", day, "-c"]
    conf = json.dumps({"landing": str(landing)})
    airflow_home = work / "home-airflow" / "airflow"
    n1 = timed([*test, conf], env, work / "night1.log")
    tasks1 = task_seconds(airflow_home)
    n2 = timed([*test, conf], env, work / "night2.log")
    tasks2 = task_seconds(airflow_home)
    plain_env = {**os.environ, "RECSYS_HOME": str(work / "home-plain")}
    baseline = timed(
        [str(BIN / "recsys"), "run", "--landing", str(landing), "--run-date", day],
        plain_env,
        work / "plain.log",
    )
    return {"night1": n1, "night2": n2, "baseline": baseline, "tasks": [tasks1, tasks2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    results = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="bench-airflow-") as tmp:
            results.append(one_repeat(args.scale, Path(tmp)))
    med = {k: statistics.median(r[k] for r in results) for k in ("night1", "night2", "baseline")}
    tasks1, tasks2 = results[0]["tasks"][0], results[0]["tasks"][1]  # type: ignore[index]
    lines = [
        f"# Airflow night (scale {args.scale}, {args.repeats} repeat(s), 2 cores)",
        "",
        "| measure | seconds | vs baseline |",
        "|---|---|---|",
        f"| N1 demo night via `airflow dags test` | {med['night1']:.1f} | {med['night1'] / med['baseline']:.2f}x |",
        f"| N2 second night, no new text | {med['night2']:.1f} | {med['night2'] / med['baseline']:.2f}x |",
        f"| baseline `recsys run` (no Airflow) | {med['baseline']:.1f} | 1.00x |",
        "",
        "Per task (first repeat; seconds of the task itself, from Airflow's metadata DB):",
        "",
        "| task | N1 | N2 |",
        "|---|---|---|",
    ]
    for task in tasks1:
        lines.append(f"| {task} | {tasks1[task]:.1f} | {tasks2.get(task, 0.0):.1f} |")
    lines.append(f"| sum of tasks | {sum(tasks1.values()):.1f} | {sum(tasks2.values()):.1f} |")
    report = "\n".join(lines) + "\n"
    print(report)
    out = ROOT / "bench" / "results" / "airflow_night.md"
    out.write_text(report)
    print(f"written: {out}")


if __name__ == "__main__":
    main()
