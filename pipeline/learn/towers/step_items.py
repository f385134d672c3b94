"""What one training step reads of the item tower: the vectors of only the items it touches.

A history-based user is made of item vectors, so a step needs the item tower's output for every
item in its cuts' histories, its softmax columns, and the histories of its rating and social
users. Running the tower over the whole catalogue each step made an epoch cost users x items;
over the rows a step reads it costs what the step reads (the gradients are the same: an item no
one in the step touches gets none either way). With the whole-catalogue softmax every item is a
column, and the table is the catalogue's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pipeline.learn.towers.layers import TowerInputs
from pipeline.learn.towers.model import MultiTaskModel
from pipeline.learn.towers.next_items import Cuts


@dataclass
class StepItems:
    """The interaction vectors and biases of `rows` (ascending item rows) and where each item
    row sits among them (`place`: -1 for an item not read; the padding, item row `m`, maps to
    the zero row after them, as `MultiTaskModel.with_padding` places it)."""

    rows: torch.Tensor  # [r]
    place: torch.Tensor  # [m + 1]
    vectors: torch.Tensor  # [r, dim]
    bias: torch.Tensor  # [r]

    @classmethod
    def of(
        cls, model: MultiTaskModel, items: TowerInputs, reads: list[torch.Tensor] | None
    ) -> StepItems:
        """The item tower over the items `reads` name (tensors of item rows, the padding `m`
        among them allowed); None: every item."""
        m = len(items)
        device = items.ids.device
        if reads is None:
            rows = torch.arange(m, device=device)
        else:
            rows = torch.unique(torch.cat([r.reshape(-1) for r in reads]))
            rows = rows[rows < m]
        place = torch.full((m + 1,), -1, dtype=torch.long, device=device)
        place[rows] = torch.arange(len(rows), device=device)
        place[m] = len(rows)
        vectors, bias = model.items(items, rows)
        return cls(rows, place, vectors, bias)

    def table(self) -> torch.Tensor:
        """The vectors and the padding's zero row: what histories (through `place`) pool."""
        return MultiTaskModel.with_padding(self.vectors)


def step_reads(
    cuts: Cuts,
    users: TowerInputs,
    rated: tuple[torch.Tensor, ...] | None,
    social: tuple[torch.Tensor, torch.Tensor] | None,
    columns: torch.Tensor | None,
) -> list[torch.Tensor] | None:
    """The item rows a step reads: its cuts' histories and softmax `columns` (None: the whole
    catalogue, so every item), and the histories of its rating and social users."""
    if columns is None:
        return None
    assert users.history is not None
    reads = [cuts.history, columns]
    if rated is not None:
        reads.append(users.history[rated[0]])
    if social is not None:
        pairs, negs = social
        reads.append(users.history[torch.cat([pairs.reshape(-1), negs])])
    return reads
