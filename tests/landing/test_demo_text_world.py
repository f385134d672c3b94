"""`recsys demo-data --taste text`: the world whose taste lives in item and profile text."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from itertools import pairwise
from pathlib import Path

import pytest

from pipeline.core.errors import RecsysError
from pipeline.landing.demo_data import generate
from pipeline.landing.demo_text_world import SUBJECTS, TextTasteShop, world_of
from tests.landing.test_demo_data import digest


def test_same_seed_writes_the_same_bytes_and_another_world_than_themes(tmp_path: Path) -> None:
    generate(tmp_path / "a", seed=3, scale=0.05, world=TextTasteShop)
    generate(tmp_path / "b", seed=3, scale=0.05, world=TextTasteShop)
    generate(tmp_path / "c", seed=3, scale=0.05)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a")["items.csv"] != digest(tmp_path / "c")["items.csv"]
    text = json.loads((tmp_path / "a" / "manifest.json").read_text())
    themes = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert (text["taste"], themes["taste"]) == ("text", "themes")
    # the default world's defects, every kind planted
    assert {k for t in text["planted"].values() for k in t} == {
        k for t in themes["planted"].values() for k in t
    }
    assert all(count > 0 for table in text["planted"].values() for count in table.values())


def test_an_unknown_taste_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RecsysError, match="unknown demo taste 'colour'"):
        world_of("colour")
    assert world_of("text") is TextTasteShop


@pytest.fixture(scope="module")
def shop() -> tuple[TextTasteShop, list[dict], list[dict], list[dict]]:
    world = TextTasteShop(date(2026, 11, 27), seed=5, scale=0.2)
    users = world.users()
    items = world.items()
    return world, users, items, world.events(users, items)


def test_the_subject_is_said_only_in_text_and_the_category_does_not_tell_it(shop) -> None:
    world, _, items, _ = shop
    for row, subject in zip(items, world.item_subject, strict=True):
        word = SUBJECTS[subject][1]
        assert word in row["description"] and word.title() in row["title"]
    # product types spread over subjects: a category says nothing of taste
    by_category = Counter(
        (row["category"], s) for row, s in zip(items, world.item_subject, strict=True)
    )
    assert max(by_category.values()) < 0.05 * len(items)


def test_users_shop_in_sequences_that_follow_the_last_products_subject(shop) -> None:
    world, users, items, events = shop
    subject_of = {row["item_id"]: s for row, s in zip(items, world.item_subject, strict=True)}
    by_user: dict[str, list[tuple[str, int]]] = {}
    for e in events:
        by_user.setdefault(e["user_id"], []).append((e["event_ts"], subject_of[e["item_id"]]))
    same = pairs = 0
    for seq in by_user.values():
        subjects = [s for _, s in sorted(seq)]
        same += sum(a == b for a, b in pairwise(subjects))
        pairs += len(subjects) - 1
    # by chance two products share one of ~80 subjects about 1 time in 80
    assert same / pairs > 0.4
    # the products released on the run date (and later) have text and no events
    new = {row["item_id"] for row in items[world.size.items :]}
    assert new and not new & {e["item_id"] for e in events}
    # most users say what they love in their profile, in words of the items' text
    said = [u["profile_text"] for u in users if u["profile_text"]]
    assert len(said) > 0.6 * len(users)
    for user, loved in zip(users, world.user_subjects, strict=True):
        if user["profile_text"]:
            assert all(SUBJECTS[s][1] in user["profile_text"] for s in loved)
