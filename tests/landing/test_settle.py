from __future__ import annotations

import json
import os
import time
from pathlib import Path

from pipeline.landing.folders import write_manifest
from pipeline.landing.reading import sha256_of
from pipeline.landing.settle import FileRecord, FileState, SettleRule, file_records, recorded_files
from tests.conftest import write_csv


def test_the_manifest_records_each_table_file_our_writer_finished(tmp_path: Path) -> None:
    users = write_csv(tmp_path / "users.csv", "user_id\nu1\n")
    drop = write_csv(tmp_path / "interactions" / "dt=2026-11-27" / "part-0.csv", "user_id\n")
    write_csv(tmp_path / "interactions" / "_tmp" / "part-1.csv", "being written\n")
    write_csv(tmp_path / "notes.txt", "not a table")

    write_manifest(tmp_path, {"run_date": "2026-11-27"})

    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["run_date"] == "2026-11-27"
    assert manifest["files"] == {
        "interactions/dt=2026-11-27/part-0.csv": {"bytes": 8, "sha256": sha256_of(drop)},
        "users.csv": {"bytes": 11, "sha256": sha256_of(users)},
    }
    assert recorded_files(tmp_path) == {
        drop: FileRecord(8, sha256_of(drop)),
        users: FileRecord(11, sha256_of(users)),
    }
    assert file_records(tmp_path) == manifest["files"]


def test_a_missing_or_foreign_manifest_vouches_for_nothing(tmp_path: Path) -> None:
    assert recorded_files(tmp_path) == {}
    for text in ("{not json", '["a list"]', '{"files": {"users.csv": {"bytes": "x"}}}'):
        (tmp_path / "manifest.json").write_text(text)
        assert recorded_files(tmp_path) == {}


def test_a_file_settles_by_age_or_by_a_matching_record(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "users.csv", "user_id\nu1\n")
    now = time.time()
    os.utime(path, (now - 30, now - 30))
    state = FileState.of(path)
    sha = sha256_of(path)
    young = SettleRule(60, now, {})
    vouched = SettleRule(60, now, {path: FileRecord(state.size, sha)})
    other_size = SettleRule(60, now, {path: FileRecord(state.size + 1, sha)})

    assert 29 < state.age(now) < 31
    assert not young.settled(path, state) and SettleRule(30, now, {}).settled(path, state)
    assert vouched.settled(path, state) and not other_size.settled(path, state)
    assert vouched.settled_after_read(path, state, state, state.size, sha)
    assert not vouched.settled_after_read(path, state, state, state.size, "0" * 64)
    assert not young.settled_after_read(path, state, state, state.size, sha)


def test_a_file_that_changed_while_read_is_unsettled_however_old(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "users.csv", "user_id\nu1\n")
    before = FileState.of(path)
    rule = SettleRule(0, time.time(), {})
    assert rule.settled_after_read(path, before, before, before.size, "")
    assert not rule.settled_after_read(path, before, before, before.size - 1, "")
    with path.open("a") as out:
        out.write("u2\n")
    assert not rule.settled_after_read(path, before, FileState.of(path), before.size, "")
