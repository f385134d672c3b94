"""`recsys demo-data`: a deterministic demo shop in the landing contract, messiness planted.

Taste lives in the *text*: every item belongs to one hobby theme that only its title and
description reveal (its `category` is a product type, unrelated to taste), and most users say in
their profile which themes they love. Events follow those themes, so a model that reads text beats
one that does not. New releases draw a burst of attention after their release, then settle. Items
released on the run date have no events yet (cold start).

Every planted defect is counted in `manifest.json` under `planted`, by table and kind, so tests can
prove each one is found: merged, deferred, quarantined with a reason, or repaired in place.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core.errors import RecsysError
from pipeline.landing.demo_defects import SQL_ITEM_ID, SQL_USER_ID, PlantedDefects, iso_utc
from pipeline.landing.folders import prepare_landing, write_csv, write_manifest

__all__ = ["SQL_ITEM_ID", "SQL_USER_ID", "DemoShop", "generate"]

DEFAULT_RUN_DATE = date(2026, 11, 27)

THEMES: dict[str, tuple[str, ...]] = {
    "astronomy": ("telescope", "galaxy", "nebula", "stargazing", "orbit", "comet", "planets"),
    "baking": ("sourdough", "pastry", "croissant", "oven", "flour", "yeast", "layer cake"),
    "hiking": ("trail", "summit", "backpack", "alpine", "boots", "camping", "ridge walk"),
    "jazz": ("saxophone", "bebop", "swing", "trumpet", "improvisation", "vinyl", "big band"),
    "gardening": ("compost", "seedlings", "tomatoes", "greenhouse", "pruning", "perennials"),
    "photography": ("lens", "aperture", "portrait", "darkroom", "tripod", "exposure", "film"),
    "chess": ("opening", "endgame", "gambit", "grandmaster", "tactics", "checkmate", "blitz"),
    "cycling": ("gravel", "peloton", "derailleur", "saddle", "touring", "climbing", "bike"),
    "woodworking": ("chisel", "joinery", "dovetail", "lathe", "walnut", "workbench", "plane"),
    "science fiction": ("starship", "android", "dystopia", "time travel", "aliens", "cyberpunk"),
    "yoga": ("mindfulness", "meditation", "flexibility", "breathing", "mat", "balance", "asana"),
    "coffee": ("espresso", "roast", "grinder", "pour-over", "barista", "arabica", "latte art"),
}
# Product types: deliberately independent of taste, so only text tells the theme.
CATEGORIES: dict[str, tuple[str, float]] = {
    "book": ("Handbook", 3.0),
    "course": ("Masterclass", 4.0),
    "kit": ("Starter Kit", 3.6),
    "magazine": ("Quarterly", 2.2),
    "gadget": ("Pro Set", 4.3),
    "ticket": ("Weekend Pass", 3.9),
}
ADJECTIVES = ("Complete", "Essential", "Modern", "Little", "Ultimate", "Practical", "Wild", "Quiet")
OCCUPATIONS = ("engineer", "teacher", "nurse", "student", "artist", "lawyer", "retired", "writer")


@dataclass(frozen=True)
class DemoSize:
    users: int
    items: int
    events_per_user: float
    cold_items: int
    future_items: int
    history_days: int = 180
    launch_share: float = 0.5  # share of an item's events in its launch burst
    launch_days: float = 10.0  # mean days after release of a launch-burst event


@dataclass(frozen=True)
class DemoShape:
    """Overrides of the scaled shop's proportions: a shop of `users` users, `items` items and
    about `events_per_user` events each (None: the scale's; the demo has ~33 per user)."""

    users: int | None = None
    items: int | None = None
    events_per_user: float | None = None

    def size(self, scale: float) -> DemoSize:
        for name, value in (("users", self.users), ("items", self.items)):
            if value is not None and value < 20:
                raise RecsysError(f"a demo shop needs at least 20 {name}, got {value}")
        if self.events_per_user is not None and self.events_per_user < 1:
            raise RecsysError(f"events per user must be at least 1, got {self.events_per_user}")
        # new and not-yet-released items keep the demo's share of the catalogue
        share = 1.0 if self.items is None else self.items / (1500 * scale)
        return DemoSize(
            users=self.users or max(60, round(2000 * scale)),
            items=self.items or max(50, round(1500 * scale)),
            events_per_user=self.events_per_user or 33.0,
            cold_items=max(5, round(60 * scale * share)),
            future_items=max(2, round(10 * scale * share)),
        )


class DemoShop(PlantedDefects):
    """Builds the clean world first, then plants each kind of defect on disjoint rows."""

    taste: ClassVar[str] = "themes"  # where taste lives (`recsys demo-data --taste`)

    def __init__(
        self, run_date: date, seed: int, scale: float, shape: DemoShape | None = None
    ) -> None:
        if scale <= 0:
            raise RecsysError(f"scale must be positive, got {scale}")
        self.run_date = run_date
        self.rng = np.random.default_rng(seed)
        self.scale = scale
        self.size = (shape or DemoShape()).size(scale)
        self.end = datetime.combine(run_date + timedelta(days=1), time(), UTC)  # end of run date
        self.theme_names = list(THEMES)
        self.planted: dict[str, dict[str, int]] = {
            t: {} for t in ("users", "items", "interactions", "social_edges")
        }

    # ---- the clean world -------------------------------------------------------------------
    def user_taste(self) -> str:
        """Draw the next user's taste (kept for their events) and return their profile text."""
        rng = self.rng
        themes = rng.choice(len(THEMES), size=rng.integers(1, 3), replace=False).tolist()
        self.user_themes.append(themes)
        words = [str(rng.choice(THEMES[self.theme_names[t]])) for t in themes]
        names = [self.theme_names[t] for t in themes]
        if rng.random() < 0.75:
            return f"I love {' and '.join(names)}; lately into {', '.join(words)}."
        return ""

    def users(self) -> list[dict[str, Any]]:
        rng, rows = self.rng, []
        self.user_themes = []  # per user: the themes they love (the friend graph reads them)
        for i in range(self.size.users):
            profile = self.user_taste()
            signup = self.end - timedelta(days=int(rng.integers(200, 1500)))
            rows.append(
                {
                    "user_id": f"u{i + 1:05d}",
                    "age": str(int(np.clip(rng.normal(38, 12), 16, 85))),
                    "gender": str(
                        rng.choice(["f", "m", "nonbinary", ""], p=[0.47, 0.47, 0.03, 0.03])
                    ),
                    "occupation": str(rng.choice(OCCUPATIONS)),
                    "signup_ts": iso_utc(signup),
                    "profile_text": profile,
                }
            )
        rows[7]["user_id"] = SQL_USER_ID
        self.plant("users", "sql_shaped_id", 1)
        return rows

    def items(self) -> list[dict[str, Any]]:
        rng, rows = self.rng, []
        self.item_theme, self.item_release = [], []
        total = self.size.items + self.size.cold_items + self.size.future_items
        for i in range(total):
            theme = int(rng.integers(len(THEMES)))
            category = str(rng.choice(list(CATEGORIES)))
            noun, log_price = CATEGORIES[category]
            words = rng.choice(THEMES[self.theme_names[theme]], size=3, replace=False)
            if i < self.size.items:
                release = self.end - timedelta(days=float(rng.uniform(1, 400)))
            elif i < self.size.items + self.size.cold_items:
                release = self.end - timedelta(hours=float(rng.uniform(1, 20)))  # on the run date
            else:
                release = self.end + timedelta(days=float(rng.uniform(1, 10)))  # not yet released
            self.item_theme.append(theme)
            self.item_release.append(release)
            rows.append(
                {
                    "item_id": f"i{i + 1:05d}",
                    "title": f"The {rng.choice(ADJECTIVES)} {words[0].title()} {noun}",
                    "description": f"All about {words[1]} and {words[2]}, for every {words[0]} fan.",
                    "category": category,
                    "price": f"{np.exp(rng.normal(log_price, 0.4)):.2f}",
                    "release_ts": iso_utc(release),
                }
            )
        rows[11]["item_id"] = SQL_ITEM_ID
        self.plant("items", "sql_shaped_id", 1)
        self.plant("items", "cold_items", self.size.cold_items)
        self.plant("items", "unreleased_items", self.size.future_items)
        return rows

    def events(self, users: list[dict], items: list[dict]) -> list[dict[str, Any]]:
        """Theme-driven choices over released items; about half the events carry a rating."""
        rng, size = self.rng, self.size
        n_items = size.items  # cold and future items have no events
        theme = np.array(self.item_theme[:n_items])
        release = np.array([r.timestamp() for r in self.item_release[:n_items]])
        popularity = rng.pareto(1.5, n_items) + 1.0
        start = (self.end - timedelta(days=size.history_days)).timestamp()
        end = self.end.timestamp()
        seen: set[tuple[int, int, int]] = set()
        rows = []
        for u, user in enumerate(users):
            liked = np.zeros(len(THEMES))
            liked[self.user_themes[u]] = 1.0
            affinity = liked[theme]
            weights = popularity * np.exp(2.5 * affinity)
            count = int(min(n_items // 2, max(3, rng.lognormal(np.log(size.events_per_user), 0.6))))
            chosen = rng.choice(n_items, size=count, replace=False, p=weights / weights.sum())
            for i in chosen:
                ts = self.event_time(release[i], start, end)
                if (u, int(i), ts) in seen:
                    continue
                seen.add((u, int(i), ts))
                rating = ""
                if rng.random() < 0.5:
                    raw = 2.6 + 1.6 * affinity[i] + rng.normal(0, 0.8)
                    rating = f"{float(np.clip(np.round(raw * 2) / 2, 0.5, 5.0)):g}"
                rows.append(
                    {
                        "user_id": user["user_id"],
                        "item_id": items[i]["item_id"],
                        "event_ts": iso_utc(datetime.fromtimestamp(ts, UTC)),
                        "rating": rating,
                    }
                )
        return rows

    def event_time(self, release: float, start: float, end: float) -> int:
        """New releases draw attention: part of an item's events come in a burst after its
        release (exponential, mean `launch_days`), the rest spread evenly over its life."""
        rng, size = self.rng, self.size
        burst = release + rng.exponential(size.launch_days * 86_400.0)
        if rng.random() < size.launch_share and start <= burst < end - 1:
            return int(burst)
        return int(rng.uniform(max(start, release), end - 1))

    def edges(self, users: list[dict]) -> list[tuple[str, str, datetime]]:
        """Friends mostly share a theme; a third are random acquaintances."""
        rng, by_theme = self.rng, {t: [] for t in range(len(THEMES))}
        for u, themes in enumerate(self.user_themes):
            for t in themes:
                by_theme[t].append(u)
        pairs: set[tuple[int, int]] = set()
        for u, themes in enumerate(self.user_themes):
            for _ in range(int(rng.integers(1, 5))):
                pool = by_theme[int(rng.choice(themes))] if rng.random() < 0.67 else None
                v = int(rng.choice(pool)) if pool else int(rng.integers(len(users)))
                if v != u:
                    pairs.add((min(u, v), max(u, v)))
        out = []
        for a, b in sorted(pairs):
            since = self.end - timedelta(days=float(rng.uniform(2, 700)))
            out.append((users[a]["user_id"], users[b]["user_id"], since))
        return out


def generate(
    dest: Path,
    *,
    seed: int = 42,
    run_date: date = DEFAULT_RUN_DATE,
    scale: float = 1.0,
    nights: int = 1,
    shape: DemoShape | None = None,
    world: type[DemoShop] | None = None,
) -> dict[str, Any]:
    """Write the demo shop into `dest` (a landing folder) and return the stage summary.

    `world`: the shop to build, `DemoShop` (a theme per item and user) by default, or another
    world built on it (`demo_text_world.world_of`: taste in the subjects and levels of text).

    With `nights` > 1 the shop is the world of the last of `nights` consecutive nights from
    `run_date`, and the events of each of those nights' days are a daily drop of their own
    (`interactions/dt=<day>/`): night k's run date counts only the drops up to its day (later
    events are deferred until their night), so the same landing serves a sequence of nights.
    The manifest lists them under `nights`; its `run_date` stays the first night."""
    if nights < 1:
        raise RecsysError(f"nights must be at least 1, got {nights}")
    prepare_landing(dest)
    first = run_date
    shop = (world or DemoShop)(run_date + timedelta(days=nights - 1), seed, scale, shape)
    users = shop.users()
    items = shop.items()
    events = shop.events(users, items)
    edges = shop.edges(users)
    users_out = shop.mess_users(users)
    items_out = shop.mess_items(items)
    events_out = shop.mess_events(events, items)
    edges_out = shop.mess_edges(edges)

    write_csv(
        dest / "users.csv",
        users_out,
        ["user_id", "age", "gender", "occupation", "signup_ts", "profile_text"],
    )
    write_csv(
        dest / "items.csv",
        items_out,
        ["item_id", "title", "description", "category", "price", "release_ts"],
    )
    n_events = _write_events(dest, events_out, shop, daily_from=first if nights > 1 else None)
    pq.write_table(
        pa.table(
            {
                "user_id": pa.array([e[0] for e in edges_out], pa.string()),
                "friend_id": pa.array([e[1] for e in edges_out], pa.string()),
                "since_ts": pa.array([e[2] for e in edges_out], pa.timestamp("s", tz="UTC")),
            }
        ),
        dest / "social_edges.parquet",
    )
    manifest = {
        "source": "recsys demo-data",
        "seed": seed,
        "scale": scale,
        "taste": shop.taste,
        **({"shape": asdict(shape)} if shape is not None else {}),
        "run_date": first.isoformat(),
        **(
            {"nights": [(first + timedelta(days=k)).isoformat() for k in range(nights)]}
            if nights > 1
            else {}
        ),
        "rows": {
            "users": len(users_out),
            "items": len(items_out),
            "interactions": n_events,
            "social_edges": len(edges_out),
        },
        "planted": shop.planted,
    }
    write_manifest(dest, manifest)
    return {
        "stage": "demo-data",
        "run_date": first.isoformat(),
        "nights": nights,
        "status": "ok",
        "landing": str(dest),
        **manifest["rows"],
    }


def _write_events(
    dest: Path, events: list[dict], shop: DemoShop, daily_from: date | None = None
) -> int:
    """Weekly drops `interactions/dt=YYYY-MM-DD/part-0.csv`, daily from `daily_from` on (a
    sequence of nights); unparseable times go to the last."""
    last = shop.run_date
    weekly_until = last if daily_from is None else daily_from - timedelta(days=1)
    drops: dict[date, list[dict]] = {}
    for row in events:
        try:
            day = datetime.fromisoformat(row["event_ts"]).date()
        except ValueError:
            day = last
        if daily_from is not None and day >= daily_from:
            drop = min(last, day)
        else:
            drop = min(weekly_until, day + timedelta(days=6 - day.weekday()))
        drops.setdefault(drop, []).append(row)
    for day in sorted(drops):
        write_csv(
            dest / "interactions" / f"dt={day.isoformat()}" / "part-0.csv",
            drops[day],
            ["user_id", "item_id", "event_ts", "rating"],
        )
    # Records a CSV parser cannot map onto the header: too many or too few fields.
    malformed = [
        f"u00001,i00001,{iso_utc(shop.end - timedelta(hours=k + 1))},4,unexpected-{k}"
        if k % 2 == 0
        else f"u00002,i0000{k}"
        for k in range(shop.n(3))
    ]
    with (dest / "interactions" / f"dt={last.isoformat()}" / "part-0.csv").open("a") as handle:
        handle.writelines(line + "\n" for line in malformed)
    shop.plant("interactions", "malformed_row", len(malformed))
    return len(events) + len(malformed)
