"""`recsys import amazon`: the leave-one-out layout of an Amazon reviews category."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.core.errors import RecsysError
from pipeline.landing.importers.amazon import import_amazon
from tests.landing.importers.conftest import read_rows

HEADER = "user_id\titem_id\ttime"


def amazon_folder(root: Path) -> Path:
    """Two users, three products: train holds all but each user's last two events."""
    src = root / "office"
    src.mkdir()
    (src / "train.csv").write_text(f"{HEADER}\n1\t1\t970185600\n1\t2\t980185600\n2\t2\t983404800\n")
    (src / "dev.csv").write_text(
        f"{HEADER}\tneg_items\n1\t3\t990000000\t[2]\n2\t1\t990000000\t[3]\n"
    )
    (src / "test.csv").write_text(
        f"{HEADER}\tneg_items\n1\t2\t995000000\t[1]\n2\t3\t996000000\t[1]\n"
    )
    (src / "Office.text").write_text(
        "id\ttext\nB001\tTI-30X  scientific calculator Texas Instruments\n"
        "B002\tHP 61 ink cartridge HP\nB003\tSwingline stapler\n"
    )
    (src / "Office.item2index").write_text("B001\t1\nB002\t2\nB003\t3\n")
    return src


def test_train_and_dev_are_landed_with_their_dates_and_test_is_held_out(tmp_path: Path) -> None:
    summary = import_amazon(amazon_folder(tmp_path), tmp_path / "landing")
    events = read_rows(tmp_path / "landing" / "interactions.csv")
    assert [(e["user_id"], e["item_id"], e["event_ts"]) for e in events] == [
        ("1", "B001", "2000-09-29T00:00:00Z"),
        ("1", "B002", "2001-01-22T17:46:40Z"),
        ("2", "B002", "2001-03-01T00:00:00Z"),
        ("1", "B003", "2001-05-16T08:00:00Z"),
        ("2", "B001", "2001-05-16T08:00:00Z"),
    ]
    assert all(e["rating"] == "" for e in events)  # implicit: a review says it was bought
    assert summary["run_date"] == "2001-05-16"  # the last landed event, not the held-out test
    items = read_rows(tmp_path / "landing" / "items.csv")
    assert items[0] == {
        "item_id": "B001",
        "title": "TI-30X scientific calculator Texas Instruments",
    }
    assert summary["rows"] == {"users": 2, "items": 3, "interactions": 5}


def test_with_test_lands_the_last_events_too(tmp_path: Path) -> None:
    summary = import_amazon(amazon_folder(tmp_path), tmp_path / "landing", with_test=True)
    assert summary["rows"]["interactions"] == 7
    assert summary["run_date"] == "2001-07-24"


def test_a_folder_of_another_layout_is_refused_with_what_is_missing(tmp_path: Path) -> None:
    src = amazon_folder(tmp_path)
    (src / "dev.csv").unlink()
    with pytest.raises(RecsysError, match=r"missing dev\.csv"):
        import_amazon(src, tmp_path / "landing")
    (src / "Office.text").unlink()
    with pytest.raises(RecsysError, match=r"exactly one \*\.text file, found 0"):
        import_amazon(src, tmp_path / "landing")


def test_a_split_file_with_another_header_is_refused(tmp_path: Path) -> None:
    src = amazon_folder(tmp_path)
    (src / "train.csv").write_text("user\titem\n1\t1\n")
    with pytest.raises(RecsysError, match="expected the header user_id, item_id, time"):
        import_amazon(src, tmp_path / "landing")
