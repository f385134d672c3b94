"""What users take next: a first-order Markov chain over items, read from the order of each
user's events (FPMC's item-to-item part, Rendle et al. 2010, without the factorisation).

T[i, j] is the share of what followed item i that was item j: each later item within `window`
positions of i in a user's sequence counts `decay ** (gap - 1)`, and each row is normalised to
sum to one. It is directed, where co-occurrence models (EASE, ItemKNN) are symmetric: a printer
is followed by its ink, rarely the other way round. Sparse, with at most events x `window`
entries, so it is fitted in one pass whatever the catalogue's size.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

# later items counted after each item, and how much less each further step counts; on the
# Amazon Office validation slice windows 3-10 and decays 0.5-0.8 were within 2% of each other
TRANSITION_WINDOW = 5
TRANSITION_DECAY = 0.8


def transition_matrix(
    events: pd.DataFrame,
    n_items: int,
    window: int = TRANSITION_WINDOW,
    decay: float = TRANSITION_DECAY,
) -> sp.csr_matrix:
    """items x items, float32, rows summing to one (zero rows: items never followed by another).
    Events in time order per user; ties in time go to the lower item row; an item followed by
    itself counts nothing."""
    ordered = events[["user", "item", "event_s"]].sort_values(
        ["user", "event_s", "item"], kind="stable"
    )
    users = ordered["user"].to_numpy()
    items = ordered["item"].to_numpy()
    rows, cols, vals = [], [], []
    for gap in range(1, min(window, max(len(items) - 1, 0)) + 1):
        keep = (users[gap:] == users[:-gap]) & (items[gap:] != items[:-gap])
        rows.append(items[:-gap][keep])
        cols.append(items[gap:][keep])
        vals.append(np.full(int(keep.sum()), decay ** (gap - 1), dtype=np.float32))
    if not rows:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    counts = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_items, n_items),
        dtype=np.float32,
    )  # duplicates summed
    out = np.asarray(counts.sum(axis=1), dtype=np.float32).ravel()
    shares = sp.diags(np.where(out > 0, 1.0 / np.maximum(out, 1e-12), 0.0).astype(np.float32))
    return (shares @ counts).tocsr().astype(np.float32)
