"""Which users a choice made on held-out data judges: all of them on a small night, a fixed
sample on a large one (every such judgement scores its users against every item or user)."""

from __future__ import annotations

import numpy as np

# The users judged: all of them up to this many, above it a fixed sample of at least this many,
# and more while users x candidates stays within `JUDGED_CELLS` (each epoch's validation and
# every grid point of a term's choice score them against the whole catalogue, and a term's
# choice keeps the towers' scores of them: 4 bytes a cell). A mean NDCG@10 over 2,000 users has
# a standard error of about 0.007 where users' NDCG spreads by 0.3; judging every validation
# user made the choices cost users x items.
JUDGED_USERS = 2_000
JUDGED_CELLS = 50_000_000


def judged_users(users: np.ndarray, n_items: int) -> np.ndarray:
    """`users` (sorted rows), or a sorted sample of them drawn by a generator seeded with their
    number (the same night judges the same users every epoch and every rerun)."""
    keep = max(JUDGED_USERS, JUDGED_CELLS // max(n_items, 1))
    if len(users) <= keep:
        return users
    rng = np.random.default_rng(len(users))
    return np.sort(rng.choice(users, size=keep, replace=False))


def kept_for(by_user: dict[int, set[int]], users: np.ndarray) -> dict[int, set[int]]:
    """`by_user` (a truth: user row -> items or friends) with only the rows of `users`."""
    kept = set(users.tolist())
    return {u: v for u, v in by_user.items() if u in kept}
