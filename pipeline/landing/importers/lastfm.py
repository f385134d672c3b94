"""`recsys import lastfm SRC DEST`: HetRec 2011 Last.fm, with its friend graph.

Items are artists: the title is the artist's name, the description its most used tags, the category
its single most used tag. Users: profile text from the tags the user assigned. Plays are implicit
events (no rating) with the play count kept as the extra column `play_count`. Friends are undirected
pairs, each written once.

**Event times.** The dataset has no time for plays, only for tag assignments (day, month, year).
Every play gets one by this rule, so runs and temporal holdouts stay meaningful:

1. a (user, artist) pair the user tagged: the first day the user tagged that artist;
2. any other pair of a user who tagged something: the user's first tagging day (plays are counted
   up to the crawl, so untagged listening is history, not news);
3. a user who never tagged: the dataset's first tagging day.

Tag dates before 2002 (Last.fm's founding; five rows carry years like 1956) are data errors and are
ignored by this rule. The run date is the last event's date, so a 7-day holdout holds the artists
users newly tagged in the final week of the crawl.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date
from pathlib import Path
from typing import Any

from pipeline.core.errors import RecsysError
from pipeline.landing.importers.common import read_delimited, require_file, write_landing

NAME = "HetRec 2011 Last.fm"
EARLIEST_VALID_TAG_YEAR = 2002
MAX_TAGS = 5


def _tag_date(day: str, month: str, year: str) -> date | None:
    try:
        found = date(int(year), int(month), int(day))
    except ValueError:
        return None
    return found if found.year >= EARLIEST_VALID_TAG_YEAR else None


def _iso(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _top(counter: Counter[str]) -> list[str]:
    return [tag for tag, _ in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_TAGS]]


def import_lastfm(src: Path, dest: Path) -> dict[str, Any]:
    if not src.is_dir():
        raise RecsysError(f"{src} is not a folder")
    tag_names = {
        p[0]: " ".join(p[1].split())
        for _, p in read_delimited(
            require_file(src, "tags.dat", NAME), sep="\t", fields=2, encoding="latin-1", header=True
        )
    }
    artist_tags: dict[str, Counter[str]] = defaultdict(Counter)
    user_tags: dict[str, Counter[str]] = defaultdict(Counter)
    pair_first: dict[tuple[str, str], date] = {}
    user_first: dict[str, date] = {}
    for _, (user, artist, tag_id, day, month, year) in read_delimited(
        require_file(src, "user_taggedartists.dat", NAME), sep="\t", fields=6, header=True
    ):
        tag = tag_names.get(tag_id)
        if tag:
            artist_tags[artist][tag] += 1
            user_tags[user][tag] += 1
        when = _tag_date(day, month, year)
        if when is not None:
            pair_first[(user, artist)] = min(when, pair_first.get((user, artist), when))
            user_first[user] = min(when, user_first.get(user, when))
    if not user_first:
        raise RecsysError(
            f"{src}/user_taggedartists.dat has no valid tag date: cannot time the plays"
        )
    dataset_first = min(user_first.values())

    items = []
    for _, (artist_id, name, _url, _picture) in read_delimited(
        require_file(src, "artists.dat", NAME), sep="\t", fields=4, header=True
    ):
        tags = _top(artist_tags.get(artist_id, Counter()))
        items.append(
            {
                "item_id": artist_id,
                "title": name,
                "category": tags[0] if tags else "",
                "description": f"Tags: {', '.join(tags)}." if tags else "",
            }
        )

    events = []
    for _, (user, artist, weight) in read_delimited(
        require_file(src, "user_artists.dat", NAME), sep="\t", fields=3, header=True
    ):
        when = pair_first.get((user, artist)) or user_first.get(user) or dataset_first
        events.append(
            {
                "user_id": user,
                "item_id": artist,
                "event_ts": _iso(when),
                "rating": "",
                "play_count": weight,
            }
        )

    pairs: set[tuple[str, str]] = set()
    for _, (user, friend) in read_delimited(
        require_file(src, "user_friends.dat", NAME), sep="\t", fields=2, header=True
    ):
        pairs.add((min(user, friend, key=_key), max(user, friend, key=_key)))
    edges = [
        {"user_id": a, "friend_id": b}
        for a, b in sorted(pairs, key=lambda p: (_key(p[0]), _key(p[1])))
    ]

    user_ids = sorted(
        {e["user_id"] for e in events} | {u for pair in pairs for u in pair}, key=_key
    )
    users = [
        {
            "user_id": u,
            "profile_text": f"Tags: {', '.join(_top(user_tags[u]))}." if user_tags.get(u) else "",
        }
        for u in user_ids
    ]
    return write_landing(
        dest,
        source="lastfm-hetrec2011",
        src=src,
        tables={
            "users": (users, ["user_id", "profile_text"]),
            "items": (items, ["item_id", "title", "description", "category"]),
            "interactions": (events, ["user_id", "item_id", "event_ts", "rating", "play_count"]),
            "social_edges": (edges, ["user_id", "friend_id", "since_ts"]),
        },
        notes={
            "event_time_rule": "first tag date of the pair, else the user's first tag date, else the dataset's first"
        },
    )


def _key(value: str) -> tuple[int, int | str]:
    return (0, int(value)) if value.isdigit() else (1, value)
