"""The history-based user: its latest items pooled by a learned recency curve, trained on cuts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.learn.data.history import history_ratings, history_rows
from pipeline.learn.towers.losses import next_items_loss, rating_loss
from pipeline.learn.towers.model import MultiTaskModel, TowerInputs
from pipeline.learn.towers.next_items import UserSequences, full_softmax, sampled_columns
from pipeline.learn.towers.step_items import StepItems, step_reads
from tests.learn.tiny_model import tiny_model

N_USERS, N_ITEMS = 4, 6


def events() -> pd.DataFrame:
    # user 0: items 3, 1, 3 (again), 5 in time order; user 1: one event; users 2, 3: none
    return pd.DataFrame(
        {
            "user": [0, 0, 0, 0, 1],
            "item": [3, 1, 3, 5, 2],
            "event_s": [10.0, 20.0, 30.0, 40.0, 15.0],
        }
    )


def history_model(user_ids: bool = True) -> tuple[MultiTaskModel, TowerInputs, TowerInputs]:
    return tiny_model(events(), N_USERS, N_ITEMS, user_ids=user_ids)


def test_history_rows_are_the_latest_distinct_items_newest_first() -> None:
    rows = history_rows(events(), N_USERS, 3, pad=N_ITEMS)
    assert rows.tolist() == [[5, 3, 1], [2, 6, 6], [6, 6, 6], [6, 6, 6]]
    assert history_rows(events(), N_USERS, 1, pad=-1)[:, 0].tolist() == [5, 2, -1, -1]


def test_history_ratings_are_deviations_from_each_items_mean_aligned_with_the_rows() -> None:
    rated = events().assign(rating=[4.0, 2.0, 5.0, None, 3.0])  # item 3: 4 then 5; 5 implicit
    # item means: 3 -> 4.5, 1 -> 2, 2 -> 3; user 0 rows [5, 3, 1] (item 3 at its latest rating)
    assert history_ratings(rated, N_USERS, 3).tolist() == [
        [0.0, 0.5, 0.0],
        [0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0],
    ]
    more = pd.concat(
        [rated, pd.DataFrame({"user": [2], "item": [1], "event_s": [5.0], "rating": [4.0]})]
    )  # item 1's mean is now 3: user 0 liked it less than others, user 2 more
    assert history_ratings(more, N_USERS, 3).tolist() == [
        [0.0, 0.5, -1.0],
        [0.0, 0.0, 0.0],
        [1.0, 0.0, 0.0],
        [0.0, 0.0, 0.0],
    ]
    assert not history_ratings(events(), N_USERS, 3).any()  # no ratings at all: implicit


def test_pooling_follows_the_curve_and_an_empty_history_is_nothing() -> None:
    model, _, _ = history_model()
    pooling = model.history
    assert pooling is not None
    pooling.eval()
    table = torch.randn(N_ITEMS + 1, 4)
    table[-1] = 0
    history = torch.tensor([[5, 3, 1], [6, 6, 6]])
    out = pooling(table, history)
    weights = torch.softmax(pooling.curve, 0)
    assert torch.allclose(out[0, :4], weights @ table[[5, 3, 1]], atol=1e-6)
    assert torch.allclose(out[0, 4:], table[[5, 3, 1]].mean(0), atol=1e-6)
    assert torch.equal(out[1], torch.zeros(8))
    # the curve starts at 0.5 ** (position / half-life): the latest item counts most
    assert weights[0] > weights[1] > weights[2]


def test_a_users_new_events_change_their_vector_without_retraining() -> None:
    model, users, items = history_model()
    model.eval()
    before, _ = model.vector_tables(users, items, at_s=None)
    tonight = pd.concat(
        [events(), pd.DataFrame({"user": [2], "item": [4], "event_s": [50.0]})], ignore_index=True
    )
    users.history = torch.from_numpy(history_rows(tonight, N_USERS, 3, pad=N_ITEMS))
    after, _ = model.vector_tables(users, items, at_s=None)
    assert np.allclose(before[[0, 1, 3]], after[[0, 1, 3]])
    assert not np.allclose(before[2], after[2])


def test_without_user_ids_a_user_is_their_history_and_profile_alone() -> None:
    model, users, items = history_model(user_ids=False)
    model.eval()
    assert model.user_tower.ids is None
    assert not any(name.startswith("user_tower.ids") for name in model.state_dict())
    before, _ = model.vector_tables(users, items, at_s=None)
    users.ids = torch.zeros_like(users.ids)  # ids are not read at all
    after, _ = model.vector_tables(users, items, at_s=None)
    assert np.allclose(before, after)


def test_cuts_never_show_a_user_their_own_future() -> None:
    sequences = UserSequences(events(), length=3, pad=N_ITEMS)
    cuts = sequences.cuts(np.array([[0, 3], [0, 1], [1, 0]]), torch.device("cpu"))
    assert cuts.users.tolist() == [0, 0, 1]
    # user 0 cut after 3 events: history 3, 1 (distinct, newest first); target 5 only (3 is seen)
    assert cuts.history.tolist() == [[3, 1, 6], [3, 6, 6], [6, 6, 6]]
    assert cuts.at_s.tolist() == [40.0, 20.0, 15.0]
    targets = sorted(zip(*cuts.targets.tolist(), strict=True))
    assert targets == [(0, 5), (1, 1), (1, 5), (2, 2)]
    seen = sorted(zip(*cuts.seen.tolist(), strict=True))
    assert seen == [(0, 1), (0, 3), (1, 3)]


def test_draws_cut_inside_each_sequence_reproducibly() -> None:
    sequences = UserSequences(events(), length=3, pad=N_ITEMS)
    pairs = sequences.draw(np.random.default_rng(1), cuts=20)
    assert len(pairs) == 40
    many = pairs[pairs[:, 0] == 0][:, 1]
    assert set(many.tolist()) <= {1, 2, 3} and len(set(many.tolist())) > 1
    assert set(pairs[pairs[:, 0] == 1][:, 1].tolist()) == {0}
    again = sequences.draw(np.random.default_rng(1), cuts=20)
    assert np.array_equal(pairs, again)


@pytest.mark.parametrize("sampled", [False, True])
def test_the_loss_is_finite_and_trains_with_full_or_sampled_softmax(sampled: bool) -> None:
    model, users, items = history_model()
    model.train()
    sequences = UserSequences(events(), length=3, pad=N_ITEMS)
    cuts = sequences.cuts(np.array([[0, 3], [0, 1], [1, 0]]), torch.device("cpu"))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        columns = sampled_columns(cuts, N_ITEMS, 3, np.random.default_rng(0)) if sampled else None
        reads = step_reads(cuts, users, None, None, columns)
        step = StepItems.of(model, items, reads)
        if sampled:  # only what the step reads went through the item tower
            assert set(step.rows.tolist()) < set(range(N_ITEMS))
        loss = next_items_loss(model, users, items, step, cuts, torch.ones(3), columns)
        opt.zero_grad()
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]


def test_a_step_over_the_items_it_reads_has_the_whole_catalogues_loss_and_gradients() -> None:
    model, users, items = history_model()
    model.eval()  # no dropout: the two passes must see the same network
    sequences = UserSequences(events(), length=3, pad=N_ITEMS)
    cuts = sequences.cuts(np.array([[0, 3], [0, 1], [1, 0]]), torch.device("cpu"))
    columns = sampled_columns(cuts, N_ITEMS, 2, np.random.default_rng(3))
    rated = (torch.tensor([0, 1]), torch.tensor([3, 2]), torch.tensor([4.0, 2.0]))

    def loss_and_grads(reads: list[torch.Tensor] | None) -> tuple[float, list[torch.Tensor]]:
        model.zero_grad()
        step = StepItems.of(model, items, reads)
        loss = next_items_loss(model, users, items, step, cuts, torch.ones(3), columns)
        loss = loss + rating_loss(model, users, items, rated, step.table(), step.place)
        loss.backward()
        return float(loss.detach()), [
            p.grad.clone() for p in model.parameters() if p.grad is not None
        ]

    everything, full_grads = loss_and_grads(None)
    read, read_grads = loss_and_grads(step_reads(cuts, users, rated, None, columns))
    assert read == pytest.approx(everything, rel=1e-6)
    assert len(read_grads) == len(full_grads)
    for a, b in zip(read_grads, full_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_the_whole_catalogue_softmax_stays_within_its_budget() -> None:
    assert full_softmax(cuts_per_epoch=8_000, n_items=1_000, max_items=50_000, budget=1e7)
    assert not full_softmax(cuts_per_epoch=160_000, n_items=12_000, max_items=50_000, budget=3e8)
    assert not full_softmax(cuts_per_epoch=10, n_items=60_000, max_items=50_000, budget=1e12)
