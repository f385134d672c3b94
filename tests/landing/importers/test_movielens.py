from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from pipeline.clean.transform import transform
from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.landing.importers.movielens import import_movielens
from pipeline.landing.ingest import ingest
from tests.landing.importers.conftest import dataset, read_rows, slice_files


def test_100k_maps_movies_users_and_ratings(tmp_path: Path) -> None:
    src = slice_files(
        dataset("ml-100k"),
        tmp_path / "src",
        {"u.genre": None, "u.item": 5, "u.user": 3, "u.data": 10},
    )
    summary = import_movielens(src, tmp_path / "landing")
    assert summary["rows"] == {"users": 3, "items": 5, "interactions": 10}

    toy_story = read_rows(tmp_path / "landing" / "items.csv")[0]
    assert toy_story == {
        "item_id": "1",
        "title": "Toy Story (1995)",
        "description": "Genres: Animation, Children's, Comedy.",
        "category": "Animation",
        "release_ts": "1995-01-01T00:00:00Z",
    }
    user_1 = read_rows(tmp_path / "landing" / "users.csv")[0]
    assert (user_1["age"], user_1["gender"], user_1["occupation"], user_1["zip_code"]) == (
        "24",
        "M",
        "technician",
        "85711",
    )
    first = read_rows(tmp_path / "landing" / "interactions.csv")[0]
    assert first == {
        "user_id": "196",
        "item_id": "242",
        "event_ts": "1997-12-04T15:55:49Z",
        "rating": "3",
    }
    manifest = json.loads((tmp_path / "landing" / "manifest.json").read_text())
    assert manifest["source"] == "movielens-100k"
    assert manifest["run_date"] == summary["run_date"]


def test_latest_small_puts_user_tags_in_item_and_user_text(tmp_path: Path) -> None:
    src = slice_files(
        dataset("ml-latest-small"),
        tmp_path / "src",
        {"movies.csv": 3, "ratings.csv": 5, "tags.csv": 4},
    )
    import_movielens(src, tmp_path / "landing")
    items = {r["item_id"]: r for r in read_rows(tmp_path / "landing" / "items.csv")}
    assert items["1"]["title"] == "Toy Story (1995)"
    assert items["1"]["description"].startswith(
        "Genres: Adventure, Animation, Children, Comedy, Fantasy."
    )
    users = {r["user_id"]: r for r in read_rows(tmp_path / "landing" / "users.csv")}
    assert users["2"]["profile_text"] == "Tags: Highly quotable, funny, will ferrell."
    assert users["1"]["profile_text"] == ""  # rated, never tagged


def test_import_ingest_transform_on_100k_slice(tmp_path: Path) -> None:
    src = slice_files(
        dataset("ml-100k"),
        tmp_path / "src",
        {"u.genre": None, "u.item": None, "u.user": None, "u.data": 3000},
    )
    summary = import_movielens(src, tmp_path / "landing")
    settings = Settings(home=tmp_path / "home", landing=tmp_path / "landing")
    ingest(settings)
    result = transform(settings, date.fromisoformat(summary["run_date"]))
    interactions = result["tables"]["interactions"]
    assert interactions["raw"] == interactions["clean"] == 3000
    assert result["tables"]["users"]["clean"] == 943


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        (lambda d: None, "is not a MovieLens folder"),
        (lambda d: (d / "u.data").write_text("1\t2\t3\t4\n"), "is missing u.genre"),
        (
            lambda d: (d / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,2,3\n"),
            r"ratings\.csv:2: malformed line",
        ),
    ],
)
def test_bad_folders_and_lines_get_clear_errors(tmp_path: Path, prepare, message: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    prepare(src)
    (src / "movies.csv").write_text("movieId,title,genres\n")
    with pytest.raises(RecsysError, match=message):
        import_movielens(src, tmp_path / "landing")
