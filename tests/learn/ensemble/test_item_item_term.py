"""The interaction score's item-item term: weights, recency, scores, storage and its choice."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from pipeline.learn.algorithms.ease import EASE, EASE_LAMBDAS
from pipeline.learn.algorithms.itemknn import ITEMKNN_KS, ItemKNN
from pipeline.learn.data.choice import first_best
from pipeline.learn.data.history import RECENCY_HALF_LIVES, binary_matrix, recency_matrix
from pipeline.learn.data.snapshot import Snapshot
from pipeline.learn.ensemble import twin_search
from pipeline.learn.ensemble.item_item_term import (
    EASE_MAX_ITEMS,
    ITEM_ITEM_KS,
    ITEM_ITEM_LAMBDAS,
    ItemItemTerm,
    choose_item_item_term,
    item_item_kind,
    top_per_row,
)
from pipeline.learn.ensemble.judge import Judge
from pipeline.learn.ensemble.terms import rescale_terms
from pipeline.learn.ensemble.twin_search import TwinSearch
from pipeline.learn.ensemble.validation import ValidationSlice
from pipeline.learn.towers.model import MultiTaskModel, TowerInputs
from tests.learn.tiny_model import bare, night_of, tiny_model


def test_top_per_row_keeps_the_largest_weights_in_magnitude() -> None:
    kept = top_per_row(np.array([[0.1, -0.9, 0.5, 0.0], [0.3, 0.2, -0.1, 0.05]]), 2, chunk=1)
    expected = [[0.0, -0.9, 0.5, 0.0], [0.3, 0.2, 0.0, 0.0]]
    np.testing.assert_allclose(kept.toarray(), expected, rtol=1e-6)


def test_top_per_row_of_a_dense_matrix_is_each_rows_largest_in_any_chunking() -> None:
    weights = np.random.default_rng(7).normal(size=(300, 120)).astype(np.float32)
    expected = np.zeros_like(weights)
    for row, values in enumerate(weights):
        top = np.argsort(-np.abs(values))[:17]  # distinct magnitudes: no ties to break
        expected[row, top] = values[top]
    for chunk in (1, 64, 1024):
        kept = top_per_row(weights, 17, chunk=chunk)
        assert kept.has_sorted_indices and kept.dtype == np.float32
        np.testing.assert_array_equal(kept.toarray(), expected)
    # equal magnitudes across the cut go to the lower columns, whatever torch's threads
    tied = np.array([[0.5, -0.2, 0.2, 0.9, 0.2, -0.2]], dtype=np.float32)
    expected_tied = np.array([[0.5, -0.2, 0, 0.9, 0, 0]], dtype=np.float32)
    np.testing.assert_array_equal(top_per_row(tied, 3).toarray(), expected_tied)
    # a row narrower than `keep` keeps all of it
    np.testing.assert_array_equal(top_per_row(weights[:, :5], 17).toarray(), weights[:, :5])


def test_auto_is_ease_up_to_its_size_then_itemknn_and_unknown_kinds_are_refused() -> None:
    assert item_item_kind("auto", EASE_MAX_ITEMS) == "ease"
    assert item_item_kind("auto", EASE_MAX_ITEMS + 1) == "itemknn"
    assert item_item_kind("off", 10) == "off"
    with pytest.raises(ValueError, match="unknown item-item term 'slim'"):
        item_item_kind("slim", 10)
    with pytest.raises(ValueError, match="set RECSYS_TRAIN_ITEM_ITEM_TERM to auto or itemknn"):
        item_item_kind("ease", EASE_MAX_ITEMS + 1)


def test_scores_are_the_recency_weighted_history_times_the_weights() -> None:
    weights = sp.csr_matrix(np.array([[0.0, 2.0, 1.0], [0.5, 0.0, 0.0], [0.0, 4.0, 0.0]]))
    path = ItemItemTerm("ease", 1.0, half_life=1.0, scale=3.0, weights=weights)
    # user 0 took item 0, then item 2 (the latest: weight 1, item 0 one back: 0.5); user 1 none
    events = pd.DataFrame({"user": [0, 0], "item": [0, 2], "event_s": [1.0, 2.0]})
    h = np.array([0.5, 0.0, 1.0])
    expected = 3.0 * h @ weights.toarray()
    got = path.scorer(events, 2)(np.array([0, 1]))
    assert got[0] == pytest.approx(expected)
    assert got[1].tolist() == [0.0, 0.0, 0.0]
    pairs = path.pair_scorer(events, 2)(np.array([0, 0, 1]), np.array([1, 0, 2]))
    assert pairs == pytest.approx([expected[1], expected[0], 0.0])


def test_a_path_survives_its_bytes() -> None:
    weights = sp.random(5, 5, density=0.4, format="csr", random_state=1, dtype=np.float32)
    path = ItemItemTerm("itemknn", 50.0, 5.0, 0.25, weights)
    back = ItemItemTerm.from_bytes(path.to_bytes())
    assert (back.kind, back.param, back.half_life, back.scale) == ("itemknn", 50.0, 5.0, 0.25)
    assert (back.weights != weights).nnz == 0


N_USERS, N_ITEMS = 12, 6


def paired_world() -> tuple[
    MultiTaskModel, TowerInputs, TowerInputs, Snapshot, pd.DataFrame, pd.DataFrame
]:
    """Items come in pairs (0, 1), (2, 3), (4, 5). Users 0-5 took both items of their pair,
    users 6-11 the first one only: their next item (validation) is the second."""
    group = np.arange(N_USERS) % 3
    first, second = 2 * group, 2 * group + 1
    both = np.arange(N_USERS) < 6
    fit_events = pd.DataFrame(
        {
            "user": np.r_[np.arange(N_USERS), np.flatnonzero(both)],
            "item": np.r_[first, second[both]],
            "event_s": np.r_[np.full(N_USERS, 10.0), np.full(both.sum(), 20.0)],
            "rating": np.nan,
        }
    )
    later = np.flatnonzero(~both)
    validation = pd.DataFrame(
        {"user": later, "item": second[later], "event_s": 30.0, "rating": np.nan}
    )
    model, users, items = tiny_model(fit_events, N_USERS, N_ITEMS)
    everything = pd.concat([fit_events, validation], ignore_index=True)
    snapshot = night_of(N_USERS, np.zeros((N_ITEMS, 3), np.float32), everything)
    return model, users, items, snapshot, fit_events, validation


def test_the_path_is_chosen_where_it_ranks_the_validation_slice_better() -> None:
    model, users, items, snapshot, fit_events, validation = paired_world()
    judge = ValidationSlice(bare(model), users, items, snapshot, fit_events, validation)
    alone = judge.ndcg()
    assert alone < 1.0  # untrained towers do not know the pairs
    path = choose_item_item_term(judge, fit_events, (N_USERS, N_ITEMS), "auto")
    assert path is not None and path.kind == "ease"
    assert judge.ndcg(path.scorer(fit_events, N_USERS)) > alone
    # the path alone puts each later user's second item above the other unseen ones
    later = validation["user"].to_numpy()
    own = path.scorer(fit_events, N_USERS)(later)
    own[np.arange(len(later)), 2 * (later % 3)] = -np.inf  # seen
    assert own.argmax(axis=1).tolist() == validation["item"].tolist()
    assert choose_item_item_term(judge, fit_events, (N_USERS, N_ITEMS), "off") is None
    knn = choose_item_item_term(judge, fit_events, (N_USERS, N_ITEMS), "itemknn")
    assert knn is not None and knn.kind == "itemknn"


def test_a_warm_fit_chooses_its_paths_weight_again_and_keeps_the_rest() -> None:
    model, users, items, snapshot, fit_events, validation = paired_world()
    judge = ValidationSlice(bare(model), users, items, snapshot, fit_events, validation)
    chosen = choose_item_item_term(judge, fit_events, (N_USERS, N_ITEMS), "ease")
    assert chosen is not None
    good = judge.ndcg(chosen.scorer(fit_events, N_USERS))
    # the start's weight is too small to matter beside tonight's towers: the term is reweighted
    rec = bare(model, terms=[replace(chosen, scale=chosen.scale * 1e-6)])
    assert judge.ndcg(rec.terms[0].scorer(fit_events, N_USERS)) < good
    served = rescale_terms(rec, judge, fit_events, N_USERS)
    assert served == pytest.approx(good)
    (term,) = rec.terms
    assert (term.kind, term.param, term.half_life) == (chosen.kind, chosen.param, chosen.half_life)
    assert term.weights is chosen.weights  # the members are not refitted here
    # a start whose weight is already best keeps it exactly
    kept = term.scale
    rescale_terms(rec, judge, fit_events, N_USERS)
    assert rec.terms[0].scale == kept


@pytest.mark.parametrize("kind", ["ease", "itemknn"])
def test_the_terms_search_makes_its_baseline_twins_choice_fitting_each_point_once(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, users, items, snapshot, fit_events, validation = paired_world()
    judge = ValidationSlice(bare(model), users, items, snapshot, fit_events, validation)
    fitted: list[float] = []
    real_ease, real_knn = EASE.fit.__func__, ItemKNN.fit.__func__  # type: ignore[attr-defined]

    def counted_ease(cls: type[EASE], x: sp.csr_matrix, lam: float) -> EASE:
        fitted.append(lam)
        return real_ease(cls, x, lam)

    def counted_knn(cls: type[ItemKNN], x: sp.csr_matrix, k: int, ranked=None) -> ItemKNN:
        fitted.append(float(k))
        return real_knn(cls, x, k, ranked)

    histories: list[float] = []

    def counted_history(*args: object) -> sp.csr_matrix:
        histories.append(float(args[-1]))  # type: ignore[arg-type]
        return recency_matrix(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(EASE, "fit", classmethod(counted_ease))
    monkeypatch.setattr(ItemKNN, "fit", classmethod(counted_knn))
    monkeypatch.setattr(twin_search, "recency_matrix", counted_history)
    twin: dict[str, float] = {}
    term = choose_item_item_term(judge, fit_events, (N_USERS, N_ITEMS), kind, twin=twin)
    grid = [float(v) for v in (EASE_LAMBDAS if kind == "ease" else ITEMKNN_KS)]
    own = [float(v) for v in (ITEM_ITEM_LAMBDAS if kind == "ease" else ITEM_ITEM_KS)]
    # the twin's grid holds the term's: each point fitted once at most, the middle and the one
    # above it always
    assert len(fitted) == len(set(fitted)) and set(fitted) <= set(grid)
    middle = len(grid) // 2
    assert set(grid[middle : middle + 2]) <= set(fitted)
    # each recency-weighted history is built once for the twin and the term's grid alike
    assert sorted(histories) == sorted(RECENCY_HALF_LIVES)
    assert term is not None
    # the twin's choice is what the baseline's own search on this slice would choose
    x = binary_matrix(fit_events["user"], fit_events["item"], (N_USERS, N_ITEMS))
    monkeypatch.undo()

    def alone(value: float) -> float:
        fit = EASE.fit(x, value) if kind == "ease" else ItemKNN.fit(x, int(value))
        return judge.alone(lambda rows: fit.scores(x, rows))

    # ... the best of the points fitted, and no better than its neighbours (a local best)
    choice = twin[f"baseline_{kind}_param"]
    assert choice == first_best([p for p in grid if p in fitted], alone)
    at = grid.index(choice)
    assert set(grid[max(at - 1, 0) : at + 2]) <= set(fitted)
    assert twin[f"baseline_{kind}_recent_half_life"] in RECENCY_HALF_LIVES
    assert twin[f"baseline_{kind}_recent_param"] in grid
    # without a twin to search, the term fits its own grid only
    fitted.clear()
    monkeypatch.setattr(EASE, "fit", classmethod(counted_ease))
    monkeypatch.setattr(ItemKNN, "fit", classmethod(counted_knn))
    again = choose_item_item_term(judge, fit_events, (N_USERS, N_ITEMS), kind)
    assert len(fitted) == len(set(fitted)) and set(fitted) <= set(own)
    assert set(own[len(own) // 2 : len(own) // 2 + 2]) <= set(fitted)  # the middle and above
    # ... and ranks validation as well (which of tied points wins depends on the walk's order)
    assert again is not None

    def judged(t: ItemItemTerm) -> float:
        return judge.judged(judge.cached(t.scorer(fit_events, N_USERS)))[0]

    assert judged(again) == pytest.approx(judged(term))


class ScriptedSearch(TwinSearch):
    """A twin search whose fits score what a table says (the search's rule, not the models)."""

    def __init__(self, grid: list[float], scores: dict[float, float]) -> None:
        super().__init__("ease", pd.DataFrame({"user": [0], "item": [0], "event_s": [0.0]}),
                         (1, 1), grid)  # fmt: skip
        self.scores, self.fitted = scores, []

    def fit(self, param: float, judge: Judge) -> None:  # type: ignore[override]
        self.fitted.append(param)
        for h in (math.inf, *RECENCY_HALF_LIVES):
            self.alone[(param, h)] = self.scores[param]


def test_the_grid_is_walked_outward_from_its_middle_only_while_a_side_leads() -> None:
    grid = [10.0, 50.0, 200.0, 500.0, 1000.0]
    rising = ScriptedSearch(grid, {10.0: 0.3, 50.0: 0.4, 200.0: 0.2, 500.0: 0.1, 1000.0: 0.0})
    rising.walk(grid, lambda p: rising.fit(p, None), lambda p: False)  # type: ignore[arg-type]
    # 500 below 200: nothing above it; 200 led, then 50: both below fitted
    assert rising.fitted == [200.0, 500.0, 50.0, 10.0]
    assert rising.choices()["baseline_ease_param"] == 50.0
    falling = ScriptedSearch(grid, {10.0: 0.9, 50.0: 0.1, 200.0: 0.2, 500.0: 0.3, 1000.0: 0.1})
    falling.walk(grid, lambda p: falling.fit(p, None), lambda p: False)  # type: ignore[arg-type]
    assert falling.fitted == [200.0, 500.0, 1000.0]  # 500 beat 200: nothing below; 10 missed
    assert falling.choices()["baseline_ease_param"] == 500.0
    # the term's lead carries the walk on as the twin's does
    led = ScriptedSearch(grid, {10.0: 0.0, 50.0: 0.1, 200.0: 0.5, 500.0: 0.1, 1000.0: 0.0})
    led.walk(grid, lambda p: led.fit(p, None), lambda p: p == 500.0)  # type: ignore[arg-type]
    assert led.fitted == [200.0, 500.0, 1000.0, 50.0]
