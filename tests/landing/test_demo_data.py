from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from pipeline.core.errors import RecsysError
from pipeline.landing.demo_data import SQL_USER_ID, generate


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_seed_writes_the_same_bytes(tmp_path: Path) -> None:
    generate(tmp_path / "a", seed=3, scale=0.05)
    generate(tmp_path / "b", seed=3, scale=0.05)
    generate(tmp_path / "c", seed=4, scale=0.05)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_regenerating_into_the_same_folder_replaces_it(tmp_path: Path) -> None:
    generate(tmp_path / "a", seed=3, scale=0.05)
    first = digest(tmp_path / "a")
    generate(tmp_path / "a", seed=3, scale=0.05)
    assert digest(tmp_path / "a") == first


def test_manifest_counts_every_planted_kind(tmp_path: Path) -> None:
    summary = generate(tmp_path, seed=1, scale=0.05)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["run_date"] == summary["run_date"] == "2026-11-27"
    kinds = {kind for table in manifest["planted"].values() for kind in table}
    assert {
        "exact_duplicate",
        "conflicting_duplicate",
        "null_user_id",
        "unknown_item_id",
        "invalid_rating",
        "invalid_price",
        "invalid_age",
        "unparseable_event_ts",
        "after_run_date",
        "messy_text",
        "sql_shaped_id",
        "cold_items",
        "malformed_row",
    } <= kinds
    assert all(count > 0 for table in manifest["planted"].values() for count in table.values())
    assert SQL_USER_ID in (tmp_path / "users.csv").read_text()


def test_refuses_to_write_into_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(RecsysError, match="not empty"):
        generate(tmp_path, scale=0.05)


def test_a_sequence_of_nights_gets_one_daily_drop_per_night(tmp_path: Path) -> None:
    from datetime import date, timedelta

    summary = generate(tmp_path, seed=3, scale=0.05, run_date=date(2026, 11, 20), nights=3)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    nights = [date(2026, 11, 20) + timedelta(days=k) for k in range(3)]
    assert manifest["nights"] == [d.isoformat() for d in nights]
    assert (manifest["run_date"], summary["nights"]) == ("2026-11-20", 3)
    drops = sorted(p.parent.name for p in (tmp_path / "interactions").glob("dt=*/part-0.csv"))
    assert [f"dt={d.isoformat()}" for d in nights] == drops[-3:]
    assert drops[-4] < "dt=2026-11-20"  # the weeks before the first night, weekly
    for day in nights[:2]:  # the last day's drop also holds the unparseable and malformed rows
        with (tmp_path / "interactions" / f"dt={day.isoformat()}" / "part-0.csv").open() as f:
            rows = list(csv.DictReader(f))
        assert rows and all(r["event_ts"].startswith(day.isoformat()) for r in rows)


def test_a_shape_gives_many_users_and_items_with_few_events_each(tmp_path: Path) -> None:
    from pipeline.landing.demo_data import DemoShape

    shape = DemoShape(users=300, items=400, events_per_user=4)
    summary = generate(tmp_path / "shop", seed=2, shape=shape)
    # the planted bad rows come on top (about 20 of each)
    assert 300 <= summary["users"] <= 330
    assert 400 + 16 + 3 <= summary["items"] <= 400 + 16 + 3 + 30  # new and unreleased too
    assert summary["interactions"] < 300 * 8  # a few each, not the demo's ~33
    manifest = json.loads((tmp_path / "shop" / "manifest.json").read_text())
    assert manifest["shape"] == {"users": 300, "items": 400, "events_per_user": 4}
    with pytest.raises(RecsysError, match="at least 20 users"):
        generate(tmp_path / "bad", seed=2, shape=DemoShape(users=3))
