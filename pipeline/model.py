"""The multi-task model: shared user and item towers (the shared bottom), one head per task.

- *interaction*: score(u, i, t) = user(u) · item(i) + bias(i) + freshness(age of i at t). Top-N is
  a matrix product of two vector tables, so nightly scoring is chunked matmuls.
- *rating*: the seed's ŷ = sigmoid(W·[...] + b), rescaled to 0.5..5, on the pair's tower outputs.
- *social*: friends are near each other after a learned projection of the user vectors.

Towers read id embeddings, categorical and standardised numeric features and frozen text vectors
through a learned projection. Ids are dropped at random while training (DropoutNet-style), so an
entity the model never saw (id 0, "unknown") is scored from its text and features alone.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

SECONDS_PER_DAY = 86_400.0
RATING_LOW, RATING_HIGH = 0.5, 5.0


@dataclass
class ModelConfig:
    text_dim: int
    n_users: int  # known user ids; index 0 is "unknown"
    n_items: int
    n_genders: int
    n_occupations: int
    n_categories: int
    dim: int = 64  # user and item vectors
    hidden: int = 256
    id_dim: int = 32
    cat_dim: int = 8
    text_proj: int = 64
    dropout: float = 0.1
    user_id_dropout: float = 0.2
    item_id_dropout: float = 0.3
    age_buckets: int = 14  # log2 days since release, 0 = no release date

    def to_dict(self) -> dict:
        return asdict(self)


USER_NUMERIC = ("age_z", "age_imputed", "has_profile", "has_history")
ITEM_NUMERIC = ("price_z", "price_imputed", "price_clipped", "has_text")


@dataclass
class Features:
    """One side's inputs as tensors, row-aligned with the snapshot's users or items."""

    ids: torch.Tensor  # [n] long, 0 = unknown id
    texts: list[torch.Tensor]  # each [n, text_dim]
    cats: torch.Tensor  # [n, c] long, 0 = unknown value
    numeric: torch.Tensor  # [n, f] float
    release_s: torch.Tensor | None = None  # items: [n] float64, NaN = no release date

    def to(self, device: torch.device | str) -> Features:
        return Features(
            ids=self.ids.to(device),
            texts=[t.to(device) for t in self.texts],
            cats=self.cats.to(device),
            numeric=self.numeric.to(device),
            release_s=None if self.release_s is None else self.release_s.to(device),
        )

    def __len__(self) -> int:
        return len(self.ids)


class Tower(nn.Module):
    """Id embedding + categorical embeddings + projected texts + numeric -> MLP -> vector."""

    def __init__(
        self,
        n_ids: int,
        cat_sizes: list[int],
        n_texts: int,
        n_numeric: int,
        out: int,
        cfg: ModelConfig,
    ) -> None:
        super().__init__()
        self.ids = nn.Embedding(n_ids + 1, cfg.id_dim, padding_idx=0)
        self.cats = nn.ModuleList(nn.Embedding(n + 1, cfg.cat_dim) for n in cat_sizes)
        self.texts = nn.ModuleList(nn.Linear(cfg.text_dim, cfg.text_proj) for _ in range(n_texts))
        width = cfg.id_dim + cfg.cat_dim * len(cat_sizes) + cfg.text_proj * n_texts + n_numeric
        self.mlp = nn.Sequential(
            nn.Linear(width, cfg.hidden),
            nn.GELU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.hidden, out),
        )
        nn.init.normal_(self.ids.weight, std=0.05)

    def forward(self, f: Features, rows: torch.Tensor, id_dropout: float = 0.0) -> torch.Tensor:
        ids = f.ids[rows]
        if self.training and id_dropout > 0:
            # Cold-start practice: the tower must also work from content when the id is unknown.
            ids = ids.masked_fill(torch.rand(ids.shape, device=ids.device) < id_dropout, 0)
        parts = [self.ids(ids)]
        parts += [emb(f.cats[rows, c]) for c, emb in enumerate(self.cats)]
        parts += [proj(text[rows]) for proj, text in zip(self.texts, f.texts, strict=True)]
        parts.append(f.numeric[rows])
        return self.mlp(torch.cat(parts, dim=1))


class MultiTaskModel(nn.Module):
    """Shared-Bottom: user and item towers shared by the interaction, rating and social heads."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.user_tower = Tower(
            cfg.n_users, [cfg.n_genders, cfg.n_occupations], 2, len(USER_NUMERIC), cfg.dim, cfg
        )
        # One extra output: the item's own bias in the interaction score.
        self.item_tower = Tower(
            cfg.n_items, [cfg.n_categories], 1, len(ITEM_NUMERIC), cfg.dim + 1, cfg
        )
        self.freshness = nn.Embedding(cfg.age_buckets, 1)
        nn.init.zeros_(self.freshness.weight)
        self.rating_head = nn.Sequential(
            nn.Linear(3 * cfg.dim, cfg.hidden // 2), nn.GELU(), nn.Linear(cfg.hidden // 2, 1)
        )
        self.social_proj = nn.Linear(cfg.dim, cfg.dim, bias=False)

    # ---- towers ------------------------------------------------------------------------------
    def users(self, f: Features, rows: torch.Tensor) -> torch.Tensor:
        return self.user_tower(f, rows, self.cfg.user_id_dropout)

    def items(self, f: Features, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.item_tower(f, rows, self.cfg.item_id_dropout)
        return out[:, :-1], out[:, -1]

    def age_bucket(self, age_s: torch.Tensor) -> torch.Tensor:
        """Days since release on a log2 scale; bucket 0 for items without a release date."""
        days = torch.clamp(torch.nan_to_num(age_s, nan=0.0) / SECONDS_PER_DAY, min=0.0)
        bucket = 1 + torch.clamp(torch.floor(torch.log2(1 + days)), max=self.cfg.age_buckets - 2)
        return torch.where(torch.isnan(age_s), torch.zeros_like(bucket), bucket).long()

    def fresh(self, age_s: torch.Tensor) -> torch.Tensor:
        return self.freshness(self.age_bucket(age_s)).squeeze(-1)

    # ---- heads -------------------------------------------------------------------------------
    def rating(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        logit = self.rating_head(torch.cat([u, v, u * v], dim=1)).squeeze(1)
        return RATING_LOW + (RATING_HIGH - RATING_LOW) * torch.sigmoid(logit)

    def social(self, u: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.social_proj(u), dim=1)

    # ---- serving -----------------------------------------------------------------------------
    @torch.no_grad()
    def vector_tables(
        self, users: Features, items: Features, at_s: float, batch: int = 4096
    ) -> tuple[np.ndarray, np.ndarray]:
        """User vectors [n, dim+1] and item vectors [m, dim+1] whose dot product is the
        interaction score at time `at_s` (the last column carries bias and freshness)."""
        self.eval()
        u_parts, v_parts = [], []
        for start in range(0, len(users), batch):
            rows = torch.arange(start, min(start + batch, len(users)), device=users.ids.device)
            u_parts.append(self.users(users, rows))
        for start in range(0, len(items), batch):
            rows = torch.arange(start, min(start + batch, len(items)), device=items.ids.device)
            v, b = self.items(items, rows)
            assert items.release_s is not None
            b = b + self.fresh(at_s - items.release_s[rows]).to(b.dtype)
            v_parts.append(torch.cat([v, b[:, None]], dim=1))
        u = torch.cat(u_parts) if u_parts else torch.zeros((0, self.cfg.dim))
        u = torch.cat([u, torch.ones((len(u), 1), device=u.device)], dim=1)
        v = torch.cat(v_parts) if v_parts else torch.zeros((0, self.cfg.dim + 1))
        return u.float().cpu().numpy(), v.float().cpu().numpy()


def sampled_softmax(
    pos: torch.Tensor,
    neg: torch.Tensor,
    neg_mask: torch.Tensor,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy of the positive against shared sampled negatives (masked ones excluded),
    optionally weighted per row (weights are normalised to mean 1 over the batch)."""
    neg = neg.masked_fill(neg_mask, -math.inf)
    logits = torch.cat([pos[:, None], neg], dim=1)
    target = torch.zeros(len(pos), dtype=torch.long, device=pos.device)
    if weights is None:
        return F.cross_entropy(logits, target)
    losses = F.cross_entropy(logits, target, reduction="none")
    return (losses * weights).sum() / weights.sum()
