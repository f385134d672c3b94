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

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from torch.nn import functional as F

from pipeline.learn.towers.config import ModelConfig
from pipeline.learn.towers.layers import HistoryPooling, RatedHistory, Tower, TowerInputs
from pipeline.learn.towers.social_blend import blended

SECONDS_PER_DAY = 86_400.0
RATING_LOW, RATING_HIGH = 0.5, 5.0


USER_TASKS = ("interaction", "rating", "social")
ITEM_TASKS = ("interaction", "rating")
USER_NUMERIC = ("age_z", "age_imputed", "has_profile", "has_history")
ITEM_NUMERIC = ("price_z", "price_imputed", "price_clipped", "has_text")


class BucketLookup(torch.autograd.Function):
    """`values[buckets]` for a few values read by many cells (the freshness curve's 14 buckets
    under every logit of a step): its gradient is one weighted bincount, where an embedding's
    deterministic backward scatters cell by cell (a quarter of a large step's time)."""

    @staticmethod
    def forward(ctx, values: torch.Tensor, buckets: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(buckets)
        ctx.size = len(values)
        return values[buckets]

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (buckets,) = ctx.saved_tensors
        flat, upstream = buckets.reshape(-1), grad.reshape(-1)
        if grad.is_cuda:  # CUDA's weighted bincount adds atomically (no fixed order): a product
            return F.one_hot(flat, ctx.size).to(grad.dtype).T @ upstream, None
        return torch.bincount(flat, upstream, minlength=ctx.size).to(grad.dtype), None


@dataclass
class HeadTables:
    """What the rating and social heads read, per user and item row: the towers' outputs for
    those tasks (with Shared-Bottom, the interaction vectors without their last column)."""

    rating_user: np.ndarray  # [n, dim]; with a rating bias [n, dim + factors + 1], bias last
    rating_item: np.ndarray  # [m, dim]
    social_user: np.ndarray  # [n, dim]
    # the users' ratings (users x items) for the rating term; its view of them is worked out
    # when a rating is first asked for, not for tables only read for their vectors (recommend)
    user_ratings: sp.csr_matrix | None = None


class MultiTaskModel(nn.Module):
    """User and item towers shared by the interaction, rating and social heads."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.history = HistoryPooling(cfg) if cfg.history_len > 0 else None
        self.user_tower = Tower(
            cfg.n_users,
            [cfg.n_genders, cfg.n_occupations],
            cfg.user_texts,
            len(USER_NUMERIC),
            cfg.dim,
            USER_TASKS,
            cfg,
            extra=2 * cfg.dim if self.history is not None else 0,
            ids=cfg.user_ids,
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
        # carried as the last column of a rating user vector (`rating_users`)
        width = 1 + cfg.rating_user_factors
        self.rating_bias = (
            nn.Embedding(cfg.n_users + 1, width, padding_idx=0) if cfg.rating_user_bias else None
        )
        self.rating_item_map = (
            nn.Linear(cfg.dim, cfg.rating_user_factors, bias=False)
            if cfg.rating_user_bias and cfg.rating_user_factors
            else None
        )
        if self.rating_bias is not None:
            nn.init.zeros_(self.rating_bias.weight)
        self.rated_history = (
            RatedHistory(cfg) if cfg.rating_history and self.history is not None else None
        )

    # ---- towers ------------------------------------------------------------------------------
    def users(
        self,
        f: TowerInputs,
        rows: torch.Tensor,
        task: str = "interaction",
        table: torch.Tensor | None = None,
        history: torch.Tensor | None = None,
        place: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """User vectors for `task`. With a history encoder, `table` (`history_table`) holds the
        item vectors their history is made of: the pooled history plus what the tower adds.
        `history` [len(rows), L] replaces the users' own (training cuts them at earlier points).
        `place` maps item rows (and the padding) to rows of a `table` of only some items
        (`step_items.StepItems`: a training step's)."""
        if self.history is None:
            return self.user_tower(f, rows, self.cfg.user_id_dropout, task)
        if table is None or (history is None and f.history is None):
            raise ValueError("a history-based user tower needs the users' history and item table")
        if history is None:
            assert f.history is not None
            # a batch repeats users (one per rated pair): each history is pooled once
            unique, inverse = torch.unique(rows, return_inverse=True)
            own = f.history[unique] if place is None else place[f.history[unique]]
            pooled = self.history(table, own)[inverse]
        else:
            pooled = self.history(table, history)
        out = self.user_tower(f, rows, self.cfg.user_id_dropout, task, extra=pooled)
        return pooled[:, : self.cfg.dim] + out

    def history_table(self, items: TowerInputs, batch: int = 4096) -> torch.Tensor | None:
        """What the users' histories are made of: every item's interaction vector (as the item
        tower makes it of id, text and features) and a zero row for the padding; None without
        a history encoder."""
        if self.history is None:
            return None
        device = items.ids.device
        parts = [
            self.items(items, torch.arange(s, min(s + batch, len(items)), device=device))[0]
            for s in range(0, len(items), batch)
        ]
        return self.with_padding(torch.cat(parts) if parts else torch.zeros((0, self.cfg.dim)))

    @staticmethod
    def with_padding(item_vectors: torch.Tensor) -> torch.Tensor:
        """The item vectors and a zero row: the history's padding reads as nothing."""
        zero = torch.zeros((1, item_vectors.shape[1]), device=item_vectors.device)
        return torch.cat([item_vectors, zero])

    def items(
        self, f: TowerInputs, rows: torch.Tensor, task: str = "interaction"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.item_tower(f, rows, self.cfg.item_id_dropout, task)
        return out[:, :-1], out[:, -1]

    def age_buckets(self, at_s: torch.Tensor, release_s: torch.Tensor) -> torch.Tensor:
        """Days since release at the moments `at_s` on a log2 scale, 1 + min(floor(log2(1 +
        days)), buckets - 2): 1 + the number of edges e = (2^k - 1) days, k = 1 .. buckets - 2,
        with release <= at - e (a negative age counts as 0 days); bucket 0 where the release
        date (or the moment) is unknown. The two broadcast against each other; a block of
        moments by releases ([n, 1] and [1, c]: every logit of a step) is counted without a pass
        per edge (`_block_buckets`)."""
        if at_s.ndim == release_s.ndim == 2 and at_s.shape[1] == release_s.shape[0] == 1:
            return self._block_buckets(at_s[:, 0], release_s[0])
        edges = self._edges(at_s)
        past = (release_s[..., None] <= at_s[..., None] - edges).sum(-1)
        return (1 + past).masked_fill_(torch.isnan(at_s) | torch.isnan(release_s), 0)

    def _edges(self, like: torch.Tensor) -> torch.Tensor:
        """The bucket edges in seconds, ascending."""
        k = torch.arange(1, self.cfg.age_buckets - 1, device=like.device, dtype=torch.float64)
        return ((torch.exp2(k) - 1) * SECONDS_PER_DAY).to(like.dtype)

    def _block_buckets(self, at_s: torch.Tensor, release_s: torch.Tensor) -> torch.Tensor:
        """`age_buckets` of [n] moments by [c] releases with the same comparisons: the releases
        sorted once (unknown last), each moment's edges found among them (n x edges searches),
        and a row's buckets a running count of the edges passed, in bytes. Releases already in
        order (a training step sorts its columns so) need no permutation back: 4 ms for a
        step's 2,100 x 2,400 buckets, where a search among the edges per cell took 105 ms."""
        edges = self._edges(at_s)
        n, c = len(at_s), len(release_s)
        order = torch.argsort(release_s, stable=True)  # NaN, an unknown release, sorts last
        in_order = bool(torch.equal(order, torch.arange(c, device=order.device)))
        ranked = release_s if in_order else release_s[order]
        known = c - int(torch.isnan(release_s).sum())
        # per moment and edge: the sorted columns before `bounds` were released e or more ago
        bounds = torch.searchsorted(
            ranked[:known], at_s.nan_to_num(0.0)[:, None] - edges, right=True
        )
        small = torch.int8 if len(edges) < 127 else torch.int16
        steps = torch.zeros((n, c + 1), dtype=small, device=at_s.device)
        steps.scatter_add_(1, bounds, torch.ones_like(bounds, dtype=small))
        steps[:, known] += 1  # the unknown releases: one below bucket 1
        # sorted column j is past every edge whose bound lies beyond j
        ranked_buckets = len(edges) + 1 - steps[:, :c].cumsum(1, dtype=small)
        inverse = None if in_order else torch.argsort(order)
        buckets = (ranked_buckets if inverse is None else ranked_buckets[:, inverse]).long()
        unknown_at = torch.isnan(at_s)
        if bool(unknown_at.any()):
            buckets[unknown_at] = 0
        return buckets

    def fresh(self, at_s: torch.Tensor, release_s: torch.Tensor) -> torch.Tensor:
        """The freshness term of items released at `release_s` seen at `at_s` (broadcast)."""
        return BucketLookup.apply(self.freshness.weight[:, 0], self.age_buckets(at_s, release_s))

    # ---- heads -------------------------------------------------------------------------------
    def rating_users(
        self,
        f: TowerInputs,
        rows: torch.Tensor,
        table: torch.Tensor | None = None,
        without: torch.Tensor | None = None,
        place: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The rating head's user vectors; with a rating bias, it is their last column. With
        `without` (an item per row), each row's history leaves that item out: a training pair's
        item is in its user's history, never when a rating is asked for. `place`: as `users`."""
        history = None
        if (
            f.history is not None
            and table is not None
            and (without is not None or place is not None)
        ):
            own = f.history[rows] if place is None else place[f.history[rows]]
            if without is not None:
                gone = without if place is None else place[without]
                own = own.masked_fill(own == gone[:, None], len(table) - 1)  # the padding
            history = own
        u = self.users(f, rows, "rating", table, history)
        rated = self.rated_history
        if rated is not None and f.history_ratings is not None and table is not None:
            assert f.history is not None
            items = f.history[rows] if history is None else history
            deviations = f.history_ratings[rows].masked_fill(items == len(table) - 1, 0.0)
            u = u + rated(table, items, deviations)
        if self.rating_bias is None:
            return u
        return torch.cat([u, self.rating_bias(f.ids[rows])], dim=1)

    def rating(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """`u` as `rating_users` makes it: [tower output, own factors (if any), bias (if any)]."""
        own: torch.Tensor | float = 0.0
        if self.rating_bias is not None:
            dim = self.cfg.dim
            own = u[:, -1]
            if self.rating_item_map is not None:
                own = own + (u[:, dim:-1] * self.rating_item_map(v)).sum(dim=1)
            u = u[:, :dim]
        logit = self.rating_head(torch.cat([u, v, u * v], dim=1)).squeeze(1) + own
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
        for start in range(0, len(items), batch):
            rows = torch.arange(start, min(start + batch, len(items)), device=items.ids.device)
            v, b = self.items(items, rows)
            assert items.release_s is not None
            if at_s is not None:
                at = torch.tensor(at_s, dtype=torch.float64, device=b.device)
                b = b + self.fresh(at, items.release_s[rows]).to(b.dtype)
            v_parts.append(torch.cat([v, b[:, None]], dim=1))
        v = torch.cat(v_parts) if v_parts else torch.zeros((0, self.cfg.dim + 1))
        # the users' histories are made of the item vectors just computed (no second pass)
        table = self.with_padding(v[:, :-1]) if self.history is not None else None
        for start in range(0, len(users), batch):
            rows = torch.arange(start, min(start + batch, len(users)), device=users.ids.device)
            u_parts.append(self.users(users, rows, table=table))
        u = torch.cat(u_parts) if u_parts else torch.zeros((0, self.cfg.dim))
        u = torch.cat([u, torch.ones((len(u), 1), device=u.device)], dim=1)
        return u.float().cpu().numpy(), v.float().cpu().numpy()

    @torch.no_grad()
    def freshness_at(self, at_s: np.ndarray, release_s: np.ndarray) -> np.ndarray:
        """The freshness term of items released at `release_s` seen at moments `at_s`, the two
        broadcast against each other (`at[:, None]`, `release[None, :]` for a users x items
        block): each user scored at their own moment. No release date (NaN): bucket 0."""
        device = self.freshness.weight.device
        at = torch.as_tensor(np.asarray(at_s, dtype=np.float64), device=device)
        release = torch.as_tensor(np.asarray(release_s, dtype=np.float64), device=device)
        return self.fresh(at, release).float().cpu().numpy()

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
        made_of = self.history_table(items, batch) if rating or social else None
        return HeadTables(
            rating_user=both(len(users), udev, lambda r: self.rating_users(users, r, made_of)),
            rating_item=both(len(items), idev, lambda r: self.items(items, r, "rating")[0]),
            social_user=(table if social else skipped)(
                len(users), udev, lambda r: self.users(users, r, "social", made_of)
            ),
            user_ratings=users.ratings if rating else None,
        )

    @torch.no_grad()
    def social_vectors(self, tables: HeadTables, texts: np.ndarray | None = None) -> np.ndarray:
        """Vectors whose dot products rank "people like you": the social head's unit vectors,
        and with a social text weight the users' unit `texts` (`social_blend.text_profiles`)."""
        device = next(self.parameters()).device
        unit = self.social(torch.as_tensor(tables.social_user, device=device)).cpu().numpy()
        return blended(unit, texts, self.cfg.social_text_weight)
