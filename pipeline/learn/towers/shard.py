"""One process's share of a data-parallel training loop (`distributed.py`).

Every process draws the same steps from the same seeded generator, in the same order, and keeps
its slice of each step's rows (`take`): the draws stay in step across processes without any
message. After the backward pass the gradients are averaged (`average_gradients`), so every
process holds the same weights after every step. A step of `world` processes is close to one
step of a single process over the same rows, not equal to it: each process's loss is a mean over
its own rows (recency weights normalised over them), and a sampled softmax's columns are its own
rows' targets and the shared negatives, so another process's targets are not among its
negatives. (For a loss that is a plain mean over equal slices it is exact: a test checks that.)

`Shard.ALONE` is one process: `take` keeps everything and nothing is communicated.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, TypeVar

import numpy as np
import torch

Rows = TypeVar("Rows", np.ndarray, torch.Tensor)


@dataclass(frozen=True)
class Shard:
    rank: int
    world: int
    device: str = "cpu"  # where the collectives' buffers live (CUDA for `nccl`)

    ALONE: ClassVar[Shard]

    def __post_init__(self) -> None:
        if not 0 <= self.rank < self.world:
            raise ValueError(f"rank {self.rank} is not in a world of {self.world}")

    @property
    def alone(self) -> bool:
        return self.world == 1

    def take(self, rows: Rows) -> Rows:
        """This process's rows of a step's `rows` (every `world`-th, from `rank`)."""
        return rows if self.alone else rows[self.rank :: self.world]

    def fits(self, n: int) -> bool:
        """Whether a step of `n` rows gives every process at least one (the same answer in
        every process: a step skipped is skipped by all)."""
        return n >= self.world

    def average_gradients(self, params: Iterable[torch.nn.Parameter]) -> None:
        """Each parameter's gradient averaged over the processes, in one all-reduce. A
        parameter no process touched keeps no gradient (the optimiser skips it, as alone)."""
        if self.alone:
            return
        params = list(params)
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        used = torch.tensor([float(p.grad is not None) for p in params], device=grads[0].device)
        flat = torch.cat([g.reshape(-1) for g in grads] + [used])
        torch.distributed.all_reduce(flat)
        flat /= self.world
        offset = 0
        for p, g in zip(params, grads, strict=True):
            n = g.numel()
            p.grad = flat[offset : offset + n].view_as(p)  # a view: `flat` is this step's alone
            offset += n
        for p, share in zip(params, flat[offset:].tolist(), strict=True):
            if share == 0.0:
                p.grad = None

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """`values` averaged over the processes (an epoch's losses, for the log)."""
        if self.alone or not values:
            return values
        keys = sorted(values)
        flat = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(flat)
        return dict(zip(keys, (flat / self.world).tolist(), strict=True))


Shard.ALONE = Shard(0, 1)
