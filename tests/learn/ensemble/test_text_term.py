"""The interaction score's text term: scores, storage, following a catalogue, its choice, and
a new item whose text reads like a user's history ranked by the model above one that does not."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from pipeline.embed.encoder import EncoderSpec, TextEncoder, resolve_model_path
from pipeline.learn.data.snapshot import Snapshot
from pipeline.learn.ensemble.recommender import Recommender
from pipeline.learn.ensemble.term_alignment import selection
from pipeline.learn.ensemble.terms import choose_terms
from pipeline.learn.ensemble.text_term import TEXT_HALF_LIVES, TextTerm, choose_text_term
from pipeline.learn.ensemble.validation import ValidationSlice
from pipeline.learn.towers.model import MultiTaskModel, TowerInputs
from tests.learn.tiny_model import bare, night_of, tiny_model


def test_scores_are_the_unit_recency_weighted_text_history_against_each_item() -> None:
    texts = np.array([[3.0, 0.0], [0.0, 2.0], [1.0, 1.0], [0.0, 0.0]], dtype=np.float32)
    term = TextTerm.of(texts, half_life=1.0, scale=2.0)
    assert term is not None
    # user 0 took item 0, then item 1 (the latest: weight 1; item 0 one back: 0.5); user 1 none
    events = pd.DataFrame({"user": [0, 0], "item": [0, 1], "event_s": [1.0, 2.0]})
    profile = np.array([0.5, 1.0]) / np.hypot(0.5, 1.0)  # of unit vectors (1, 0) and (0, 1)
    unit = np.array([[1.0, 0.0], [0.0, 1.0], [2**-0.5, 2**-0.5], [0.0, 0.0]])
    expected = 2.0 * unit @ profile
    got = term.scorer(events, 2)(np.array([0, 1]))
    assert got[0] == pytest.approx(expected, rel=1e-3)  # vectors kept in half precision
    assert got[1].tolist() == [0.0] * 4  # no history: no text term
    pairs = term.pair_scorer(events, 2)(np.array([0, 0, 1]), np.array([2, 3, 0]))
    assert pairs == pytest.approx([expected[2], 0.0, 0.0], rel=1e-3)


def test_a_term_survives_its_bytes_and_follows_another_catalogue_by_id() -> None:
    texts = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    term = TextTerm.of(texts, 3.0, 0.5)
    assert term is not None
    back = TextTerm.from_bytes(term.to_bytes())
    assert (back.half_life, back.scale) == (3.0, 0.5)
    np.testing.assert_array_equal(back.vectors, term.vectors)  # kept in half precision: exact
    moved = term.follow(selection(["a", "b", "c", "d"], ["c", "new", "a"]))
    np.testing.assert_array_equal(moved.vectors[[0, 2]], term.vectors[[2, 0]])
    assert not moved.vectors[1].any()  # an item the term never read: no text until a refit
    assert TextTerm.of(np.zeros((4, 3)), 1.0, 1.0) is None  # nothing to read


# a small shop whose users' next items are new (no events) and read like what they took last
SHOP = [
    "Texas Instruments scientific calculator, two-line display",
    "HP 61 black ink cartridge for Deskjet printers",
    "Fiskars softgrip scissors, 8 inch",
    "Post-it super sticky notes, 3 x 3 inch, yellow",
    "Pilot G2 gel pens, fine point, black, 12 pack",
    "Swingline stapler, full strip, black",
]
NEW = [
    "Casio graphing calculator for algebra and calculus",  # reads like item 0
    "Canon black toner cartridge for laser printers",  # reads like item 1
    "Westcott titanium scissors, 9 inch",  # reads like item 2
]
N_USERS = 18


@pytest.fixture(scope="module")
def shop_texts() -> np.ndarray:
    encoder = TextEncoder(EncoderSpec(model_path=str(resolve_model_path("all-MiniLM-L6-v2"))))
    vectors, errors = encoder.encode(SHOP + NEW)
    assert errors == [None] * len(SHOP + NEW)
    return vectors.astype(np.float32)


def shop_world(
    texts: np.ndarray,
) -> tuple[MultiTaskModel, TowerInputs, TowerInputs, Snapshot, pd.DataFrame, pd.DataFrame]:
    """User u took a random known item, then item u % 3 (the latest); their next one is the new
    item that reads like that latest one (items 6, 7, 8 have no events)."""
    rng = np.random.default_rng(4)
    users = np.arange(N_USERS)
    last = users % 3
    fit_events = pd.DataFrame(
        {
            "user": np.r_[users, users],
            "item": np.r_[rng.integers(3, len(SHOP), N_USERS), last],
            "event_s": np.r_[np.full(N_USERS, 10.0), np.full(N_USERS, 20.0)],
            "rating": np.nan,
        }
    )
    validation = pd.DataFrame(
        {"user": users, "item": len(SHOP) + last, "event_s": 30.0, "rating": np.nan}
    )
    n_items = len(texts)
    model, users_f, items_f = tiny_model(fit_events, N_USERS, n_items)
    snapshot = night_of(N_USERS, texts, pd.concat([fit_events, validation], ignore_index=True))
    return model, users_f, items_f, snapshot, fit_events, validation


def test_the_term_is_chosen_where_text_finds_the_next_items_and_not_without_text(
    shop_texts: np.ndarray,
) -> None:
    model, users_f, items_f, snapshot, fit_events, validation = shop_world(shop_texts)
    judge = ValidationSlice(bare(model), users_f, items_f, snapshot, fit_events, validation)
    alone = judge.ndcg()
    term = choose_text_term(judge, fit_events, N_USERS, shop_texts, None)
    assert term is not None and term.half_life in TEXT_HALF_LIVES
    assert judge.ndcg(term.scorer(fit_events, N_USERS)) > alone
    assert choose_text_term(judge, fit_events, N_USERS, np.zeros_like(shop_texts), None) is None


def test_a_new_item_whose_text_reads_like_the_history_ranks_above_an_unrelated_new_one(
    shop_texts: np.ndarray,
) -> None:
    """Through the one contract: the night's fit chooses its terms, `Scores.scores` ranks."""
    model, users_f, items_f, snapshot, fit_events, validation = shop_world(shop_texts)
    rec: Recommender = bare(model)
    judge = ValidationSlice(rec, users_f, items_f, snapshot, fit_events, validation)
    choose_terms(
        rec,
        judge,
        snapshot,
        fit_events,
        validation,
        item_item="off",
        factors=False,
        rating=False,
        seed=0,
    )
    assert rec.term("text") is not None
    scores = rec.judged(
        users_f, items_f, fit_events, np.full(N_USERS, 30.0), np.zeros(len(shop_texts))
    ).scores(np.arange(N_USERS))
    related = len(SHOP) + np.arange(N_USERS) % 3
    for unrelated in range(len(SHOP), len(SHOP) + len(NEW)):
        other = related != unrelated
        users = np.flatnonzero(other)
        assert np.all(scores[users, related[other]] > scores[users, unrelated])
    # and the text term is what does it: the towers alone do not
    towers = replace(rec, terms=[])
    alone = towers.judged(
        users_f, items_f, fit_events, np.full(N_USERS, 30.0), np.zeros(len(shop_texts))
    ).scores(np.arange(N_USERS))
    new = alone[:, len(SHOP) :]
    assert not np.all(new.argmax(axis=1) == np.arange(N_USERS) % 3)


def test_a_recommender_reads_tonights_texts_so_a_new_item_is_scored_without_a_refit(
    shop_texts: np.ndarray,
) -> None:
    model, *_ = shop_world(shop_texts)
    known = len(SHOP)
    term = TextTerm.of(shop_texts[:known], half_life=1.0, scale=1.0)
    assert term is not None
    rec = bare(model, terms=[term.follow(selection(SHOP, SHOP + NEW))])  # tonight: three new
    history = pd.DataFrame({"user": [0], "item": [0], "event_s": [1.0]})  # the calculator
    before = rec.terms[0].scorer(history, 1)(np.array([0]))[0]
    assert not before[known:].any()  # followed by id: no text for the new items yet
    rec.read_texts(shop_texts)
    after = rec.terms[0].scorer(history, 1)(np.array([0]))[0]
    assert after[known:].argmax() == 0  # the graphing calculator, by its text alone
    assert after[:known] == pytest.approx(before[:known], abs=1e-6)
