"""The interaction score's factor path (iALS, users folded in), and how the paths are chosen,
refitted and stored."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.learn.ensemble.factor_term import FactorTerm, choose_factor_term
from pipeline.learn.ensemble.item_item_term import item_item_weights
from pipeline.learn.ensemble.terms import choose_terms
from pipeline.learn.ensemble.validation import ValidationSlice
from tests.learn.ensemble.test_item_item_term import N_ITEMS, N_USERS, paired_world
from tests.learn.tiny_model import bare


def events_of(pairs: list[tuple[int, int]]) -> pd.DataFrame:
    users, items = zip(*pairs, strict=True)
    return pd.DataFrame(
        {"user": users, "item": items, "event_s": np.arange(len(pairs), dtype=float)}
    )


def test_a_users_factor_is_their_least_squares_solve_given_the_item_factors() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=(6, 3)).astype(np.float32)
    path = FactorTerm(factors=3, lam=2.0, alpha=5.0, scale=1.0, items=y)
    events = events_of([(0, 1), (0, 4), (1, 2), (0, 1)])  # a repeat counts once
    x = path.user_factors(events, 3)
    # by hand: (YᵀY + lam I + (alpha - 1) Σ y yᵀ) x = alpha Σ y over the distinct items taken
    taken = y[[1, 4]]
    a = y.T @ y + 2.0 * np.eye(3) + 4.0 * taken.T @ taken
    np.testing.assert_allclose(x[0], np.linalg.solve(a, 5.0 * taken.sum(axis=0)), rtol=1e-4)
    assert x[2].tolist() == [0.0, 0.0, 0.0]  # no history, no factor
    scores = path.scorer(events, 3)(np.array([0, 1]))
    np.testing.assert_allclose(scores, x[:2] @ y.T, rtol=1e-5)
    pairs = path.pair_scorer(events, 3)(np.array([0, 1]), np.array([5, 2]))
    np.testing.assert_allclose(pairs, [x[0] @ y[5], x[1] @ y[2]], rtol=1e-5)
    # a judgement folds in only the users it asks for: the same bits as folding in everyone
    for rows in (np.array([0, 1, 2]), np.array([2, 0]), np.array([1])):
        np.testing.assert_array_equal(
            path.judged_scorer(events, 3)(rows), path.scorer(events, 3)(rows)
        )


def test_tonights_event_changes_only_that_users_scores_without_a_refit() -> None:
    rng = np.random.default_rng(1)
    path = FactorTerm(4, 1.0, 10.0, 0.5, rng.normal(size=(8, 4)).astype(np.float32))
    before = events_of([(0, 1), (1, 2), (1, 3)])
    after = pd.concat([before, events_of([(0, 6)])], ignore_index=True)
    old, new = path.scorer(before, 2)(np.arange(2)), path.scorer(after, 2)(np.arange(2))
    assert not np.allclose(old[0], new[0])
    np.testing.assert_array_equal(old[1], new[1])


def test_items_without_events_borrow_the_factors_of_the_items_their_text_reads_like() -> None:
    events = events_of([(u, i) for u in range(6) for i in range(4) if (u + i) % 2 == 0])
    texts = np.eye(5, dtype=np.float32)
    texts[4] = texts[2]  # item 4 (no events) reads exactly like item 2
    path = FactorTerm.fit(events, (6, 5), (3, 1.0, 1.0), texts, seed=0)
    np.testing.assert_allclose(path.items[4], path.items[2], rtol=1e-6)
    assert np.abs(path.items[:4]).sum() > 0
    alone = FactorTerm.fit(events, (6, 5), (3, 1.0, 1.0), seed=0)
    assert alone.items[4].tolist() == [0.0, 0.0, 0.0]  # nobody took it, no text: no factor


def test_a_factor_term_survives_its_bytes() -> None:
    path = FactorTerm(3, 30.0, 10.0, 0.125, np.arange(12, dtype=np.float32).reshape(4, 3))
    back = FactorTerm.from_bytes(path.to_bytes())
    assert (back.factors, back.lam, back.alpha, back.scale) == (3, 30.0, 10.0, 0.125)
    np.testing.assert_array_equal(back.items, path.items)


def test_the_factor_term_is_chosen_where_it_ranks_the_validation_slice_better() -> None:
    model, users, items, snapshot, fit_events, validation = paired_world()
    judge = ValidationSlice(bare(model), users, items, snapshot, fit_events, validation)
    alone = judge.ndcg()
    path = choose_factor_term(judge, fit_events, (N_USERS, N_ITEMS), None, seed=0)
    assert path is not None and path.scale > 0
    assert judge.ndcg(path.scorer(fit_events, N_USERS)) > alone
    assert choose_factor_term(judge, fit_events.iloc[:0], (N_USERS, N_ITEMS), None) is None


def test_terms_are_chosen_on_validation_then_refitted_with_it() -> None:
    model, users, items, snapshot, fit_events, validation = paired_world()
    rec = bare(model)
    judge = ValidationSlice(rec, users, items, snapshot, fit_events, validation)
    with torch.no_grad():
        served = choose_terms(
            rec, judge, snapshot, fit_events, validation,
            item_item="auto", factors=True, rating=False, seed=0,
        )  # fmt: skip
    assert served > judge.ndcg()
    term = rec.term("item_item")
    assert term is not None and rec.terms[0] is term  # summed first
    # the chosen λ's weights, fitted on the fit's events and the validation slice together
    every = pd.concat([fit_events, validation], ignore_index=True)
    refitted = item_item_weights("ease", every, (N_USERS, N_ITEMS), term.param, N_ITEMS)
    before = item_item_weights("ease", fit_events, (N_USERS, N_ITEMS), term.param, N_ITEMS)
    np.testing.assert_allclose(term.weights.toarray(), refitted.toarray(), rtol=1e-5)
    assert not np.allclose(term.weights.toarray(), before.toarray())
    params = rec.describe()
    assert params["term_item_item"].startswith("ease ")
    assert params["term_rating"] == "none"


def test_a_bundle_keeps_its_factor_term_and_a_format_1_bundle_its_old_file(tmp_path) -> None:
    import json

    from pipeline.learn.ensemble.bundle import load_bundle
    from pipeline.learn.towers.feature_space import FeatureSpace

    model, _, _, _, _, _ = paired_world()
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    space = FeatureSpace([], [], [], [], [], "m")
    meta = {"model": model.cfg.to_dict(), "space": space.__dict__, "trained_on": "2026-01-01"}
    (tmp_path / "bundle.json").write_text(json.dumps(meta))  # format 1: no "format"
    assert load_bundle(tmp_path).term("factor") is None  # bundles before the factor term
    term = FactorTerm(2, 3.0, 1.0, 0.5, np.ones((N_ITEMS, 2), np.float32))
    (tmp_path / "factor_path.npz").write_bytes(term.to_bytes())  # its name in format 1
    loaded = load_bundle(tmp_path).term("factor")
    assert loaded is not None and loaded.scale == pytest.approx(0.5)
    (tmp_path / "factor_path.npz").unlink()
    (tmp_path / FactorTerm.file).write_bytes(term.to_bytes())
    meta["format"] = 2
    (tmp_path / "bundle.json").write_text(json.dumps(meta))
    loaded = load_bundle(tmp_path).term("factor")
    assert loaded is not None and loaded.scale == pytest.approx(0.5)
