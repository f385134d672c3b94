"""A process's share of a data-parallel step: the same draws everywhere, its slice of the rows,
the gradients averaged into the whole step's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from pipeline.learn.towers.next_items import UserSequences
from pipeline.learn.towers.shard import Shard

ROWS, FEATURES = 8, 3


def test_a_shard_takes_every_worlds_row_from_its_rank_and_refuses_a_rank_outside() -> None:
    rows = np.arange(7)
    assert Shard(1, 3).take(rows).tolist() == [1, 4]
    assert Shard.ALONE.take(rows) is rows
    assert Shard(2, 3).fits(3) and not Shard(2, 3).fits(2)
    with pytest.raises(ValueError, match="rank 2 is not in a world of 2"):
        Shard(2, 2)


def test_two_shards_split_every_step_of_the_single_process_between_them() -> None:
    rng = np.random.default_rng(0)
    n = 300
    events = pd.DataFrame(
        {
            "user": rng.integers(0, 40, n),
            "item": rng.integers(0, 50, n),
            "event_s": rng.random(n) * 1e6,
        }
    )
    sequences = UserSequences(events, length=5, pad=50)

    def steps(shard: Shard) -> list[list[tuple[int, float]]]:
        batches = sequences.batches(
            np.random.default_rng(3), 2, 16, torch.device("cpu"), shard=shard
        )
        return [sorted(zip(c.users.tolist(), c.at_s.tolist(), strict=True)) for c in batches]

    alone, first, second = steps(Shard.ALONE), steps(Shard(0, 2)), steps(Shard(1, 2))
    assert len(alone) == len(first) == len(second) > 3
    for whole, a, b in zip(alone, first, second, strict=True):
        assert sorted(a + b) == whole and abs(len(a) - len(b)) <= 1


def model_and_batch() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = torch.nn.ModuleDict(
        {"used": torch.nn.Linear(FEATURES, 1), "unused": torch.nn.Linear(FEATURES, 1)}
    )
    x = torch.randn(ROWS, FEATURES, generator=torch.Generator().manual_seed(1))
    return model, x, x.sum(dim=1, keepdim=True)


def step_gradients(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    torch.nn.functional.mse_loss(model["used"](x), y).backward()


def rank_step(rank: int, world: int, rendezvous: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world)
    try:
        shard = Shard(rank, world)
        model, x, y = model_and_batch()
        step_gradients(model, shard.take(x), shard.take(y))
        shard.average_gradients(model.parameters())
        grads = {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()}
        torch.save((grads, shard.mean({"loss": float(rank)})), f"{out}/{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_processes_average_their_halves_into_the_whole_steps_gradient(tmp_path: Path) -> None:
    mp.spawn(rank_step, args=(2, str(tmp_path / "rendezvous"), str(tmp_path)), nprocs=2)
    model, x, y = model_and_batch()
    step_gradients(model, x, y)  # one process, the whole step
    for rank in (0, 1):
        grads, losses = torch.load(tmp_path / f"{rank}.pt")
        assert losses == {"loss": 0.5}
        for name, p in model.named_parameters():
            if name.startswith("unused"):
                assert grads[name] is None, name  # touched by no process: the optimiser skips it
            else:
                torch.testing.assert_close(grads[name], p.grad, msg=name)
