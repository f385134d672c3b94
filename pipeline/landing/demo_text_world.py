"""`recsys demo-data --taste text`: a shop whose tastes are carried by the words of its item and
profile text, to develop and measure what the language model buys.

In the default world an item's text names one of twelve themes and nothing finer, so text can
only say "a baking thing". Here every item is about one *subject* (one of ~80: sourdough,
espresso, endgame...) at one *level* (first steps, beyond the basics, mastery), both said only
in its title and description in varied wording; its `category` is a product type, unrelated to
taste. A user loves a few subjects and has a level, which most profiles say in their own words.
New releases draw attention for their first days. Users shop in sequences: the next product is often about the subject of the last one (a second
book after a first, the gadget after the course), otherwise one of their loved subjects, and now
and then anything popular. So what a user just took, read as text, says most about what comes
next; ids alone learn it only for items with many events, and the catalogue is large for its
events. Items released on the run date have text and nothing else. The planted defects are the
default world's (`DemoShop`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import numpy as np

from pipeline.core.errors import RecsysError
from pipeline.landing.demo_data import (
    ADJECTIVES,
    CATEGORIES,
    SQL_ITEM_ID,
    THEMES,
    DemoShop,
)
from pipeline.landing.demo_defects import iso_utc

# (theme, subject) pairs: the words of each theme are its subjects
SUBJECTS = [(theme, word) for theme, words in THEMES.items() for word in words]
# how each level is said, in titles and in profiles (several wordings each)
LEVEL_TITLES = (
    ("First Steps in", "A Gentle Introduction to", "Getting Started with"),
    ("Beyond the Basics of", "Improving Your", "The Next Step in"),
    ("Mastering", "Advanced", "The Expert's Guide to"),
)
LEVEL_PROFILES = (
    ("new to", "just starting out with", "a beginner at"),
    ("getting better at", "a keen amateur in", "past the basics of"),
    ("an expert in", "deep into", "a seasoned hand at"),
)
THEME_INDEX = {name: k for k, name in enumerate(THEMES)}
FOLLOW_SUBJECT = 0.55  # chance the next product is about the subject of the last one
FROM_TASTE = 0.35  # else: chance it is about one of the user's loved subjects (else: popular)
LAUNCH_PULL = 4.0  # how much more a product just released is wanted (fading over `launch_days`)


class TextTasteShop(DemoShop):
    """The default shop's users, items and events, with taste in subjects and levels of text."""

    taste: ClassVar[str] = "text"

    def users(self) -> list[dict[str, Any]]:
        self.user_subjects: list[list[int]] = []
        self.user_level: list[int] = []
        return super().users()

    def user_taste(self) -> str:
        """Loved subjects and a level; most profiles say them in their own words."""
        rng = self.rng
        loved = rng.choice(len(SUBJECTS), size=int(rng.integers(1, 4)), replace=False)
        level = int(rng.integers(3))
        self.user_subjects.append(loved.tolist())
        self.user_level.append(level)
        self.user_themes.append(sorted({THEME_INDEX[SUBJECTS[s][0]] for s in loved}))
        if rng.random() < 0.75:
            says = str(rng.choice(LEVEL_PROFILES[level]))
            return f"I'm {says} {' and '.join(SUBJECTS[s][1] for s in loved)}."
        return ""

    def items(self) -> list[dict[str, Any]]:
        rng, rows, size = self.rng, [], self.size
        self.item_subject, self.item_level, self.item_release = [], [], []
        self.item_theme = []
        total = size.items + size.cold_items + size.future_items
        for i in range(total):
            subject = int(rng.integers(len(SUBJECTS)))
            level = int(rng.integers(3))
            theme, word = SUBJECTS[subject]
            other = str(rng.choice([w for w in THEMES[theme] if w != word]))
            category = str(rng.choice(list(CATEGORIES)))
            noun, log_price = CATEGORIES[category]
            if i < size.items:
                release = self.end - timedelta(days=float(rng.uniform(1, 400)))
            elif i < size.items + size.cold_items:
                release = self.end - timedelta(hours=float(rng.uniform(1, 20)))  # on the run date
            else:
                release = self.end + timedelta(days=float(rng.uniform(1, 10)))  # not yet released
            self.item_subject.append(subject)
            self.item_level.append(level)
            self.item_theme.append(THEME_INDEX[theme])
            self.item_release.append(release)
            lead = str(rng.choice(LEVEL_TITLES[level]))
            rows.append(
                {
                    "item_id": f"i{i + 1:05d}",
                    "title": f"{lead} {word.title()}: the {rng.choice(ADJECTIVES)} {noun}",
                    "description": f"About {word}, with a word on {other}.",
                    "category": category,
                    "price": f"{np.exp(rng.normal(log_price, 0.4)):.2f}",
                    "release_ts": iso_utc(release),
                }
            )
        rows[11]["item_id"] = SQL_ITEM_ID
        self.plant("items", "sql_shaped_id", 1)
        self.plant("items", "cold_items", size.cold_items)
        self.plant("items", "unreleased_items", size.future_items)
        return rows

    def events(self, users: list[dict], items: list[dict]) -> list[dict[str, Any]]:
        """Each user's events in time order, each product chosen after the last one (see the
        module's docstring) among those released by then; about half carry a rating."""
        rng, size = self.rng, self.size
        n_items = size.items  # cold and future items have no events
        subject = np.array(self.item_subject[:n_items])
        level = np.array(self.item_level[:n_items])
        release = np.array([r.timestamp() for r in self.item_release[:n_items]])
        popularity = rng.pareto(1.5, n_items) + 1.0
        start = (self.end - timedelta(days=size.history_days)).timestamp()
        end = self.end.timestamp()
        rows = []
        for u, user in enumerate(users):
            loved = np.isin(subject, self.user_subjects[u])
            fits = level == self.user_level[u]
            taste = popularity * np.exp(2.5 * loved + 1.0 * fits)
            count = int(min(n_items // 2, max(3, rng.lognormal(np.log(size.events_per_user), 0.6))))
            times = np.sort(rng.uniform(start, end - 1, size=count)).astype(np.int64)
            taken = np.zeros(n_items, dtype=bool)
            last = -1
            for ts in times.tolist():
                out = (release > ts) | taken
                draw = rng.random()
                if last >= 0 and draw < FOLLOW_SUBJECT:
                    weights = popularity * (subject == subject[last]) * np.exp(1.0 * fits)
                elif draw < FOLLOW_SUBJECT + FROM_TASTE * (1 - FOLLOW_SUBJECT):
                    weights = taste * loved
                else:
                    weights = popularity.copy()
                # new releases draw attention: a product is most wanted in its first days
                age_days = (ts - release) / 86_400.0
                weights = weights * (1.0 + LAUNCH_PULL * np.exp(-age_days / size.launch_days))
                weights = np.where(out, 0.0, weights)
                if weights.sum() <= 0:
                    weights = np.where(out, 0.0, taste)
                if weights.sum() <= 0:
                    continue  # nothing released yet that the user has not taken
                i = int(rng.choice(n_items, p=weights / weights.sum()))
                taken[i], last = True, i
                rating = ""
                if rng.random() < 0.5:
                    raw = 2.4 + 1.4 * loved[i] + 0.6 * fits[i] + rng.normal(0, 0.8)
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


WORLDS: dict[str, type[DemoShop]] = {shop.taste: shop for shop in (DemoShop, TextTasteShop)}


def world_of(taste: str) -> type[DemoShop]:
    """The demo shop whose taste lives where `taste` says (`recsys demo-data --taste`)."""
    if taste not in WORLDS:
        raise RecsysError(f"unknown demo taste {taste!r}: choose one of {', '.join(WORLDS)}")
    return WORLDS[taste]
