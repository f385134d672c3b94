from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.learn.ensemble.recommender import Recommender
from pipeline.learn.ensemble.warm_state import WarmStart
from pipeline.learn.towers.feature_space import FeatureSpace
from pipeline.learn.towers.model import ModelConfig, MultiTaskModel, TowerInputs
from pipeline.learn.towers.next_items import UserSequences
from pipeline.learn.towers.warm_start import (
    WarmStartError,
    adam_moments,
    check_architecture,
    extend_state,
    restore_moments,
    row_map,
)

TEXT_DIM = 5


def space(users: list[str], items: list[str], categories: list[str]) -> FeatureSpace:
    return FeatureSpace(
        user_ids=users,
        item_ids=items,
        genders=["f", "m"],
        occupations=["nurse"],
        categories=categories,
        embedding_model="m@1:mean",
    )


def model(s: FeatureSpace, **changes: object) -> MultiTaskModel:
    shape = {"dim": 4, "hidden": 8, "id_dim": 3, "cat_dim": 2, "text_proj": 3, **changes}
    cfg = ModelConfig(
        text_dim=TEXT_DIM,
        **s.sizes(),
        user_texts=1,
        rating_user_bias=True,
        **shape,  # type: ignore[arg-type]
    )
    return MultiTaskModel(cfg).eval()


def item_inputs(s: FeatureSpace, rows: list[tuple[str, str]], texts: torch.Tensor) -> TowerInputs:
    """Items as (id, category), coded in the vocabularies of `s`."""
    ids = [s.item_ids.index(i) + 1 if i in s.item_ids else 0 for i, _ in rows]
    cats = [s.categories.index(c) + 1 if c in s.categories else 0 for _, c in rows]
    return TowerInputs(
        ids=torch.tensor(ids),
        texts=[texts],
        cats=torch.tensor(cats).unsqueeze(1),
        numeric=torch.ones(len(rows), 4),
        release_s=torch.zeros(len(rows), dtype=torch.float64),
    )


def test_rows_follow_their_ids_and_new_ids_start_as_the_unknown_row() -> None:
    assert row_map(["a", "b", "c"], ["b", "new", "c"]).tolist() == [0, 2, 0, 3]


def test_warm_start_keeps_old_items_vectors_and_scores_new_items_as_cold_ones() -> None:
    torch.manual_seed(0)
    old_space = space(["u1", "u2"], ["i1", "i2", "i3"], ["book", "kit"])
    new_space = space(["u0", "u1", "u2"], ["i0", "i1", "i3", "i4"], ["book", "game", "kit"])
    old = model(old_space)
    new = model(new_space)
    new.load_state_dict(extend_state(old.state_dict(), old_space, new_space, new.state_dict()))

    catalogue = [("i1", "book"), ("i3", "kit"), ("i4", "kit"), ("i0", "game")]
    texts = torch.randn(len(catalogue), TEXT_DIM)
    rows = torch.arange(len(catalogue))
    with torch.no_grad():
        before, _ = old.items(item_inputs(old_space, catalogue, texts), rows)
        after, _ = new.items(item_inputs(new_space, catalogue, texts), rows)
    # i1 and i3 keep their learned vectors before any training
    assert torch.allclose(after[:2], before[:2], atol=1e-6)
    # i4 and i0 (and the new category) are scored as the champion scored unknown ids
    assert torch.allclose(after[2:], before[2:], atol=1e-6)
    assert torch.isfinite(after).all()
    bias_old, bias_new = old.rating_bias.weight, new.rating_bias.weight  # type: ignore[union-attr]
    assert torch.equal(bias_new[[2, 3]], bias_old[[1, 2]])  # u1, u2
    assert torch.equal(bias_new[1], bias_old[0])  # u0: the unknown user's row


def test_a_changed_architecture_is_refused() -> None:
    s = space(["u1"], ["i1"], ["book"])
    old, wider = model(s), model(s, dim=8)
    with pytest.raises(WarmStartError, match="dim 4 -> 8"):
        check_architecture(old.cfg, wider.cfg)
    with pytest.raises(WarmStartError, match="architecture changed"):
        extend_state(old.state_dict(), s, s, wider.state_dict())
    grown = space(["u1", "u2"], ["i1", "i2"], ["book"])
    check_architecture(old.cfg, model(grown).cfg)  # vocabulary sizes may change


def test_warm_cuts_are_tonights_events_plus_a_replay_share() -> None:
    # user 0: old events only; user 1: two old, two new; user 2: one event, new
    events = pd.DataFrame(
        {
            "user": [0, 0, 0, 1, 1, 1, 1, 2],
            "item": [1, 2, 3, 1, 2, 3, 4, 5],
            "event_s": [1.0, 2.0, 3.0, 1.0, 2.0, 10.0, 11.0, 12.0],
        }
    )
    seqs = UserSequences(events, length=5, pad=6)
    rng = np.random.default_rng(0)
    tonight = seqs.draw(rng, cuts=50, since_s=5.0, replay=0.0)
    users = seqs.users[tonight[:, 0]]
    assert set(users.tolist()) == {1, 2}
    for s, c in tonight.tolist():
        assert seqs.times[s][c] > 5.0  # every cut's moment is a new event
    assert set(tonight[users == 1, 1].tolist()) == {2, 3}
    assert set(tonight[users == 2, 1].tolist()) == {0}  # the empty cut: no history yet
    with_replay = seqs.draw(np.random.default_rng(0), cuts=50, since_s=5.0, replay=1.0)
    assert len(with_replay) == len(tonight) + 3 * 50
    assert 0 in seqs.users[with_replay[:, 0]]


def test_adam_moments_follow_their_ids_and_survive_the_files(tmp_path) -> None:
    torch.manual_seed(0)
    old_space = space(["u1"], ["i1", "i2"], ["book"])
    new_space = space(["u1"], ["i2", "i9", "i1"], ["book"])
    old = model(old_space).train()
    opt = torch.optim.AdamW(old.parameters(), lr=1e-3)
    inputs = item_inputs(old_space, [("i1", "book"), ("i2", "book")], torch.randn(2, TEXT_DIM))
    for _ in range(3):  # a few steps, so that the items' moments are non-zero
        vectors, bias = old.items(inputs, torch.arange(2))
        opt.zero_grad()
        (vectors.square().sum() + bias.sum()).backward()
        opt.step()
    moments = adam_moments(old, opt)
    ids = "item_tower.ids.weight"
    assert int(moments[ids]["step"]) == 3

    folder = tmp_path / "warm"
    folder.mkdir()
    WarmStart(Recommender(old, old_space), 1.0, 3, moments).write(folder)
    read = WarmStart.read(folder)["moments"]
    assert torch.equal(read[ids]["exp_avg_sq"], moments[ids]["exp_avg_sq"])

    new = model(new_space)
    new_opt = torch.optim.AdamW(new.parameters(), lr=1e-3)
    restore_moments(read, old_space, new_space, new, new_opt)
    state = new_opt.state[new.item_tower.ids.weight]
    before = moments[ids]["exp_avg_sq"]
    assert torch.equal(state["exp_avg_sq"][[1, 3]], before[[2, 1]])  # i2, i1 keep theirs
    assert torch.equal(state["exp_avg_sq"][2], before[0])  # i9: the unknown id's
    assert int(state["step"]) == 3
    for name, p in new.named_parameters():  # every weight's state has its weight's shape
        if p in new_opt.state:
            assert new_opt.state[p]["exp_avg"].shape == p.shape, name
