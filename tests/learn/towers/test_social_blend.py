"""The social score's text term: its vectors, its weight chosen on held-out friend pairs."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from pipeline.learn.towers.feature_space import text_profiles
from pipeline.learn.towers.social_blend import (
    VALIDATION_MIN_PAIRS,
    blended,
    choose_text_weight,
    split_pairs,
)


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_blended_vectors_score_the_cosine_plus_the_weighted_text_cosine() -> None:
    rng = np.random.default_rng(0)
    social, texts = unit(rng.normal(size=(5, 3))), unit(rng.normal(size=(5, 4)))
    assert blended(social, texts, 0.0) is social  # no weight: the head's own vectors
    s = blended(social, texts, 2.0)
    expected = (social @ social.T + 2.0 * texts @ texts.T) / 3.0  # still within [-1, 1]
    np.testing.assert_allclose(s @ s.T, expected, atol=1e-5)
    with pytest.raises(ValueError, match="text profiles"):
        blended(social, None, 0.5)


def groups_of_friends(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Users in groups of 4, every pair inside a group friends; group members describe
    themselves alike (one text direction per group)."""
    pairs = np.array(
        [(a, b) for a in range(n) for b in range(a + 1, n) if a // 4 == b // 4], dtype=np.int64
    )
    rng = np.random.default_rng(1)
    directions = rng.normal(size=(n // 4, 16))
    texts = unit(directions[np.arange(n) // 4] + 0.3 * rng.normal(size=(n, 16)))
    return pairs, texts


def test_the_weight_follows_the_text_when_it_finds_friends_and_stays_zero_when_not() -> None:
    pairs, texts = groups_of_friends()
    rng = np.random.default_rng(2)
    known, held = pairs[::2], pairs[1::2]
    noise = unit(rng.normal(size=(len(texts), 8)))  # a social head that knows nothing
    assert choose_text_weight(noise, texts, known, held) > 0
    # a head that knows the groups already, and texts that are noise: the towers alone
    groups = np.eye(15, dtype=np.float32)[np.arange(len(texts)) // 4]
    random_texts = unit(rng.normal(size=texts.shape))
    assert choose_text_weight(groups, random_texts, known, held) == 0.0
    assert choose_text_weight(noise, texts, known, held[:0]) == 0.0  # nothing held out


def test_split_pairs_is_seeded_and_keeps_small_sets_whole() -> None:
    pairs = np.stack([np.arange(2000), np.arange(2000) + 1], axis=1)
    train, held = split_pairs(pairs, seed=7)
    again = split_pairs(pairs, seed=7)
    np.testing.assert_array_equal(held, again[1])
    assert len(train) + len(held) == len(pairs) and 150 < len(held) < 250
    small = pairs[: VALIDATION_MIN_PAIRS * 2]  # a tenth would be too few to judge
    train, held = split_pairs(small, seed=7)
    assert len(held) == 0 and len(train) == len(small)


def test_text_profiles_use_the_profile_else_the_history_else_nothing() -> None:
    item_text = np.eye(3, 4, dtype=np.float32)
    user_text = np.array([[0, 0, 0, 2], [0, 0, 0, 0], [0, 0, 0, 0]], dtype=np.float32)
    snapshot = SimpleNamespace(
        users=pd.DataFrame({"has_text": [True, False, False]}),
        items=pd.DataFrame({"item_id": ["a", "b", "c"]}),
        user_text=user_text,
        item_text=item_text,
        text_dim=4,
    )
    events = pd.DataFrame({"user": [0, 1, 1], "item": [0, 0, 1], "event_s": [1.0, 2.0, 3.0]})
    who = text_profiles(snapshot, events)  # type: ignore[arg-type]
    np.testing.assert_allclose(who[0], [0, 0, 0, 1])  # the profile, as a unit vector
    np.testing.assert_allclose(who[1], [0.7071068, 0.7071068, 0, 0], atol=1e-6)  # its items
    np.testing.assert_array_equal(who[2], np.zeros(4))  # neither: no text term
