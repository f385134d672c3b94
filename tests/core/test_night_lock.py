"""The night lock: one writer of a home at a time, stale holders taken over, the holder named."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.core.night_lock import AIRFLOW, NightBusy, NightLock, this_process

HOLD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from pipeline.core.night_lock import NightLock, this_process
    lock = NightLock(Path(sys.argv[1]))
    with lock.hold(this_process("recsys run", "2026-09-28")):
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)


def holder_process(home: Path, seconds: float) -> subprocess.Popen:
    """A process that holds the night for `seconds`; returns once it holds it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(home), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


@pytest.fixture
def held(tmp_path: Path) -> Iterator[subprocess.Popen]:
    proc = holder_process(tmp_path, 60)
    yield proc
    proc.kill()
    proc.wait()


def test_a_second_writer_fails_at_once_naming_the_holder(
    tmp_path: Path, held: subprocess.Popen
) -> None:
    with (
        pytest.raises(NightBusy) as caught,
        NightLock(tmp_path).hold(this_process("recsys forget")),
    ):
        pytest.fail("the lock was given twice")
    message = str(caught.value)
    assert "`recsys run` for run date 2026-09-28" in message
    assert f"pid {held.pid}" in message and "since " in message


def test_a_writer_that_may_wait_gets_the_night_when_the_holder_finishes(tmp_path: Path) -> None:
    proc = holder_process(tmp_path, 1.0)
    with NightLock(tmp_path).hold(this_process("recsys transform"), wait_s=30) as me:
        assert me.pid == os.getpid()
        assert proc.wait(timeout=30) == 0  # the first holder finished its block cleanly
    assert NightLock(tmp_path).lease() is None  # a process's lease ends with it


def test_the_lease_of_a_killed_holder_is_taken_over(tmp_path: Path) -> None:
    proc = holder_process(tmp_path, 60)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    lock = NightLock(tmp_path)
    assert lock.lease() is not None and lock.lease().pid == proc.pid  # left behind
    with lock.hold(this_process("recsys run")) as me:
        assert lock.lease() == me


def test_an_airflow_runs_lease_holds_between_its_tasks_and_ends_with_its_teardown(
    tmp_path: Path,
) -> None:
    lock = NightLock(tmp_path)
    run = f"{AIRFLOW}:recsys_nightly:scheduled__2026-09-28T00:00:00+00:00"
    with lock.hold(this_process("airflow ingest", "2026-09-28", run), keep_lease=True) as first:
        pass
    assert lock.lease() == first  # between two tasks, no process holds the OS lock
    cli = this_process("recsys run")  # the CLI cannot ask Airflow: the lease stands
    with pytest.raises(NightBusy, match="`recsys unlock` ends its lease"), lock.hold(cli):
        pass
    with lock.hold(this_process("airflow transform", "2026-09-28", run), keep_lease=True) as next_:
        assert next_.since == first.since  # the night's first claim
    other = this_process("airflow ingest", "2026-09-29", f"{AIRFLOW}:recsys_nightly:other")
    with pytest.raises(NightBusy), lock.hold(other, alive=lambda lease: True):
        pass
    assert lock.release("airflow:recsys_nightly:someone else") is None  # not theirs
    assert lock.release(run) is not None
    assert lock.lease() is None


def test_a_finished_airflow_runs_lease_is_taken_over_by_the_next_run(tmp_path: Path) -> None:
    lock = NightLock(tmp_path)
    gone = this_process("airflow ingest", "2026-09-28", f"{AIRFLOW}:recsys_nightly:failed")
    with lock.hold(gone, keep_lease=True):
        pass
    nxt = this_process("airflow ingest", "2026-09-29", f"{AIRFLOW}:recsys_nightly:next")
    with lock.hold(nxt, keep_lease=True, alive=lambda lease: False):
        assert lock.lease().owner == nxt.owner


def test_the_lock_is_reentrant_within_a_process(tmp_path: Path) -> None:
    lock = NightLock(tmp_path)
    with lock.hold(this_process("recsys run")) as outer:
        with lock.hold(this_process("recsys ingest")) as inner:
            assert inner == outer
        assert lock.lease() == outer  # the inner block left the night held
    assert lock.lease() is None


def test_unlock_refuses_while_a_process_works_and_ends_an_orphaned_lease(
    tmp_path: Path, held: subprocess.Popen
) -> None:
    with pytest.raises(NightBusy, match="not unlocked"):
        NightLock(tmp_path).unlock()
    held.kill()
    held.wait()
    ended = NightLock(tmp_path).unlock()
    assert ended is not None and ended.pid == held.pid
    assert NightLock(tmp_path).lease() is None


def test_a_torn_lease_file_is_no_lease(tmp_path: Path) -> None:
    lock = NightLock(tmp_path)
    lock.folder.mkdir(parents=True)
    lock.lease_path.write_text('{"owner": "proc', encoding="utf-8")
    with lock.hold(this_process("recsys run")) as me:
        assert lock.lease() == me
