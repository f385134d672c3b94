"""The interaction score's transition term: scores, storage, following a catalogue, and its
choice where the order of a history says what comes next."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from pipeline.learn.ensemble.recommender import INTERACTION_TERMS, Recommender
from pipeline.learn.ensemble.term_alignment import selection
from pipeline.learn.ensemble.term_data import TermData
from pipeline.learn.ensemble.terms import choose_terms
from pipeline.learn.ensemble.transition_term import (
    TRANSITION_HALF_LIVES,
    TransitionTerm,
    choose_transition_term,
)
from pipeline.learn.ensemble.validation import ValidationSlice
from tests.learn.tiny_model import TEXT_DIM, bare, night_of, tiny_model

# item 0 -> 1 (twice), 0 -> 2 (once), 1 -> 2 (once): rows 0 and 1 of the chain, window 1
CHAIN_EVENTS = pd.DataFrame(
    {
        "user": [0, 0, 1, 1, 2, 2, 3, 3],
        "item": [0, 1, 0, 1, 0, 2, 1, 2],
        "event_s": [1.0, 2.0] * 4,
    }
)


def chain_term(half_life: float, scale: float) -> TransitionTerm:
    t = np.zeros((3, 3), np.float32)
    t[0, 1], t[0, 2], t[1, 2] = 2 / 3, 1 / 3, 1.0
    return TransitionTerm(half_life, scale, sp.csr_matrix(t))


def test_scores_are_the_recency_weighted_history_times_the_chain() -> None:
    term = chain_term(half_life=1.0, scale=2.0)
    # user 0 took item 0, then item 1 (the latest: weight 1; item 0 one back: 0.5); user 1 none
    history = pd.DataFrame({"user": [0, 0], "item": [0, 1], "event_s": [1.0, 2.0]})
    expected = 2.0 * (0.5 * np.array([0.0, 2 / 3, 1 / 3]) + np.array([0.0, 0.0, 1.0]))
    got = term.scorer(history, 2)(np.array([0, 1]))
    np.testing.assert_allclose(got[0], expected, rtol=1e-6)
    assert not got[1].any()  # no history: no term
    pairs = term.pair_scorer(history, 2)(np.array([0, 0, 1]), np.array([2, 1, 2]))
    np.testing.assert_allclose(pairs, [expected[2], expected[1], 0.0], rtol=1e-6)


def test_a_term_refits_survives_its_bytes_and_follows_another_catalogue_by_id() -> None:
    term = TransitionTerm.fitted(CHAIN_EVENTS, 3, half_life=3.0, scale=0.5)
    np.testing.assert_allclose(term.matrix.toarray(), chain_term(3.0, 0.5).matrix.toarray())
    refit = term.refit(TermData(CHAIN_EVENTS.iloc[:2], (3, 3)))
    assert (refit.half_life, refit.scale) == (3.0, 0.5)  # the choice kept, the chain refitted
    np.testing.assert_allclose(refit.matrix.toarray()[0], [0.0, 1.0, 0.0])
    back = TransitionTerm.from_bytes(term.to_bytes())
    assert (back.half_life, back.scale) == (3.0, 0.5)
    np.testing.assert_array_equal(back.matrix.toarray(), term.matrix.toarray())
    moved = term.follow(selection(["a", "b", "c"], ["c", "new", "a", "b"]))
    # new order: c, new, a, b; a -> b and a -> c, b -> c, and nothing to or from the new item
    expected = np.zeros((4, 4), np.float32)
    expected[2, 3], expected[2, 0], expected[3, 0] = 2 / 3, 1 / 3, 1.0
    np.testing.assert_allclose(moved.matrix.toarray(), expected, rtol=1e-6)
    assert "transition" in [k.name for k in INTERACTION_TERMS]


N_USERS, N_ITEMS = 24, 8


def cycle_world() -> tuple:
    """Every user walks the cycle 0 -> 1 -> ... -> 7 -> 0 from their own start for three
    steps; their next item (the validation) is the one after their latest. Co-occurrence
    cannot tell the item after the latest from the one before it; order can."""
    users = np.repeat(np.arange(N_USERS), 3)
    start = np.arange(N_USERS) % N_ITEMS
    step = np.tile(np.arange(3), N_USERS)
    fit_events = pd.DataFrame(
        {
            "user": users,
            "item": (start[users] + step) % N_ITEMS,
            "event_s": 10.0 * (step + 1),
            "rating": np.nan,
        }
    )
    validation = pd.DataFrame(
        {"user": np.arange(N_USERS), "item": (start + 3) % N_ITEMS, "event_s": 40.0}
    ).assign(rating=np.nan)
    model, users_f, items_f = tiny_model(fit_events, N_USERS, N_ITEMS)
    everything = pd.concat([fit_events, validation], ignore_index=True)
    snapshot = night_of(N_USERS, np.zeros((N_ITEMS, TEXT_DIM), np.float32), everything)
    return model, users_f, items_f, snapshot, fit_events, validation


def test_the_term_is_chosen_where_order_says_what_comes_next() -> None:
    model, users_f, items_f, snapshot, fit_events, validation = cycle_world()
    judge = ValidationSlice(bare(model), users_f, items_f, snapshot, fit_events, validation)
    alone = judge.ndcg()
    term = choose_transition_term(judge, fit_events, (N_USERS, N_ITEMS), None)
    assert term is not None and term.half_life in TRANSITION_HALF_LIVES
    with_term = judge.ndcg(term.scorer(fit_events, N_USERS))
    assert with_term > alone and with_term == pytest.approx(1.0)
    assert choose_transition_term(judge, fit_events.iloc[:0], (N_USERS, N_ITEMS), None) is None


def test_a_night_fit_serves_the_item_after_the_latest_first() -> None:
    """Through the one contract: the fit chooses its terms, `Scores.scores` ranks."""
    model, users_f, items_f, snapshot, fit_events, validation = cycle_world()
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
        text=False,
        rating=False,
        seed=0,
    )
    assert rec.term("transition") is not None
    scores = rec.judged(
        users_f, items_f, fit_events, np.full(N_USERS, 40.0), np.zeros(N_ITEMS)
    ).scores(np.arange(N_USERS))
    seen = fit_events.groupby("user")["item"].agg(set)
    for u, after_latest in zip(validation["user"], validation["item"], strict=True):
        ranked = [int(i) for i in np.argsort(-scores[u]) if int(i) not in seen[u]]
        assert ranked[0] == after_latest
