"""The one search rule: the best score wins, a tie keeps the earlier candidate, a guard rules
candidates out."""

from __future__ import annotations

import math

import pytest

from pipeline.learn.data.choice import Best, first_best


def test_the_first_of_the_best_wins_either_way_round() -> None:
    scores = {"a": 0.2, "b": 0.5, "c": 0.5, "d": 0.1}
    assert first_best("abcd", scores.__getitem__) == "b"
    assert first_best("abcd", scores.__getitem__, lower_is_better=True) == "d"
    assert first_best("cb", scores.__getitem__) == "c"
    with pytest.raises(ValueError, match="no candidate"):
        first_best([], scores.__getitem__)


def test_an_incumbent_keeps_its_place_on_a_tie_and_a_guard_rules_out() -> None:
    best: Best[str] = Best(0.3, "incumbent", allows=lambda cold: not cold < 0.5)
    best.offer(0.3, "tie")
    assert best.choice == "incumbent"
    best.offer(0.4, "loses new items", 0.2)
    assert best.choice == "incumbent"
    best.offer(0.4, "better", math.nan)  # no cold items to keep: allowed
    assert (best.score, best.choice) == (0.4, "better")
