from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pipeline.clean.transform import transform
from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.landing.importers.lastfm import import_lastfm
from pipeline.landing.ingest import ingest
from tests.landing.importers.conftest import dataset, read_rows, slice_files

ALL = None


@pytest.fixture(scope="module")
def lastfm_slice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Users 2..~10 with their plays, tags and friends, plus every artist and tag name."""
    tmp = tmp_path_factory.mktemp("lastfm")
    src = slice_files(
        dataset("hetrec2011-lastfm-2k"),
        tmp / "src",
        {
            "artists.dat": ALL,
            "tags.dat": ALL,
            "user_artists.dat": 400,
            "user_taggedartists.dat": 2000,
            "user_friends.dat": 60,
        },
    )
    return tmp, import_lastfm(src, tmp / "landing")


def test_plays_are_implicit_events_with_play_count_and_a_tag_date(lastfm_slice) -> None:
    tmp, _ = lastfm_slice
    events = read_rows(tmp / "landing" / "interactions.csv")
    first = events[0]
    assert (first["user_id"], first["item_id"], first["rating"], first["play_count"]) == (
        "2",
        "51",
        "",
        "13883",
    )
    # user 2 tagged artist 52 on 2009-04-01, so that play is dated then
    by_pair = {(e["user_id"], e["item_id"]): e for e in events}
    assert by_pair[("2", "52")]["event_ts"] == "2009-04-01T00:00:00Z"
    assert all(e["event_ts"].endswith("T00:00:00Z") for e in events)


def test_friends_are_undirected_pairs_written_once(lastfm_slice) -> None:
    tmp, summary = lastfm_slice
    edges = read_rows(tmp / "landing" / "social_edges.csv")
    pairs = {(e["user_id"], e["friend_id"]) for e in edges}
    assert ("2", "275") in pairs
    assert len(pairs) == len(edges) == summary["rows"]["social_edges"]
    assert not any((b, a) in pairs for a, b in pairs)


def test_artist_and_user_text_come_from_tags(lastfm_slice) -> None:
    tmp, _ = lastfm_slice
    artists = {r["item_id"]: r for r in read_rows(tmp / "landing" / "items.csv")}
    assert artists["1"]["title"] == "MALICE MIZER"
    assert len(artists) == 17632
    users = {r["user_id"]: r for r in read_rows(tmp / "landing" / "users.csv")}
    assert users["2"]["profile_text"].startswith("Tags: ")


def test_import_ingest_transform_keeps_every_row(lastfm_slice) -> None:
    tmp, summary = lastfm_slice
    settings = Settings(home=tmp / "home", landing=tmp / "landing")
    ingest(settings)
    result = transform(settings, date.fromisoformat(summary["run_date"]))
    for table in ("interactions", "items", "social_edges"):
        assert result["tables"][table]["quarantined"] == 0, table
    assert result["tables"]["interactions"]["clean"] == summary["rows"]["interactions"]


def test_missing_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "tags.dat").write_text("tagID\ttagValue\n")
    with pytest.raises(RecsysError, match=r"is missing user_taggedartists\.dat"):
        import_lastfm(tmp_path, tmp_path / "landing")
