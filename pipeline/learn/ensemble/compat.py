"""Every shim that lets what older releases wrote still load, in one place.

- **Pickles** (`python_model.pkl` of registered versions) name classes by the module they lived
  in when pickled: modules of the release before the stage subpackages (`pipeline.model`, ...)
  are registered as aliases of today's, and names that moved out of a module stay reachable
  under it (`register_legacy_modules`: for whoever unpickles an older version's pyfunc with
  MLflow; the pipeline itself loads a champion from its bundle files, never the pickle).
- **Bundles** of format 1 (no `format` in `bundle.json`) name their score terms by older files,
  store tower weights under older keys, may lack the rating vectors, and hold no history: the
  served model then scores with the towers and terms over an empty history (`legacy_*`).
"""

from __future__ import annotations

import importlib
import logging
import re
import sys

import numpy as np
import pyarrow as pa
import torch

log = logging.getLogger(__name__)

# Versions registered before a move pickled their classes under the module names of that time
# (pipeline.registry.RecsysPyfunc, pipeline.bundle.Bundle, pipeline.learn.model.MultiTaskModel,
# ...): each maps to the module that holds those classes now, so a champion of then still loads.
LEGACY_MODULES = {
    "pipeline.registry": "pipeline.train.served_model",
    "pipeline.bundle": "pipeline.learn.ensemble.bundle",
    "pipeline.model": "pipeline.learn.towers.model",
    "pipeline.feature_space": "pipeline.learn.towers.feature_space",
    "pipeline.learn.model": "pipeline.learn.towers.model",
    "pipeline.learn.model_config": "pipeline.learn.towers.config",
    "pipeline.learn.feature_space": "pipeline.learn.towers.feature_space",
    "pipeline.learn.bundle": "pipeline.learn.ensemble.bundle",
}
_LAYERS = "pipeline.learn.towers.layers"
_TOWER_NAMES = (
    "ARCHITECTURES", "HistoryPooling", "MMoE", "RatedHistory", "SharedBottom", "Tower",
    "TowerInputs", "mlp",
)  # fmt: skip
# module -> {name it had there: (where it lives now, its name there)}
MOVED_NAMES = {
    "pipeline.learn.towers.model": {name: (_LAYERS, name) for name in _TOWER_NAMES},
    # `pipeline.learn.towers` was the module of the tower classes before it was a package
    "pipeline.learn.towers": {name: (_LAYERS, name) for name in _TOWER_NAMES},
    "pipeline.learn.ensemble.bundle": {
        "Bundle": ("pipeline.learn.ensemble.recommender", "Recommender")
    },
}

# bundle format 1: each term's file
LEGACY_TERM_FILES = {
    "item_item": "item_item.npz",
    "factor": "factor_path.npz",
    "rating": "rating_path.npz",
}


def register_legacy_modules() -> None:
    """Make the old module names and moved names importable before unpickling a model."""
    for module, names in MOVED_NAMES.items():
        target = importlib.import_module(module)
        for name, (home, attr) in names.items():
            if not hasattr(target, name):
                setattr(target, name, getattr(importlib.import_module(home), attr))
    for old, new in LEGACY_MODULES.items():
        sys.modules.setdefault(old, importlib.import_module(new))


def legacy_term_file(fmt: int, name: str, file: str) -> str:
    """The file a bundle of format `fmt` keeps the term `name` in (`file` today)."""
    return LEGACY_TERM_FILES.get(name, file) if fmt < 2 else file


def legacy_weights(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Bundles written before the towers had a `bottom` (Shared-Bottom or MMoE) still load."""
    return {re.sub(r"_tower\.mlp\.", "_tower.bottom.mlp.", k): w for k, w in state.items()}


def legacy_rating_vectors(table: pa.Table, column: str) -> tuple[str, bool]:
    """(the column to read, whether to drop its last value): a bundle without rating vectors
    had its rating head read the interaction vectors less their bias column."""
    legacy = column == "rating_vector" and column not in table.column_names
    return ("vector" if legacy else column), legacy


def legacy_history(fmt: int) -> None:
    """Format 1 kept no history: its terms see none (they add nothing to the towers)."""
    if fmt < 2:
        log.warning(
            "bundle format 1 holds no history: the served model scores with the towers only; "
            "the next trained version serves every term"
        )


def empty_events() -> dict[str, np.ndarray]:
    return {
        "user": np.zeros(0, np.int64),
        "item": np.zeros(0, np.int64),
        "event_s": np.zeros(0, np.float64),
        "rating": np.zeros(0, np.float64),
    }
