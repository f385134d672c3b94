"""The crash matrix: each DAG task killed (SIGKILL, its whole process group, as a worker that
loses a task does) at its start, at its first write and just before it returns; then the task
is run again, as Airflow's retry would. Afterwards the warehouse's tables (the ingest ledger
among them), the published copy and the work exports equal, checksum for checksum, those of the
same night run without a crash; while the task lies dead, an analyst opening the published file
reads the previous complete night.

`make test` runs the `write` point (the one that catches half-done writes) of four tasks, one of
each kind of write; `make crash-matrix` runs all three points of every task
(RECSYS_CRASH_MATRIX=full).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pytest

from pipeline.core.config import PROJECT_ROOT, Settings
from pipeline.core.run_date import resolve_run_date
from tests.conftest import Night, write_csv
from tests.crash.checksums import state_checksums, table_checksums
from tests.crash.night_tasks import TASKS
from tests.processes import run_group

pytestmark = pytest.mark.slow

FULL = os.environ.get("RECSYS_CRASH_MATRIX") == "full"
POINTS = ["start", "write", "return"] if FULL else ["write"]
# `make test` (CI time): the write point of a task of each kind that writes the warehouse, the
# hand-over files or the published copy; `make crash-matrix`: all of them
QUICK_TASKS = ["ingest", "recommend_score", "recommend_write", "publish"]
# a quick but real night: the model still has to pass the gate on night 1
QUICK_TRAIN = {"RECSYS_TRAIN_MAX_EPOCHS": "4", "RECSYS_TRAIN_PATIENCE": "2"}


@dataclass
class Matrix:
    root: Path
    home: Path
    env: dict[str, str]
    day: str
    snapshots: dict[str, Path] = field(default_factory=dict)  # after the task (or "night1")
    checksums: dict[str, dict[str, str]] = field(default_factory=dict)
    xcoms: dict[str, dict] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)

    def restore(self, snapshot: str) -> None:
        shutil.rmtree(self.home, ignore_errors=True)
        shutil.copytree(self.snapshots[snapshot], self.home, symlinks=True)

    def before(self, task: str) -> str:
        i = self.order.index(task)
        return self.order[i - 1] if i else "night1"

    def published(self) -> str:
        return json.dumps(table_checksums(Settings(home=self.home).published_path), sort_keys=True)


def run_child(matrix: Matrix, task: str, point: str, xcoms: dict) -> tuple[int, str, dict | None]:
    """One task in its own process group; returns its exit code, where it was killed, its XCom."""
    work = matrix.root / "child"
    work.mkdir(exist_ok=True)
    (work / "xcoms.json").write_text(json.dumps(xcoms, default=str))
    out = work / "out.json"
    for stale in (out, Path(str(out) + ".point")):
        stale.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "tests.crash.child", task, point, matrix.day,
            str(work / "xcoms.json"), str(out)]  # fmt: skip
    # what a worker does with a dead task: nothing of its group may write on (dbt, Spark)
    code = run_group(argv, matrix.env, work / f"{task}-{point}.log", PROJECT_ROOT)
    marker = Path(str(out) + ".point")
    where = marker.read_text() if marker.exists() else "no write boundary: it completed"
    result = json.loads(out.read_text()) if out.exists() else None
    if code not in (0, -signal.SIGKILL):
        pytest.fail(
            f"{task} {point}: exit {code}\n" + (work / f"{task}-{point}.log").read_text()[-4000:]
        )
    return code, where, result


def new_drop(landing: Path, day: object) -> None:
    """Night 2's own drop: new items and a new user with texts to embed, and their events."""
    write_csv(
        landing / "items" / f"dt={day}" / "part-0.csv",
        "item_id,title,description,category,price,release_ts\n"
        f"i90001,The Night Two Telescope,Stars and galaxies after dark,kit,49.5,{day}T08:00:00Z\n"
        f"i90002,Night Two Sourdough,Bread baking for the oven,book,12,{day}T08:00:00Z\n",
    )
    write_csv(
        landing / "users" / f"dt={day}" / "part-0.csv",
        "user_id,age,profile_text\nu90001,33,I love jazz music and telescopes.\n",
    )
    write_csv(
        landing / "interactions" / f"dt={day}" / "part-9.csv",
        "user_id,item_id,event_ts,rating\n"
        f"u90001,i90001,{day}T10:00:00Z,5\n"
        f"u00001,i90002,{day}T11:00:00Z,4\n",
    )


@pytest.fixture(scope="module")
def matrix(demo_night: Night, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    """Night 1 (the day before the demo's run date) and night 2, task by task, uninterrupted,
    with a snapshot of the home after each task; every scenario restores the home in place
    (its absolute paths, MLflow's included, stay true)."""
    root = tmp_path_factory.mktemp("crash")
    landing = root / "landing"
    shutil.copytree(demo_night.settings.landing_dir, landing)
    home = root / "home"
    day2 = resolve_run_date(Settings(home=home, landing=landing))
    env = {
        **os.environ,
        "RECSYS_HOME": str(home),
        "RECSYS_LANDING": str(landing),
        **QUICK_TRAIN,
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    matrix = Matrix(root, home, env, day2.isoformat())
    try:
        with pytest.MonkeyPatch.context() as patch:  # this process runs the uninterrupted nights
            for key, value in env.items():
                patch.setenv(key, value)
            build_nights(matrix, landing, day2)
        yield matrix
    finally:
        table = "\n".join(
            f"| {r['task']} | {r['point']} | {r['killed']} | {r['recovered']} | {r['seconds']} |"
            for r in matrix.results
        )
        print("\n| task | point | killed | identical after the retry | s |\n|---|---|---|---|---|")
        print(table)


def build_nights(matrix: Matrix, landing: Path, day2: date) -> None:
    """Night 1 whole, then night 2 task by task, a snapshot and checksums after each."""
    root, home = matrix.root, matrix.home
    settings = Settings()
    for day, label in ((day2 - timedelta(days=1), "night1"), (day2, None)):
        xcoms: dict[str, dict] = {}
        for name, task in TASKS.items():
            xcoms[name] = task(settings, day, xcoms)
            if label is None:
                matrix.xcoms[name] = json.loads(json.dumps(xcoms[name], default=str))
                matrix.order.append(name)
                matrix.snapshots[name] = root / "snapshots" / name
                shutil.copytree(home, matrix.snapshots[name], symlinks=True)
                matrix.checksums[name] = state_checksums(home)
        if label:
            assert xcoms["train_model"]["alias"] == "champion", xcoms["train_model"]
            new_drop(landing, day2)
            matrix.snapshots[label] = root / "snapshots" / label
            shutil.copytree(home, matrix.snapshots[label], symlinks=True)
            matrix.checksums[label] = state_checksums(home)


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("task", list(TASKS) if FULL else QUICK_TASKS)
def test_a_killed_task_retried_leaves_the_uninterrupted_nights_checksums(
    matrix: Matrix, task: str, point: str
) -> None:
    started = time.perf_counter()
    before = matrix.before(task)
    matrix.restore(before)
    published_before = matrix.checksums[before]["published"]
    upstream = {
        k: v for k, v in matrix.xcoms.items() if matrix.order.index(k) < matrix.order.index(task)
    }

    code, where, _ = run_child(matrix, task, point, upstream)

    # an analyst opening the published file now reads a whole night: the previous one, unless
    # the task was publish and it had already swapped the new one in
    published_now = matrix.published()
    swapped = task == "publish" and point == "return"
    expected = matrix.checksums[task]["published"] if swapped else published_before
    assert published_now == expected

    code, _, result = run_child(matrix, task, "none", upstream)
    assert code == 0 and result is not None
    after = state_checksums(matrix.home)
    differing = sorted(k for k in after.keys() | matrix.checksums[task].keys()
                       if after.get(k) != matrix.checksums[task].get(k))  # fmt: skip
    matrix.results.append(
        {
            "task": task,
            "point": point,
            "killed": where,
            "recovered": "yes" if not differing else f"NO: {differing}",
            "seconds": round(time.perf_counter() - started),
        }
    )
    assert differing == [], differing
