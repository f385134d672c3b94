"""The defects `recsys demo-data` plants in its clean world, each on rows of its own and each
counted in the manifest's `planted` (table -> kind -> rows): the cases the cleaning must catch.

A mixin of `DemoShop`: the defects draw from the shop's one random generator, in a fixed order,
so a seed writes the same files.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

MESSY_TEXTS = (
    "<p>Great for <b>beginners</b> &amp; pros alike</p>",
    "Perfect gift 🎁✨ — five stars ⭐⭐⭐⭐⭐",
    "日本語の説明：とても良い。中文描述：非常好。한국어 설명",  # noqa: RUF001 (CJK punctuation on purpose)
    "Line one\nLine two\r\nLine three, with a comma",
    'He said "wow", twice; then <br/>left',
    "Tabs\tand   many    spaces <i>here</i> &lt;3",
)
SQL_USER_ID = "'; DROP TABLE users; --"
SQL_ITEM_ID = "Robert'); DROP TABLE items;--"
UNPARSEABLE_TS = ("not a date", "2026-02-30T10:00:00Z", "31/12/2025 10:00", "yesterday", "soon")
NULL_TOKENS = ("", "  ", "NULL", "null", "None")


def iso_utc(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PlantedDefects:
    """Turns clean rows into the landing files' rows, defects planted (see the module doc)."""

    rng: np.random.Generator
    scale: float
    size: Any  # DemoSize
    run_date: date
    end: datetime
    planted: dict[str, dict[str, int]]

    def n(self, count: int) -> int:
        """A planted count at this scale (never zero: every kind is always present)."""
        return max(1, round(count * self.scale))

    def plant(self, table: str, kind: str, rows: int) -> None:
        self.planted[table][kind] = self.planted[table].get(kind, 0) + rows

    def pick(self, pool: list[int], k: int) -> list[int]:
        """Take k distinct indices out of pool (so defects never overlap)."""
        chosen = sorted(self.rng.choice(len(pool), size=k, replace=False).tolist(), reverse=True)
        return [pool.pop(i) for i in chosen]

    def mess_users(self, users: list[dict]) -> list[dict]:
        pool = list(range(len(users)))
        pool.remove(7)  # the SQL-shaped id stays clean
        # Kinds of mess in turn (users from the first, items from the third), so even a tiny
        # demo holds HTML, emoji, CJK and newlines.
        for k, i in enumerate(self.pick(pool, self.n(20))):
            users[i]["profile_text"] = (
                f"{MESSY_TEXTS[k % len(MESSY_TEXTS)]} {users[i]['profile_text']}"
            )
        self.plant("users", "messy_text", self.n(20))
        for k, i in enumerate(self.pick(pool, self.n(10))):
            users[i]["age"] = ("-3", "0", "250", "999", "abc")[k % 5]
        self.plant("users", "invalid_age", self.n(10))
        for k, i in enumerate(self.pick(pool, self.n(5))):
            users[i]["signup_ts"] = UNPARSEABLE_TS[k % len(UNPARSEABLE_TS)]
        self.plant("users", "unparseable_signup_ts", self.n(5))
        extra = [dict(users[i]) for i in self.pick(pool, self.n(10))]
        self.plant("users", "exact_duplicate", len(extra))
        for i in self.pick(pool, self.n(3)):
            extra.append({**users[i], "profile_text": "A conflicting second version of this user."})
        self.plant("users", "conflicting_duplicate", self.n(3))
        for k in range(self.n(6)):
            extra.append({**users[0], "user_id": NULL_TOKENS[k % len(NULL_TOKENS)]})
        self.plant("users", "null_user_id", self.n(6))
        return self._interleave(users, extra)

    def mess_items(self, items: list[dict]) -> list[dict]:
        pool = list(range(self.size.items))  # cold and future items stay clean
        pool.remove(11)
        for k, i in enumerate(self.pick(pool, self.n(30))):
            items[i]["description"] = (
                f"{MESSY_TEXTS[(k + 2) % len(MESSY_TEXTS)]} {items[i]['description']}"
            )
        self.plant("items", "messy_text", self.n(30))
        for k, i in enumerate(self.pick(pool, self.n(8))):
            items[i]["price"] = ("-5", "-0.01", "-120.50", "free")[k % 4]
        self.plant("items", "invalid_price", self.n(8))
        for i in self.pick(pool, self.n(5)):
            items[i]["price"] = "9999999.99"
        self.plant("items", "price_outlier", self.n(5))
        for k, i in enumerate(self.pick(pool, self.n(4))):
            items[i]["release_ts"] = UNPARSEABLE_TS[k % len(UNPARSEABLE_TS)]
        self.plant("items", "unparseable_release_ts", self.n(4))
        extra = [dict(items[i]) for i in self.pick(pool, self.n(8))]
        self.plant("items", "exact_duplicate", len(extra))
        for i in self.pick(pool, self.n(3)):
            extra.append({**items[i], "title": items[i]["title"] + " (second edition)"})
        self.plant("items", "conflicting_duplicate", self.n(3))
        for k in range(self.n(5)):
            extra.append({**items[1], "item_id": NULL_TOKENS[k % len(NULL_TOKENS)]})
        self.plant("items", "null_item_id", self.n(5))
        for k in range(self.n(3)):
            extra.append({**items[2], "item_id": f"i9{k:04d}", "title": ("", " ", "NULL")[k % 3]})
        self.plant("items", "null_title", self.n(3))
        return self._interleave(items, extra)

    def mess_events(self, events: list[dict], items: list[dict]) -> list[dict]:
        pool = list(range(len(events)))
        rated = [i for i in pool if events[i]["rating"]]
        bad_ratings = self.pick(rated, self.n(30))
        for k, i in enumerate(bad_ratings):
            events[i]["rating"] = ("7", "0", "-1", "5.5", "10", "3.7")[k % 6]
        self.plant("interactions", "invalid_rating", len(bad_ratings))
        pool = sorted(set(pool) - set(bad_ratings))
        extra = [dict(events[i]) for i in self.pick(pool, self.n(200))]
        self.plant("interactions", "exact_duplicate", len(extra))
        rated = [i for i in pool if events[i]["rating"]]
        for i in self.pick(rated, self.n(10)):
            other = 1.0 if float(events[i]["rating"]) > 2.5 else 5.0
            extra.append({**events[i], "rating": f"{other:g}"})
            pool.remove(i)
        self.plant("interactions", "conflicting_duplicate", self.n(10))

        def fresh(**change: str) -> dict[str, str]:
            base = events[pool[int(self.rng.integers(len(pool)))]]
            return {
                **base,
                "event_ts": iso_utc(self.end - timedelta(days=3, seconds=len(extra))),
                **change,
            }

        for k in range(self.n(20)):
            extra.append(fresh(user_id=NULL_TOKENS[k % len(NULL_TOKENS)]))
        self.plant("interactions", "null_user_id", self.n(20))
        for k in range(self.n(20)):
            extra.append(fresh(item_id=NULL_TOKENS[k % len(NULL_TOKENS)]))
        self.plant("interactions", "null_item_id", self.n(20))
        for k in range(self.n(25)):
            extra.append(fresh(user_id=f"ghost-user-{k}"))
        self.plant("interactions", "unknown_user_id", self.n(25))
        for k in range(self.n(25)):
            extra.append(fresh(item_id=f"ghost-item-{k}"))
        self.plant("interactions", "unknown_item_id", self.n(25))
        for k in range(self.n(15)):
            extra.append(fresh(event_ts=UNPARSEABLE_TS[k % len(UNPARSEABLE_TS)]))
        self.plant("interactions", "unparseable_event_ts", self.n(15))
        for k in range(self.n(150)):
            later = self.end + timedelta(minutes=1 + 47 * k)  # late drops: after the run date
            extra.append(
                fresh(event_ts=iso_utc(later), item_id=items[k % self.size.items]["item_id"])
            )
        self.plant("interactions", "after_run_date", self.n(150))
        return self._interleave(events, extra)

    def mess_edges(self, edges: list[tuple[str, str, datetime]]) -> list[tuple]:
        pool = list(range(len(edges)))
        extra: list[tuple] = [
            (b, a, s) for a, b, s in (edges[i] for i in self.pick(pool, self.n(30)))
        ]
        self.plant("social_edges", "reversed_duplicate", self.n(30))
        extra += [edges[i] for i in self.pick(pool, self.n(10))]
        self.plant("social_edges", "exact_duplicate", self.n(10))
        extra += [(edges[i][0], edges[i][0], edges[i][2]) for i in self.pick(pool, self.n(5))]
        self.plant("social_edges", "self_loop", self.n(5))
        extra += [
            (edges[i][0], f"ghost-friend-{i}", edges[i][2]) for i in self.pick(pool, self.n(8))
        ]
        self.plant("social_edges", "unknown_friend_id", self.n(8))
        extra += [(edges[i][0], None, edges[i][2]) for i in self.pick(pool, self.n(4))]
        self.plant("social_edges", "null_friend_id", self.n(4))
        return self._interleave(edges, extra)

    def _interleave(self, rows: list, extra: list) -> list:
        """Scatter planted rows through the file, deterministically."""
        out = list(rows)
        for row in extra:
            out.insert(int(self.rng.integers(len(out) + 1)), row)
        return out
