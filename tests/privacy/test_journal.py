"""The erasure journal: a forget that stops half-way stays pending (and the night refuses to run)
until a rerun with the same ids, or `--resume`, finishes it; a request file keeps the ids out of
whatever triggers it."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import duckdb
import pytest

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.privacy.erasure_requests import request_path
from pipeline.privacy.forget import forget, resume_all
from pipeline.privacy.journal import STEPS, check_no_pending_erasure, pending_erasures
from tests.conftest import Night
from tests.privacy.homes import copy_home
from tests.privacy.search import search_home
from tests.test_cli import recsys


@pytest.fixture
def shop(demo_night: Night, tmp_path: Path) -> tuple[Settings, str]:
    return copy_home(demo_night, tmp_path / "home")


def journal(settings: Settings) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(
            "select erasure_id, status, steps, request_id from meta.erasures order by erased_at"
        ).fetchall()
    finally:
        con.close()


def test_a_forget_stopped_half_way_stays_pending_until_rerun_with_the_same_ids(
    shop: tuple[Settings, str],
) -> None:
    settings, victim = shop
    # a work export forget cannot read: it stops at its work-file step, after the warehouse
    broken = settings.home / "train" / "2026-01-01" / "broken.parquet"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not parquet")
    with pytest.raises(Exception, match=r"(?i)parquet"):
        forget(settings, [victim], reason="ticket 1")
    ((erasure_id, status, steps, _),) = journal(settings)
    assert status == "pending"
    assert steps == ["warehouse", "transform", "publish", "compact"]
    (pending,) = pending_erasures(settings)
    assert pending.remaining == ["work_files", "landing", "mlflow"]
    with pytest.raises(RecsysError, match="recsys forget --resume"):
        check_no_pending_erasure(settings)
    # the journal keeps hashes only: the rest needs the ids, and says so
    with pytest.raises(RecsysError, match="needs the users' ids"):
        resume_all(settings)
    # another erasure waits for this one
    with pytest.raises(RecsysError, match=f"{erasure_id} of 1 other user"):
        forget(settings, ["u-someone-else"])

    broken.unlink()
    summary = forget(settings, [victim])
    assert summary["erasure_id"] == erasure_id  # resumed, not a new erasure
    assert summary["newly_listed"] == 0
    assert summary["rows_removed"]["raw.interactions"] >= 1  # the journal's counts, all steps
    assert journal(settings) == [(erasure_id, "done", list(STEPS), None)]
    check_no_pending_erasure(settings)
    assert search_home(settings.warehouse_path.parent / "landing", [victim]) == []


def test_resume_finishes_steps_that_need_no_ids_and_a_night_may_run_after(
    shop: tuple[Settings, str],
) -> None:
    settings, victim = shop
    done = forget(settings, [victim])
    # as if killed after its compaction was marked: only id-free steps are left... but the
    # file steps follow; leave only the compaction to redo
    con = duckdb.connect(str(settings.warehouse_path))
    con.execute(
        "update meta.erasures set status = 'pending', steps = list_filter(steps, lambda s: s <> 'compact')"
    )
    con.close()
    with pytest.raises(RecsysError, match="unfinished"):
        check_no_pending_erasure(settings)
    (finished,) = resume_all(settings)
    assert finished["erasure_id"] == done["erasure_id"]
    assert pending_erasures(settings) == []


def test_a_request_file_is_private_names_the_ids_once_and_goes_when_the_erasure_is_done(
    shop: tuple[Settings, str],
) -> None:
    settings, victim = shop
    home = ["--home", str(settings.home)]
    written = recsys("forget-request", victim, "--reason", "ticket 9", *home)
    assert written.returncode == 0, written.stderr
    request_id = json.loads(written.stdout.strip().splitlines()[-1])["request"]
    path = request_path(settings, request_id)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert search_home(settings.home, [victim]) != []  # the search sees the ids in the file

    ran = recsys("forget", "--request", request_id, *home)
    assert ran.returncode == 0, ran.stderr
    assert victim not in ran.stdout + ran.stderr
    assert not path.exists()
    ((_, status, _, recorded),) = journal(settings)
    assert (status, recorded) == ("done", request_id)

    for args, error in (
        (["--request", request_id], "no erasure request"),
        (["--request", "../../x"], "not an erasure request id"),
        ([victim, "--resume"], "one of them"),
    ):
        refused = recsys("forget", *args, *home)
        assert refused.returncode == 1 and error in refused.stderr, refused.stderr
        assert refused.stderr.count("\n") == 1  # one error line, no traceback
