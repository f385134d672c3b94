"""The two architectures behind one model: Shared-Bottom and MMoE towers, and the head tables."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import torch

from pipeline.learn.towers.model import HeadTables, ModelConfig, MultiTaskModel, TowerInputs
from tests.learn.tiny_model import head_ratings, tiny_model


def tiny(
    architecture: str, experts: int = 3, **options: object
) -> tuple[MultiTaskModel, TowerInputs, TowerInputs]:
    torch.manual_seed(0)
    cfg = ModelConfig(
        text_dim=6,
        n_users=5,
        n_items=7,
        n_genders=2,
        n_occupations=3,
        n_categories=2,
        dim=4,
        hidden=8,
        id_dim=4,
        cat_dim=2,
        text_proj=3,
        architecture=architecture,
        experts=experts,
        **options,  # type: ignore[arg-type]
    )
    users = TowerInputs(
        ids=torch.arange(6),
        texts=[torch.randn(6, 6), torch.randn(6, 6)],
        cats=torch.zeros(6, 2, dtype=torch.long),
        numeric=torch.randn(6, 4),
    )
    items = TowerInputs(
        ids=torch.arange(8),
        texts=[torch.randn(8, 6)],
        cats=torch.zeros(8, 1, dtype=torch.long),
        numeric=torch.randn(8, 4),
        release_s=torch.zeros(8, dtype=torch.float64),
    )
    return MultiTaskModel(cfg).eval(), users, items


def test_shared_bottom_gives_every_task_the_same_vectors() -> None:
    model, users, items = tiny("shared_bottom")
    rows = torch.arange(6)
    interaction = model.users(users, rows, "interaction")
    assert torch.equal(interaction, model.users(users, rows, "rating"))
    assert torch.equal(interaction, model.users(users, rows, "social"))
    heads = model.head_tables(users, items)
    u, v = model.vector_tables(users, items, at_s=0.0)
    assert heads.rating_user == pytest.approx(u[:, :-1], abs=1e-6)
    assert heads.rating_item == pytest.approx(v[:, :-1], abs=1e-6)


def test_mmoe_mixes_shared_experts_with_one_gate_per_task() -> None:
    model, users, items = tiny("mmoe", experts=3)
    tower = model.user_tower.bottom
    assert len(tower.experts) == 3 and set(tower.gates) == {"interaction", "rating", "social"}
    assert set(model.item_tower.bottom.gates) == {"interaction", "rating"}
    rows = torch.arange(6)
    x = model.user_tower.inputs(users, rows)
    # a task's output is its gate's convex mixture of the experts' outputs
    gate = torch.softmax(tower.gates["rating"](x), dim=1)
    experts = torch.stack([e(x) for e in tower.experts], dim=1)
    expected = (gate[:, :, None] * experts).sum(1)
    assert torch.allclose(model.users(users, rows, "rating"), expected, atol=1e-6)
    assert not torch.allclose(model.users(users, rows, "rating"), model.users(users, rows))
    heads = model.head_tables(users, items)
    assert isinstance(heads, HeadTables)
    assert heads.rating_user.shape == (6, 4) and heads.social_user.shape == (6, 4)
    ratings = head_ratings(model, heads, torch.arange(6).numpy(), torch.arange(6).numpy())
    assert ((ratings >= 0.5) & (ratings <= 5.0)).all()
    social = model.social_vectors(heads)
    assert torch.allclose(torch.as_tensor(social).norm(dim=1), torch.ones(6), atol=1e-5)


def test_an_unknown_architecture_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=re.escape("unknown architecture 'moe'")):
        tiny("moe")


def test_weights_of_a_tower_without_a_bottom_still_load(tmp_path) -> None:
    """Bundles saved before the towers had a `bottom` keep loading (keys `*_tower.mlp.*`)."""
    import json

    from pipeline.learn.ensemble.bundle import load_bundle
    from pipeline.learn.towers.feature_space import FeatureSpace

    model, _, _ = tiny("shared_bottom")
    old = {k.replace("_tower.bottom.mlp.", "_tower.mlp."): w for k, w in model.state_dict().items()}
    assert any("_tower.mlp." in k for k in old)
    torch.save(old, tmp_path / "weights.pt")
    space = FeatureSpace([], [], [], [], [], "m")
    meta = {"model": model.cfg.to_dict(), "space": space.__dict__, "trained_on": "2026-01-01"}
    meta["model"].pop("architecture")
    meta["model"].pop("experts")
    (tmp_path / "bundle.json").write_text(json.dumps(meta))
    loaded = load_bundle(tmp_path)
    for key, weight in model.state_dict().items():
        assert torch.equal(loaded.towers.state_dict()[key], weight)


def test_vectors_of_a_bundle_without_rating_vectors_read_as_the_old_rating_input(tmp_path) -> None:
    """Old bundles' rating head read the interaction vectors less their last column."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.learn.ensemble.bundle import read_vectors

    vectors = np.arange(12, dtype=np.float32).reshape(3, 4)
    flat = pa.array(vectors.reshape(-1), pa.float32())
    old = pa.table(
        {"user_id": ["a", "b", "c"], "vector": pa.FixedSizeListArray.from_arrays(flat, 4)}
    )
    pq.write_table(old, tmp_path / "users.parquet")
    ids, rating = read_vectors(tmp_path / "users.parquet", "user_id", "rating_vector")
    assert ids == ["a", "b", "c"]
    np.testing.assert_array_equal(rating, vectors[:, :-1])


def test_freshness_is_read_at_each_users_own_moment() -> None:
    import numpy as np

    model, _, _ = tiny("shared_bottom")
    with torch.no_grad():
        model.freshness.weight.copy_(
            torch.arange(model.cfg.age_buckets, dtype=torch.float32)[:, None]
        )
    day = 86_400.0
    release = np.array([0.0, 10 * day, np.nan])
    moments = np.array([1 * day, 100 * day])
    block = model.freshness_at(moments[:, None], release[None, :])
    assert block.shape == (2, 3)
    assert block[0, 2] == block[1, 2] == 0.0  # no release date: bucket 0
    assert block[1, 0] > block[0, 0]  # the same item, older at the later moment
    assert block[0, 1] == 1.0  # not yet released at that moment: age 0, the first bucket
    pairs = model.freshness_at(moments, release[:2])  # one moment per item: pairs
    assert pairs.tolist() == [block[0, 0], block[1, 1]]


def test_rating_factors_add_a_per_user_dot_product_beside_the_bias() -> None:
    model, users, items = tiny("shared_bottom", rating_user_bias=True, rating_user_factors=3)
    heads = model.head_tables(users, items)
    assert heads.rating_user.shape == (6, 4 + 3 + 1)  # tower output, factors, bias
    rows = torch.arange(6)
    before = head_ratings(model, heads, rows.numpy(), rows.numpy())
    with torch.no_grad():  # user 2's factors (zero at the start) now point along its item
        model.rating_bias.weight[2, :3] = 5 * model.rating_item_map(torch.ones(1, 4))[0]
    heads = model.head_tables(users, items)
    after = head_ratings(model, heads, rows.numpy(), rows.numpy())
    assert after[2] != pytest.approx(before[2])  # only user 2's ratings moved
    assert after[[0, 1, 3, 4, 5]] == pytest.approx(before[[0, 1, 3, 4, 5]])


def test_a_rated_pair_is_rated_from_the_history_without_its_item() -> None:
    events = pd.DataFrame({"user": [0, 0, 1], "item": [1, 2, 2], "event_s": [1.0, 2.0, 3.0]})
    model, users, items = tiny_model(events, n_users=2, n_items=4)
    model.eval()
    table = model.history_table(items)
    rows = torch.tensor([0, 0])
    whole = model.rating_users(users, rows, table)
    left_out = model.rating_users(users, rows, table, without=torch.tensor([2, 3]))
    assert not torch.allclose(left_out[0], whole[0])  # item 2 is in user 0's history
    assert torch.allclose(left_out[1], whole[1])  # item 3 is not: nothing to leave out


def test_how_a_user_rated_moves_their_ratings_but_a_rated_pair_never_sees_its_own() -> None:
    events = pd.DataFrame(
        {"user": [0, 0, 1], "item": [1, 2, 2], "event_s": [1.0, 2.0, 3.0], "rating": [5.0, 1, 3]}
    )
    model, users, items = tiny_model(events, n_users=2, n_items=4, rating_history=True)
    model.eval()
    assert users.history_ratings is not None
    table = model.history_table(items)
    rows, pair_items = torch.tensor([0, 0]), torch.tensor([2, 3])
    before = model.rating_users(users, rows, table)
    before_pairs = model.rating_users(users, rows, table, without=pair_items)
    users.history_ratings[0] = -users.history_ratings[0]  # same items, tastes flipped
    after = model.rating_users(users, rows, table)
    assert not torch.allclose(before, after)  # how they rated is read, not only what
    after_pairs = model.rating_users(users, rows, table, without=pair_items)
    # the pair (0, 2) is rated without item 2 in the history and without its rating
    users.history_ratings[0, users.history[0] == 2] = 9.0
    assert torch.allclose(model.rating_users(users, rows[:1], table, without=pair_items[:1]),
                          after_pairs[:1])  # fmt: skip
    assert not torch.allclose(before_pairs[1], after_pairs[1])  # item 1's rating still counts


def test_the_freshness_curve_gets_an_embeddings_gradient_by_bincount() -> None:
    from pipeline.learn.towers.model import BucketLookup

    values = torch.randn(14, requires_grad=True)
    buckets = torch.randint(0, 14, (64, 300))
    upstream = torch.randn(64, 300)
    (BucketLookup.apply(values, buckets) * upstream).sum().backward()
    reference = torch.nn.functional.embedding(buckets, values.detach()[:, None].requires_grad_())
    weight = reference.grad_fn.next_functions[0][0].variable  # the leaf embedding table
    (reference.squeeze(-1) * upstream).sum().backward()
    assert torch.allclose(values.grad, weight.grad[:, 0], atol=1e-4)


def test_a_block_of_moments_by_releases_gets_the_buckets_of_its_cells() -> None:
    """The block path (sorted releases, a running count) against the cell-by-cell comparison,
    and against log2 of the days where times are whole seconds."""
    import numpy as np

    model, _, _ = tiny("shared_bottom")
    gen = torch.Generator().manual_seed(3)
    day = 86_400
    at = torch.randint(0, 20_000 * day, (40,), generator=gen).double()
    release = torch.randint(0, 20_000 * day, (300,), generator=gen).double()
    release[::7] = float("nan")
    release[1] = at[0] - 3 * day  # exactly on an edge: (2^2 - 1) days
    release[2] = at[0] + 1  # a second after the moment: not yet released
    at[5] = float("nan")
    block = model.age_buckets(at[:, None], release[None, :])
    cells = model.age_buckets(at[:, None].expand(40, 300), release[None, :].expand(40, 300))
    assert torch.equal(block, cells)
    days = ((at[:, None] - release[None, :]) / day).clamp(min=0).numpy()
    with np.errstate(invalid="ignore"):
        expected = 1 + np.minimum(np.floor(np.log2(1 + days)), model.cfg.age_buckets - 2)
    expected = np.where(np.isnan(days), 0, expected)
    assert np.array_equal(block.numpy(), expected)
    assert block[0, 1] == 3 and block[0, 2] == 1 and (block[5] == 0).all()


@pytest.mark.parametrize("density", [0.0, 1.0], ids=["product", "gathered"])
def test_a_pooled_history_and_its_gradients_equal_the_dense_sum(
    density: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.learn.towers import layers
    from pipeline.learn.towers.layers import sparse_pool

    monkeypatch.setattr(layers, "GATHER_MAX_DENSITY", density)  # either way of pooling

    gen = torch.Generator().manual_seed(0)
    table = torch.randn(31, 8, generator=gen, requires_grad=True)
    history = torch.randint(0, 31, (12, 6), generator=gen)
    history[:, 4:] = 30  # the padding row
    history[3] = 30  # a user with no history
    real = history != 30
    weights = torch.rand(12, 6, generator=gen, requires_grad=True)
    pooled = sparse_pool(table, history, real, weights)
    dense = (table[history] * (weights * real)[..., None]).sum(1)
    assert torch.allclose(pooled, dense, atol=1e-6) and (pooled[3] == 0).all()
    upstream = torch.randn(12, 8, generator=gen)
    grads = torch.autograd.grad((pooled * upstream).sum(), (table, weights))
    expected = torch.autograd.grad((dense * upstream).sum(), (table, weights))
    for got, want in zip(grads, expected, strict=True):
        assert torch.allclose(got, want, atol=1e-5)


def test_byte_dropout_drops_its_rate_rounded_to_a_256th_and_keeps_the_mean() -> None:
    from pipeline.learn.towers.layers import ByteDropout

    drop = ByteDropout(0.1)
    torch.manual_seed(0)
    x = torch.ones(1000, 257)  # not a multiple of eight elements
    out = drop(x)
    assert out.unique().tolist() == pytest.approx([0.0, 256 / 230])
    assert (out == 0).float().mean().item() == pytest.approx(26 / 256, abs=0.003)
    assert out.mean().item() == pytest.approx(1.0, abs=0.01)
    torch.manual_seed(0)
    assert torch.equal(drop(x), out)  # seeded by torch's generator
    drop.eval()
    assert drop(x) is x
    with pytest.raises(ValueError, match="dropout rate"):
        ByteDropout(0.999)
