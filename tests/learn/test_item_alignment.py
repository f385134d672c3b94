"""A champion older than tonight's catalogue: its paths follow tonight's items by id."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from pipeline.learn.factor_path import FactorPath
from pipeline.learn.item_alignment import align_paths
from pipeline.learn.item_item import ItemItemPath
from pipeline.learn.rating_path import RatingPath


class Paths:
    """What align_paths reads of a model: its three paths."""

    def __init__(self) -> None:
        w = sp.csr_matrix(np.array([[0, 1, 2], [3, 0, 4], [5, 6, 0]], dtype=np.float32))
        self.item_item = ItemItemPath("ease", 50.0, 100.0, 0.5, w)
        self.factor_path = FactorPath(
            2, 0.1, 10.0, 1.0, np.arange(6, dtype=np.float32).reshape(3, 2)
        )
        self.rating_path = RatingPath(
            3.5,
            np.array([0.1, 0.2, 0.3]),
            sp.csr_matrix(np.eye(3) * 0.5),
            np.arange(9, dtype=np.float64).reshape(3, 3),
            0.0,
            1.0,
        )


def test_shared_items_keep_their_rows_new_ones_get_none_and_gone_ones_go() -> None:
    model = Paths()
    old = ["a", "b", "c"]
    new = ["n", "c", "a"]  # "n" is new, "b" is gone, the order changed

    align_paths(model, old, new)  # type: ignore[arg-type]

    w = model.item_item.weights.toarray()
    assert w.shape == (3, 3)
    assert w[1, 2] == 5 and w[2, 1] == 2  # c->a and a->c as before
    assert not w[0].any() and not w[:, 0].any()  # the new item: no path term
    assert model.factor_path.items.tolist() == [[0, 0], [4, 5], [0, 1]]
    assert model.rating_path.item_bias.tolist() == [0.0, 0.3, 0.1]
    assert model.rating_path.neighbours.toarray().diagonal().tolist() == [0.0, 0.5, 0.5]
    assert model.rating_path.factor_items[1].tolist() == [6, 7, 8]


def test_the_same_catalogue_changes_nothing() -> None:
    model = Paths()
    before = model.item_item
    align_paths(model, ["a", "b", "c"], ["a", "b", "c"])  # type: ignore[arg-type]
    assert model.item_item is before
