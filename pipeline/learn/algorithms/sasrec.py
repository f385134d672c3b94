"""SASRec (Kang and McAuley 2018) trained with cross-entropy over the whole catalogue (SASRec+,
Klenitskiy and Vasilev 2023): the sequential yardstick of the quality benchmarks.

A user is the sequence of their latest `max_len` items in time order; causal self-attention
blocks read it and, at every position, the next item is predicted by a softmax over every item
(item embeddings shared between input and output). Full cross-entropy instead of the paper's one
sampled negative is what makes it strong: on public data it ranks above BERT4Rec.

No well-kept package installs beside this project's stack (RecTools pins numpy < 2 on Python
3.11; RecBole pins old numpy and scipy), hence this small implementation in plain torch: the
recipe's defaults are beside it, and `fit` keeps the epoch whose validation NDCG@10 is best.
It reads no text: an item without events keeps its random embedding, so it is a yardstick for
known items only.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

log = logging.getLogger(__name__)

ScoreFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class SASRecConfig:
    max_len: int = 50  # latest items read per user
    dim: int = 64
    blocks: int = 2
    heads: int = 1
    dropout: float = 0.2
    lr: float = 1e-3
    batch_size: int = 128
    max_epochs: int = 200
    patience: int = 10  # epochs without a better validation NDCG@10 before stopping
    seed: int = 42


class SASRec(nn.Module):
    """Item and position embeddings, causal transformer blocks, tied output embeddings."""

    def __init__(self, n_items: int, cfg: SASRecConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.items = nn.Embedding(n_items + 1, cfg.dim, padding_idx=0)  # row 0: padding
        self.positions = nn.Embedding(cfg.max_len, cfg.dim)
        layer = nn.TransformerEncoderLayer(
            cfg.dim,
            cfg.heads,
            dim_feedforward=cfg.dim,
            dropout=cfg.dropout,
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(layer, cfg.blocks, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.dim)
        self.drop = nn.Dropout(cfg.dropout)
        mask = torch.triu(torch.ones(cfg.max_len, cfg.max_len, dtype=torch.bool), diagonal=1)
        self.register_buffer("causal", mask, persistent=False)
        # inputs of unit scale once multiplied by sqrt(dim), and logits of unit scale against
        # the layer-normed hidden state (the default N(0, 1) makes both dim times too large)
        nn.init.normal_(self.items.weight, std=cfg.dim**-0.5)
        with torch.no_grad():
            self.items.weight[0].zero_()

    def hidden(self, seqs: torch.Tensor) -> torch.Tensor:
        """[batch, max_len] item ids (+1; 0 pads on the left) -> [batch, max_len, dim]."""
        x = self.items(seqs) * math.sqrt(self.cfg.dim) + self.positions.weight[None]
        x = self.drop(x) * (seqs > 0).unsqueeze(-1)
        x = self.blocks(x, mask=self.causal)
        return self.norm(x)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """Scores of every item (without the padding row)."""
        return h @ self.items.weight[1:].T

    def loss(self, seqs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Cross-entropy over the whole catalogue at every position with a target (>0)."""
        h = self.hidden(seqs)
        keep = targets > 0
        return nn.functional.cross_entropy(self.logits(h[keep]), targets[keep] - 1)


def sequences(events: pd.DataFrame, n_users: int, max_len: int) -> np.ndarray:
    """[users, max_len + 1]: each user's latest items in time order (ties by item), as ids + 1,
    left-padded with 0."""
    ordered = events.sort_values(["user", "event_s", "item"], kind="stable")
    out = np.zeros((n_users, max_len + 1), dtype=np.int64)
    users = ordered["user"].to_numpy()
    items = ordered["item"].to_numpy() + 1
    starts = np.searchsorted(users, np.arange(n_users))
    ends = np.searchsorted(users, np.arange(n_users), side="right")
    for u in np.flatnonzero(ends > starts).tolist():
        seq = items[max(starts[u], ends[u] - max_len - 1) : ends[u]]
        out[u, -len(seq) :] = seq
    return out


def scorer(model: SASRec, seqs: np.ndarray) -> ScoreFn:
    """user rows -> scores of every item from the last `max_len` items of `seqs`."""

    def score(rows: np.ndarray) -> np.ndarray:
        model.eval()
        with torch.no_grad():
            h = model.hidden(torch.as_tensor(seqs[rows, 1:]))
            return model.logits(h[:, -1]).numpy()

    return score


def fit(
    events: pd.DataFrame,
    n_users: int,
    n_items: int,
    cfg: SASRecConfig,
    validate: Callable[[ScoreFn], float] | None = None,
    epochs: int | None = None,
) -> tuple[SASRec, int]:
    """Train on `events`; with `validate` (a score function -> validation NDCG@10), keep the
    best epoch and stop after `patience` epochs without a better one; else train `epochs`.
    Returns the model and the epochs it was trained (the best one's)."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = SASRec(n_items, cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.98))
    seqs = sequences(events, n_users, cfg.max_len)
    trainable = np.flatnonzero((seqs[:, 1:] > 0).any(axis=1) & (seqs[:, :-1] > 0).any(axis=1))
    budget = epochs if epochs is not None else cfg.max_epochs
    best, best_epoch, best_state, waited = -math.inf, 0, None, 0
    for epoch in range(1, budget + 1):
        model.train()
        order = rng.permutation(trainable)
        for start in range(0, len(order), cfg.batch_size):
            rows = order[start : start + cfg.batch_size]
            batch = torch.as_tensor(seqs[rows])
            loss = model.loss(batch[:, :-1], batch[:, 1:] * (batch[:, :-1] > 0))
            opt.zero_grad()
            loss.backward()
            opt.step()
        if validate is None:
            continue
        score = validate(scorer(model, seqs))
        log.debug("SASRec epoch %d: validation NDCG@10 %.4f", epoch, score)
        if score > best:
            best, best_epoch, waited = score, epoch, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
            if waited >= cfg.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
        return model, best_epoch
    return model, budget
