"""The multi-task model: user and item towers shared by the tasks, one head per task.

- *interaction*: score(u, i, t) = user(u) · item(i) + bias(i) + freshness(age of i at t). Top-N is
  a matrix product of two vector tables, so nightly scoring is chunked matmuls.
- *rating*: a small MLP over [u, v, u * v] of the pair's rating-tower outputs, through a sigmoid
  rescaled to 0.5..5.
- *social*: friends are near each other after a learned projection of the user vectors.

Two architectures share that outline (`ModelConfig.architecture`):
- *shared_bottom*: one MLP per tower; every task reads the same user and item vectors;
- *mmoe* (Ma et al. 2018): each tower has `experts` MLPs and one softmax gate per task, so each task
  reads its own mixture of the experts (interaction, rating and social for users; interaction and
  rating for items) and tasks that pull apart need not share one vector.

Towers read id embeddings, categorical and standardised numeric features and frozen text vectors
through a learned projection. Ids are dropped at random while training (DropoutNet-style), so an
entity the model never saw (id 0, "unknown") is scored from its text and features alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
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
    architecture: str = "shared_bottom"  # or "mmoe"
    experts: int = 4  # mmoe: expert MLPs per tower
    user_texts: int = 2  # profile, history; 3 with the recent-history text

    def to_dict(self) -> dict:
        return asdict(self)


ARCHITECTURES = ("shared_bottom", "mmoe")
USER_TASKS = ("interaction", "rating", "social")
ITEM_TASKS = ("interaction", "rating")
USER_NUMERIC = ("age_z", "age_imputed", "has_profile", "has_history")
ITEM_NUMERIC = ("price_z", "price_imputed", "price_clipped", "has_text")


@dataclass
class TowerInputs:
    """One side's inputs as tensors, row-aligned with the snapshot's users or items."""

    ids: torch.Tensor  # [n] long, 0 = unknown id
    texts: list[torch.Tensor]  # each [n, text_dim]
    cats: torch.Tensor  # [n, c] long, 0 = unknown value
    numeric: torch.Tensor  # [n, f] float
    release_s: torch.Tensor | None = None  # items: [n] float64, NaN = no release date

    def to(self, device: torch.device | str) -> TowerInputs:
        return TowerInputs(
            ids=self.ids.to(device),
            texts=[t.to(device) for t in self.texts],
            cats=self.cats.to(device),
            numeric=self.numeric.to(device),
            release_s=None if self.release_s is None else self.release_s.to(device),
        )

    def __len__(self) -> int:
        return len(self.ids)


def mlp(width: int, out: int, cfg: ModelConfig) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(width, cfg.hidden),
        nn.GELU(),
        nn.Dropout(cfg.dropout),
        nn.Linear(cfg.hidden, out),
    )


class SharedBottom(nn.Module):
    """One MLP: every task reads the same output."""

    def __init__(self, width: int, out: int, tasks: tuple[str, ...], cfg: ModelConfig) -> None:
        super().__init__()
        self.mlp = mlp(width, out, cfg)

    def forward(self, x: torch.Tensor, task: str) -> torch.Tensor:
        return self.mlp(x)


class MMoE(nn.Module):
    """Experts shared by the tasks, one gate per task: a task's output is its gate's softmax
    mixture of the experts' outputs."""

    def __init__(self, width: int, out: int, tasks: tuple[str, ...], cfg: ModelConfig) -> None:
        super().__init__()
        self.experts = nn.ModuleList(mlp(width, out, cfg) for _ in range(cfg.experts))
        self.gates = nn.ModuleDict({t: nn.Linear(width, cfg.experts) for t in tasks})

    def forward(self, x: torch.Tensor, task: str) -> torch.Tensor:
        outs = torch.stack([expert(x) for expert in self.experts], dim=1)  # [n, experts, out]
        gate = torch.softmax(self.gates[task](x), dim=1)  # [n, experts]
        return (gate[:, :, None] * outs).sum(1)


class Tower(nn.Module):
    """Id embedding + categorical embeddings + projected texts + numeric -> bottom -> vector."""

    def __init__(
        self,
        n_ids: int,
        cat_sizes: list[int],
        n_texts: int,
        n_numeric: int,
        out: int,
        tasks: tuple[str, ...],
        cfg: ModelConfig,
    ) -> None:
        super().__init__()
        if cfg.architecture not in ARCHITECTURES:
            raise ValueError(
                f"unknown architecture {cfg.architecture!r}: choose one of {', '.join(ARCHITECTURES)}"
            )
        self.ids = nn.Embedding(n_ids + 1, cfg.id_dim, padding_idx=0)
        self.cats = nn.ModuleList(nn.Embedding(n + 1, cfg.cat_dim) for n in cat_sizes)
        self.texts = nn.ModuleList(nn.Linear(cfg.text_dim, cfg.text_proj) for _ in range(n_texts))
        width = cfg.id_dim + cfg.cat_dim * len(cat_sizes) + cfg.text_proj * n_texts + n_numeric
        bottom = MMoE if cfg.architecture == "mmoe" else SharedBottom
        self.bottom = bottom(width, out, tasks, cfg)
        nn.init.normal_(self.ids.weight, std=0.05)

    def inputs(self, f: TowerInputs, rows: torch.Tensor, id_dropout: float = 0.0) -> torch.Tensor:
        ids = f.ids[rows]
        if self.training and id_dropout > 0:
            # Cold-start practice: the tower must also work from content when the id is unknown.
            ids = ids.masked_fill(torch.rand(ids.shape, device=ids.device) < id_dropout, 0)
        parts = [self.ids(ids)]
        parts += [emb(f.cats[rows, c]) for c, emb in enumerate(self.cats)]
        parts += [proj(text[rows]) for proj, text in zip(self.texts, f.texts, strict=True)]
        parts.append(f.numeric[rows])
        return torch.cat(parts, dim=1)

    def forward(
        self, f: TowerInputs, rows: torch.Tensor, id_dropout: float = 0.0, task: str = "interaction"
    ) -> torch.Tensor:
        return self.bottom(self.inputs(f, rows, id_dropout), task)


@dataclass
class HeadTables:
    """What the rating and social heads read, per user and item row: the towers' outputs for
    those tasks (with Shared-Bottom, the interaction vectors without their last column)."""

    rating_user: np.ndarray  # [n, dim]
    rating_item: np.ndarray  # [m, dim]
    social_user: np.ndarray  # [n, dim]


class MultiTaskModel(nn.Module):
    """User and item towers shared by the interaction, rating and social heads."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.user_tower = Tower(
            cfg.n_users,
            [cfg.n_genders, cfg.n_occupations],
            cfg.user_texts,
            len(USER_NUMERIC),
            cfg.dim,
            USER_TASKS,
            cfg,
        )
        # One extra output: the item's own bias in the interaction score.
        self.item_tower = Tower(
            cfg.n_items, [cfg.n_categories], 1, len(ITEM_NUMERIC), cfg.dim + 1, ITEM_TASKS, cfg
        )
        self.freshness = nn.Embedding(cfg.age_buckets, 1)
        nn.init.zeros_(self.freshness.weight)
        self.rating_head = nn.Sequential(
            nn.Linear(3 * cfg.dim, cfg.hidden // 2), nn.GELU(), nn.Linear(cfg.hidden // 2, 1)
        )
        self.social_proj = nn.Linear(cfg.dim, cfg.dim, bias=False)

    # ---- towers ------------------------------------------------------------------------------
    def users(self, f: TowerInputs, rows: torch.Tensor, task: str = "interaction") -> torch.Tensor:
        return self.user_tower(f, rows, self.cfg.user_id_dropout, task)

    def items(
        self, f: TowerInputs, rows: torch.Tensor, task: str = "interaction"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.item_tower(f, rows, self.cfg.item_id_dropout, task)
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
        self, users: TowerInputs, items: TowerInputs, at_s: float | None, batch: int = 4096
    ) -> tuple[np.ndarray, np.ndarray]:
        """User vectors [n, dim+1] and item vectors [m, dim+1] whose dot product is the
        interaction score at time `at_s` (the last column carries bias and freshness). With
        `at_s` None the last column is the bias alone: add `freshness_at` per user's moment."""
        self.eval()
        u_parts, v_parts = [], []
        for start in range(0, len(users), batch):
            rows = torch.arange(start, min(start + batch, len(users)), device=users.ids.device)
            u_parts.append(self.users(users, rows))
        for start in range(0, len(items), batch):
            rows = torch.arange(start, min(start + batch, len(items)), device=items.ids.device)
            v, b = self.items(items, rows)
            assert items.release_s is not None
            if at_s is not None:
                b = b + self.fresh(at_s - items.release_s[rows]).to(b.dtype)
            v_parts.append(torch.cat([v, b[:, None]], dim=1))
        u = torch.cat(u_parts) if u_parts else torch.zeros((0, self.cfg.dim))
        u = torch.cat([u, torch.ones((len(u), 1), device=u.device)], dim=1)
        v = torch.cat(v_parts) if v_parts else torch.zeros((0, self.cfg.dim + 1))
        return u.float().cpu().numpy(), v.float().cpu().numpy()

    @torch.no_grad()
    def freshness_at(self, at_s: np.ndarray, release_s: np.ndarray) -> np.ndarray:
        """The freshness term of items released at `release_s` seen at moments `at_s`, the two
        broadcast against each other (`at[:, None]`, `release[None, :]` for a users x items
        block): each user scored at their own moment. No release date (NaN): bucket 0."""
        device = self.freshness.weight.device
        at = torch.as_tensor(np.asarray(at_s, dtype=np.float64), device=device)
        release = torch.as_tensor(np.asarray(release_s, dtype=np.float64), device=device)
        return self.fresh(at - release).float().cpu().numpy()

    @torch.no_grad()
    def head_tables(
        self,
        users: TowerInputs,
        items: TowerInputs,
        *,
        rating: bool = True,
        social: bool = True,
        batch: int = 4096,
    ) -> HeadTables:
        """The rating head's user and item vectors and the social head's user vectors (a table
        not asked for is left empty: each costs a pass of its tower over every row)."""
        self.eval()

        def table(
            n: int, device: torch.device, side: Callable[[torch.Tensor], torch.Tensor]
        ) -> np.ndarray:
            parts = [
                side(torch.arange(s, min(s + batch, n), device=device)) for s in range(0, n, batch)
            ]
            return (
                torch.cat(parts).float().cpu().numpy()
                if parts
                else np.zeros((0, self.cfg.dim), np.float32)
            )

        def skipped(*_: object) -> np.ndarray:
            return np.zeros((0, self.cfg.dim), np.float32)

        udev, idev = users.ids.device, items.ids.device
        both = table if rating else skipped
        return HeadTables(
            rating_user=both(len(users), udev, lambda r: self.users(users, r, "rating")),
            rating_item=both(len(items), idev, lambda r: self.items(items, r, "rating")[0]),
            social_user=(table if social else skipped)(
                len(users), udev, lambda r: self.users(users, r, "social")
            ),
        )

    @torch.no_grad()
    def predict_ratings(
        self, tables: HeadTables, users: np.ndarray, items: np.ndarray
    ) -> np.ndarray:
        """The rating head's prediction for each (user row, item row) pair."""
        device = next(self.parameters()).device
        u = torch.as_tensor(tables.rating_user[users], device=device)
        v = torch.as_tensor(tables.rating_item[items], device=device)
        return self.rating(u, v).cpu().numpy()

    @torch.no_grad()
    def social_vectors(self, tables: HeadTables) -> np.ndarray:
        """Unit vectors whose dot products rank "people like you"."""
        device = next(self.parameters()).device
        return self.social(torch.as_tensor(tables.social_user, device=device)).cpu().numpy()


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
