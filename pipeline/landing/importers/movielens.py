"""`recsys import movielens SRC DEST`: MovieLens 100K (`u.data`) or latest-small (`ratings.csv`).

Items: the title is the title; the description lists the genres and, in latest-small, the tags
users gave the movie (most used first); the category is the first genre. Users: age, gender and
occupation where present (100K; its zip code is kept as an extra column); profile text from the tags
the user wrote (latest-small). Events: every rating, its unix time made ISO-8601 UTC.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.core.errors import RecsysError
from pipeline.landing.importers.common import (
    read_csv_rows,
    read_delimited,
    require_file,
    unix_to_iso,
    write_landing,
)

USER_COLUMNS = ["user_id", "age", "gender", "occupation", "profile_text", "zip_code"]
ITEM_COLUMNS = ["item_id", "title", "description", "category", "release_ts"]
EVENT_COLUMNS = ["user_id", "item_id", "event_ts", "rating"]
MAX_TAGS = 10  # tags in a text: the most used ones carry the meaning; the tail is noise


def describe(genres: list[str], tags: list[str]) -> str:
    parts = [
        f"Genres: {', '.join(genres)}." if genres else "",
        f"Tags: {', '.join(tags)}." if tags else "",
    ]
    return " ".join(p for p in parts if p)


def top_tags(counter: Counter[str]) -> list[str]:
    return [tag for tag, _ in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_TAGS]]


def import_movielens(src: Path, dest: Path) -> dict[str, Any]:
    if not src.is_dir():
        raise RecsysError(f"{src} is not a folder")
    if (src / "u.data").is_file():
        return _import_100k(src, dest)
    if (src / "ratings.csv").is_file():
        return _import_latest(src, dest)
    raise RecsysError(
        f"{src} is not a MovieLens folder: expected u.data (100K) or ratings.csv (latest-small)"
    )


def _import_100k(src: Path, dest: Path) -> dict[str, Any]:
    name = "MovieLens 100K"
    genre_file = require_file(src, "u.genre", name)
    genres = [
        parts[0] for _, parts in read_delimited(genre_file, sep="|", fields=2, encoding="latin-1")
    ]
    items = []
    for _, parts in read_delimited(
        require_file(src, "u.item", name), sep="|", fields=5 + len(genres), encoding="latin-1"
    ):
        flags = [
            g for g, flag in zip(genres, parts[5:], strict=True) if flag == "1" and g != "unknown"
        ]
        released = ""
        if parts[2]:
            try:
                released = datetime.strptime(parts[2], "%d-%b-%Y").strftime("%Y-%m-%dT00:00:00Z")
            except ValueError:
                released = parts[2]  # dbt nulls an unparseable release date and counts it
        items.append(
            {
                "item_id": parts[0],
                "title": parts[1],
                "description": describe(flags, []),
                "category": flags[0] if flags else "",
                "release_ts": released,
            }
        )
    users = [
        {"user_id": p[0], "age": p[1], "gender": p[2], "occupation": p[3], "zip_code": p[4]}
        for _, p in read_delimited(
            require_file(src, "u.user", name), sep="|", fields=5, encoding="latin-1"
        )
    ]
    events = [
        {"user_id": p[0], "item_id": p[1], "rating": p[2], "event_ts": unix_to_iso(p[3])}
        for _, p in read_delimited(require_file(src, "u.data", name), sep="\t", fields=4)
    ]
    return write_landing(
        dest,
        source="movielens-100k",
        src=src,
        tables={
            "users": (users, USER_COLUMNS),
            "items": (items, ITEM_COLUMNS),
            "interactions": (events, EVENT_COLUMNS),
        },
    )


def _import_latest(src: Path, dest: Path) -> dict[str, Any]:
    name = "MovieLens latest-small"
    movie_tags: dict[str, Counter[str]] = defaultdict(Counter)
    user_tags: dict[str, Counter[str]] = defaultdict(Counter)
    tags_file = src / "tags.csv"
    if tags_file.is_file():
        for _, row in read_csv_rows(tags_file, ["userId", "movieId", "tag"]):
            tag = " ".join(row["tag"].split())
            if tag:
                movie_tags[row["movieId"]][tag] += 1
                user_tags[row["userId"]][tag] += 1
    items = []
    for _, row in read_csv_rows(
        require_file(src, "movies.csv", name), ["movieId", "title", "genres"]
    ):
        genres = [g for g in row["genres"].split("|") if g and g != "(no genres listed)"]
        items.append(
            {
                "item_id": row["movieId"],
                "title": row["title"],
                "category": genres[0] if genres else "",
                "description": describe(
                    genres, top_tags(movie_tags.get(row["movieId"], Counter()))
                ),
            }
        )
    events = [
        {
            "user_id": row["userId"],
            "item_id": row["movieId"],
            "rating": row["rating"],
            "event_ts": unix_to_iso(row["timestamp"]),
        }
        for _, row in read_csv_rows(
            require_file(src, "ratings.csv", name), ["userId", "movieId", "rating", "timestamp"]
        )
    ]
    user_ids = sorted({e["user_id"] for e in events} | set(user_tags), key=_numeric_first)
    users = [
        {
            "user_id": u,
            "profile_text": f"Tags: {', '.join(top_tags(user_tags[u]))}." if u in user_tags else "",
        }
        for u in user_ids
    ]
    return write_landing(
        dest,
        source="movielens-latest-small",
        src=src,
        tables={
            "users": (users, USER_COLUMNS),
            "items": (items, ITEM_COLUMNS),
            "interactions": (events, EVENT_COLUMNS),
        },
    )


def _numeric_first(value: str) -> tuple[int, int | str]:
    return (0, int(value)) if value.isdigit() else (1, value)
