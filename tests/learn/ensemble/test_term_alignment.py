"""A champion older than tonight's catalogue: its terms follow tonight's items by id."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from pipeline.learn.ensemble.factor_term import FactorTerm
from pipeline.learn.ensemble.item_item_term import ItemItemTerm
from pipeline.learn.ensemble.rating_term import RatingTerm
from tests.learn.tiny_model import bare, tiny_model


def recommender_over(items: list[str]):
    """A recommender with all three terms over `items`."""
    import pandas as pd

    model, _, _ = tiny_model(pd.DataFrame({"user": [0], "item": [0], "event_s": [0.0]}), 1, 3)
    w = sp.csr_matrix(np.array([[0, 1, 2], [3, 0, 4], [5, 6, 0]], dtype=np.float32))
    rec = bare(model, term_items=items)
    rec.set_terms(
        [
            RatingTerm(
                3.5,
                np.array([0.1, 0.2, 0.3]),
                sp.csr_matrix(np.eye(3) * 0.5),
                np.arange(9, dtype=np.float64).reshape(3, 3),
                0.0,
                1.0,
            ),
            FactorTerm(2, 0.1, 10.0, 1.0, np.arange(6, dtype=np.float32).reshape(3, 2)),
            ItemItemTerm("ease", 50.0, 100.0, 0.5, w),
        ]
    )
    return rec


def test_shared_items_keep_their_rows_new_ones_get_none_and_gone_ones_go() -> None:
    rec = recommender_over(["a", "b", "c"])
    assert [t.name for t in rec.terms] == ["item_item", "factor"]  # summed in registry order

    rec.follow_items(["n", "c", "a"])  # "n" is new, "b" is gone, the order changed

    item_item, factor = rec.terms
    w = item_item.weights.toarray()
    assert w.shape == (3, 3)
    assert w[1, 2] == 5 and w[2, 1] == 2  # c->a and a->c as before
    assert not w[0].any() and not w[:, 0].any()  # the new item: no term
    assert factor.items.tolist() == [[0, 0], [4, 5], [0, 1]]
    rating = rec.rating_term
    assert rating.item_bias.tolist() == [0.0, 0.3, 0.1]
    assert rating.neighbours.toarray().diagonal().tolist() == [0.0, 0.5, 0.5]
    assert rating.factor_items[1].tolist() == [6, 7, 8]
    assert rec.term_items == ["n", "c", "a"]


def test_the_same_catalogue_changes_nothing() -> None:
    rec = recommender_over(["a", "b", "c"])
    before = rec.terms[0]
    rec.follow_items(["a", "b", "c"])
    assert rec.terms[0] is before
