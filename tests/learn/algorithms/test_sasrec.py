"""SASRec, the sequential yardstick: sequences, training and that it learns an order."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.evaluate.sequential import sequence_length
from pipeline.learn.algorithms.sasrec import SASRecConfig, fit, scorer, sequences

N_ITEMS, N_USERS = 12, 120


def test_sequences_are_the_latest_items_in_time_order_left_padded() -> None:
    events = pd.DataFrame(
        {"user": [1, 1, 1, 0, 1], "item": [4, 2, 7, 3, 9], "event_s": [3.0, 1.0, 2.0, 5.0, 4.0]}
    )
    seqs = sequences(events, 3, max_len=3)
    # ids + 1; user 1's four items keep the latest max_len + 1 (inputs and the last target)
    assert seqs.tolist() == [[0, 0, 0, 4], [3, 8, 5, 10], [0, 0, 0, 0]]


def test_the_sequence_length_follows_the_users_histories_within_bounds() -> None:
    assert sequence_length(np.array([3, 4, 5])) == 20
    assert sequence_length(np.full(10, 90)) == 90
    assert sequence_length(np.full(10, 5000)) == 200


def order_world() -> pd.DataFrame:
    """Every user walks the items in one cyclic order from a random start: item i, then i + 1."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(N_USERS):
        start, length = int(rng.integers(N_ITEMS)), int(rng.integers(4, 9))
        rows += [(u, (start + k) % N_ITEMS, float(k)) for k in range(length)]
    return pd.DataFrame(rows, columns=["user", "item", "event_s"])


def test_it_learns_what_comes_next_and_keeps_the_best_epoch() -> None:
    events = order_world()
    cfg = SASRecConfig(max_len=8, dim=16, dropout=0.0, lr=5e-3, batch_size=32, max_epochs=60)
    seqs = sequences(events, N_USERS, cfg.max_len)
    following = (seqs[:, -1] - 1 + 1) % N_ITEMS  # the item after each user's last one

    def hits(score_fn) -> float:
        return float(np.mean(score_fn(np.arange(N_USERS)).argmax(axis=1) == following))

    model, epochs = fit(events, N_USERS, N_ITEMS, cfg, validate=hits)
    assert 1 <= epochs <= cfg.max_epochs
    assert hits(scorer(model, seqs)) > 0.9  # chance: 1 in 12
    again, _ = fit(events, N_USERS, N_ITEMS, cfg, epochs=epochs)  # seeded: the same model
    np.testing.assert_allclose(
        scorer(again, seqs)(np.arange(5)), scorer(model, seqs)(np.arange(5)), rtol=1e-4, atol=1e-5
    )
