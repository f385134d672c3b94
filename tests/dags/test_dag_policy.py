"""The DAG's promises, read off the parsed DAG: imports with no metadata DB, retries, pools,
queues, params, schedule, and no wall-clock reads in task code."""

from __future__ import annotations

import ast
import copy
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.core.config import PROJECT_ROOT, Settings
from pipeline.orchestration.home import DAGS_FOLDER

WAREHOUSE_TASKS = {
    "claim_night",
    "ingest",
    "transform",
    "embed_export",
    "embed_load",
    "train_export",
    "recommend_export",
    "recommend_write",
    "publish",
}
GPU_TASKS = {"embed_texts", "train_model", "recommend_score"}


@pytest.fixture(scope="module")
def dag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert not bag.import_errors, bag.import_errors
    return bag.dags["recsys_nightly"]


def test_the_forget_dag_takes_a_request_id_never_user_ids_in_the_warehouse_pool() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    forget = bag.dags["recsys_forget"]
    assert type(forget.timetable).__name__ == "NullTimetable"  # triggered by hand only
    (only,) = forget.tasks
    assert only.pool == Settings().airflow.warehouse_pool
    assert set(forget.params) == {"request", "landing"}  # Airflow keeps a run's conf
    good = copy.deepcopy(forget.params)
    good.update({"request": "0123456789abcdef0123456789abcdef"})
    good.validate()
    for bad in ("", "u00042", "../0123456789abcdef0123456789abcdef", ["u1"]):
        params = copy.deepcopy(forget.params)
        with pytest.raises(Exception, match="Invalid input"):
            params.update({"request": bad})
            params.validate()


def test_the_dag_imports_on_an_airflow_home_without_a_metadata_db(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'never-created.db'}",
    }
    code = (
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(DAGS_FOLDER)!r})\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "print(sorted(bag.dags), len(bag.dags['recsys_nightly'].tasks))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "['recsys_forget', 'recsys_nightly'] 14" in done.stdout
    assert not (tmp_path / "never-created.db").exists()


def test_every_task_retries_with_backoff_times_out_and_reports_failure(dag: Any) -> None:
    settings = Settings()
    for task in dag.tasks:
        assert task.retries == settings.airflow.retries >= 1, task.task_id
        assert task.retry_delay == timedelta(seconds=settings.airflow.retry_delay_s)
        assert task.retry_exponential_backoff and task.max_retry_delay, task.task_id
        assert task.execution_timeout is not None, task.task_id
        assert task.on_failure_callback, task.task_id


def test_warehouse_tasks_share_one_pool_and_gpu_tasks_never_use_it(dag: Any) -> None:
    tasks = {t.task_id: t for t in dag.tasks}
    assert set(tasks) == WAREHOUSE_TASKS | GPU_TASKS | {"retrain", "release_night"}
    assert {t for t in tasks if tasks[t].pool == "warehouse"} == WAREHOUSE_TASKS
    assert {t for t in tasks if tasks[t].queue == "gpu"} == GPU_TASKS
    assert [a.name for a in tasks["publish"].outlets] == ["marts.recommendations"]
    assert dag.max_active_runs == 1
    assert dag.catchup is False


def test_the_pool_is_created_once_with_one_slot_and_a_resized_one_is_kept(
    airflow_db: None,
) -> None:
    from airflow.models.pool import Pool

    from pipeline.orchestration.pools import ensure_pools

    if Pool.get_pool("warehouse") is not None:  # the plugin may have made it already
        Pool.delete_pool("warehouse")
    assert ensure_pools() == ["warehouse"]
    assert Pool.get_pool("warehouse").slots == 1
    assert ensure_pools() == []
    Pool.create_or_update_pool("warehouse", 3, "resized by an operator", include_deferred=False)
    assert ensure_pools() == []
    assert Pool.get_pool("warehouse").slots == 3
    Pool.create_or_update_pool("warehouse", 1, "reset", include_deferred=False)


def test_the_package_registers_the_plugin_that_makes_the_pool() -> None:
    from importlib.metadata import entry_points

    from pipeline.orchestration.plugin import PoolListener, RecsysPlugin

    plugins = {e.name: e.value for e in entry_points(group="airflow.plugins")}
    assert plugins["recsys_nightly"] == "pipeline.orchestration.plugin:RecsysPlugin"
    assert any(isinstance(listener, PoolListener) for listener in RecsysPlugin.listeners)


def test_params_carry_a_json_schema_for_the_trigger_form(dag: Any) -> None:
    schema = {name: param.schema for name, param in dag.params.items()}
    assert set(schema) == {"run_date", "landing", "top_n", "force_reembed", "retrain", "backfill"}
    assert schema["run_date"]["format"] == "date"
    assert schema["top_n"] == {
        **schema["top_n"],
        "type": "integer",
        "minimum": 1,
        "maximum": 1000,
    }
    assert schema["force_reembed"]["type"] == schema["retrain"]["type"] == "boolean"
    assert schema["backfill"]["type"] == "boolean"


def test_the_night_lock_is_taken_by_a_setup_task_and_always_released_by_a_teardown(
    dag: Any,
) -> None:
    tasks = {t.task_id: t for t in dag.tasks}
    claim, release = tasks["claim_night"], tasks["release_night"]
    assert claim.is_setup and release.is_teardown
    assert claim.upstream_task_ids == set()
    assert "ingest" in claim.downstream_task_ids and "claim_night" in release.upstream_task_ids
    assert "publish" in release.upstream_task_ids


@pytest.mark.parametrize(
    ("conf", "ok"),
    [
        ({"run_date": "2026-09-28", "top_n": 20}, True),
        ({}, True),
        ({"run_date": "2026-13-01"}, False),
        ({"top_n": 0}, False),
        ({"retrain": "yes"}, False),
    ],
)
def test_params_validate_what_the_ui_sends(dag: Any, conf: dict, ok: bool) -> None:
    params = copy.deepcopy(dag.params)
    if ok:
        params.update(conf)
        params.validate()
    else:
        with pytest.raises(Exception, match="Invalid input"):
            params.update(conf)  # ParamsDict validates each value as it is set
            params.validate()


def test_the_run_for_day_d_starts_after_d_ends_and_processes_d(dag: Any) -> None:
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import DataInterval, TimeRestriction

    timetable = coerce_to_core_timetable(dag.timetable)  # what the scheduler runs
    last = DataInterval(datetime(2026, 9, 26, 2, tzinfo=UTC), datetime(2026, 9, 27, 2, tzinfo=UTC))
    nxt = timetable.next_dagrun_info(
        last_automated_data_interval=last,
        restriction=TimeRestriction(earliest=None, latest=None, catchup=False),
    )
    day = nxt.logical_date.date()
    assert nxt.run_after >= datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
    assert nxt.data_interval.start.date() == day
    from pipeline.orchestration.context import night_params

    assert night_params({}, nxt.logical_date).run_date == day


WALL_CLOCK = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("timezone", "utcnow"),
    ("pendulum", "now"),
}
AUDIT_ONLY = "# audit metadata only"  # recorded, never deciding data
# the one read that decides data: a landing file still being written waits (landing/ingest.py)
SETTLE = "# landing settle window"


def wall_clock_reads(path: Path, root: Path = PROJECT_ROOT) -> list[str]:
    source = path.read_text()
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            line = lines[node.lineno - 1]
            settle = SETTLE in line and path.name == "ingest.py"
            if (name, node.func.attr) in WALL_CLOCK and AUDIT_ONLY not in line and not settle:
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_no_task_code_reads_the_wall_clock() -> None:
    files = [*DAGS_FOLDER.glob("*.py"), *(PROJECT_ROOT / "pipeline").rglob("*.py")]
    assert len(files) > 30
    assert [hit for f in files for hit in wall_clock_reads(f)] == []
    sql = [*(PROJECT_ROOT / "dbt_project").rglob("*.sql")]
    assert not [f for f in sql if "current_timestamp" in f.read_text() or "now()" in f.read_text()]


def test_the_wall_clock_check_finds_a_read(tmp_path: Path) -> None:
    sample = tmp_path / "clock.py"
    sample.write_text(
        "import time\nfrom datetime import date\nday = date.today()\nt = time.time()\n"
    )
    assert wall_clock_reads(sample, tmp_path) == ["clock.py:3", "clock.py:4"]
