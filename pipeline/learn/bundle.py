"""The served model as files: weights, configuration, vocabularies, and tonight's vector tables.

MLflow stores the bundle as the artifact of a pyfunc model (`RecsysPyfunc`); `recommend` loads it
back to encode *its* night's users and items with the same weights and vocabularies.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from pipeline.core.errors import RecsysError
from pipeline.learn.factor_path import FactorPath
from pipeline.learn.feature_space import FeatureSpace
from pipeline.learn.item_alignment import align_paths
from pipeline.learn.item_item import ItemItemPath
from pipeline.learn.model import HeadTables, ModelConfig, MultiTaskModel, TowerInputs
from pipeline.learn.rating_path import RatingPath
from pipeline.learn.snapshot import Snapshot

# Recommendations made for day D are read during D + 1: score items at the middle of that day.
SERVE_OFFSET_S = 12 * 3600.0
# the interaction score's item-item path (`item_item.py`), when the night chose one
ITEM_ITEM_FILE = "item_item.npz"
# the interaction score's iALS item factors (`factor_path.py`), when the night chose them
FACTOR_FILE = "factor_path.npz"
# the rating's neighbourhood blend (`rating_path.py`), when the night chose one, and what it reads
# of the night's users (for the served pyfunc, which has no events to encode)
RATING_PATH_FILE = "rating_path.npz"
RATING_USERS_FILE = "rating_users.npz"


@dataclass
class Bundle:
    model: MultiTaskModel
    space: FeatureSpace
    trained_on: date
    # the items (in order) the model's paths are over, when loaded from a saved night: another
    # night's catalogue is then aligned to them (`item_alignment`); None: the current snapshot's
    path_items: list[str] | None = None
    # the folder it was loaded from (the Spark scoring job's workers load it again from there)
    source: Path | None = None

    def vectors(self, snapshot: Snapshot, history: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """User and item vector tables for `snapshot` (any night), scored at its serving time."""
        users_f, items_f = self._encode(snapshot, history)
        return self.model.vector_tables(users_f, items_f, snapshot.run_end + SERVE_OFFSET_S)

    def tables(
        self, snapshot: Snapshot, history: pd.DataFrame, *, social: bool = True
    ) -> tuple[np.ndarray, np.ndarray, HeadTables]:
        """The vector tables and what the rating and social heads read, from one encoding."""
        users_f, items_f = self._encode(snapshot, history)
        u, v = self.model.vector_tables(users_f, items_f, snapshot.run_end + SERVE_OFFSET_S)
        return u, v, self.model.head_tables(users_f, items_f, social=social)

    def _encode(self, snapshot: Snapshot, history: pd.DataFrame) -> tuple[TowerInputs, TowerInputs]:
        device = next(self.model.parameters()).device
        if snapshot.embedding_model != self.space.embedding_model:
            raise RecsysError(
                f"the model was trained on text vectors of {self.space.embedding_model}, tonight's "
                f"are of {snapshot.embedding_model}: retrain (`recsys train`) before recommending"
            )
        if snapshot.text_dim != self.model.cfg.text_dim:
            raise RecsysError(
                f"the model reads {self.model.cfg.text_dim}-dimensional text vectors, tonight's are "
                f"{snapshot.text_dim}: was the embedding model changed? Retrain first."
            )
        if self.path_items is not None:
            tonight = snapshot.items["item_id"].astype(str).tolist()
            align_paths(self.model, self.path_items, tonight)
            self.path_items = tonight
        users_f, items_f = self.space.encode(snapshot, history)
        return users_f.to(device), items_f.to(device)

    def save(self, folder: Path, snapshot: Snapshot) -> Path:
        """The model (`save_model`) and the vector tables of `snapshot`'s users and items."""
        self.save_model(folder)
        u, v, heads = self.tables(snapshot, snapshot.events, social=False)
        rating_users = folder / RATING_USERS_FILE
        rating_users.unlink(missing_ok=True)
        state = heads.rating_users(self.model.rating_path)
        if self.model.rating_path is not None and state is not None:
            rating_users.write_bytes(state.to_bytes())
        else:  # the served pyfunc reads the path only with the users' state
            (folder / RATING_PATH_FILE).unlink(missing_ok=True)
        users, items = snapshot.users["user_id"], snapshot.items["item_id"]
        _write_vectors(folder / "users.parquet", "user_id", users, u, heads.rating_user)
        _write_vectors(folder / "items.parquet", "item_id", items, v, heads.rating_item)
        return folder

    def save_model(self, folder: Path) -> Path:
        """Weights, configuration, vocabularies and the interaction paths: what `load` reads."""
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(self.model.state_dict(), folder / "weights.pt")
        meta = {
            "model": self.model.cfg.to_dict(),
            "space": asdict(self.space),
            "trained_on": self.trained_on.isoformat(),
        }
        (folder / "bundle.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        for name, path in (
            (ITEM_ITEM_FILE, self.model.item_item),
            (FACTOR_FILE, self.model.factor_path),
            (RATING_PATH_FILE, self.model.rating_path),
        ):
            if path is not None:
                (folder / name).write_bytes(path.to_bytes())
            else:
                (folder / name).unlink(missing_ok=True)
        return folder

    @classmethod
    def load(cls, folder: Path, device: str = "cpu") -> Bundle:
        meta = json.loads((folder / "bundle.json").read_text(encoding="utf-8"))
        model = MultiTaskModel(ModelConfig(**meta["model"]))
        state = torch.load(folder / "weights.pt", map_location=device)
        # bundles written before the towers had a `bottom` (Shared-Bottom or MMoE) still load
        state = {re.sub(r"_tower\.mlp\.", "_tower.bottom.mlp.", k): w for k, w in state.items()}
        model.load_state_dict(state)
        if (folder / ITEM_ITEM_FILE).exists():  # bundles before the path, or without one: none
            model.item_item = ItemItemPath.from_bytes((folder / ITEM_ITEM_FILE).read_bytes())
        if (folder / FACTOR_FILE).exists():
            model.factor_path = FactorPath.from_bytes((folder / FACTOR_FILE).read_bytes())
        if (folder / RATING_PATH_FILE).exists():
            model.rating_path = RatingPath.from_bytes((folder / RATING_PATH_FILE).read_bytes())
        model.to(device).eval()
        items = folder / "items.parquet"  # a served bundle's night: what its paths are over
        return cls(
            model=model,
            space=FeatureSpace(**meta["space"]),
            trained_on=date.fromisoformat(meta["trained_on"]),
            path_items=read_vectors(items, "item_id")[0] if items.exists() else None,
            source=folder,
        )


def _write_vectors(
    path: Path, key: str, ids: pd.Series, vectors: np.ndarray, rating: np.ndarray
) -> None:
    """One row per entity: its interaction vector and the rating head's vector."""

    def column(matrix: np.ndarray) -> pa.Array:
        flat = pa.array(matrix.reshape(-1), pa.float32())
        return pa.FixedSizeListArray.from_arrays(flat, matrix.shape[1])

    table = pa.table(
        {
            key: pa.array(ids.astype(str).tolist(), pa.string()),
            "vector": column(vectors),
            "rating_vector": column(rating),
        }
    )
    pq.write_table(table, path)


def read_vectors(path: Path, key: str, column: str = "vector") -> tuple[list[str], np.ndarray]:
    table = pq.read_table(path)
    ids = table.column(key).to_pylist()
    # an older bundle has no rating vectors: its rating head read the interaction vectors less
    # their bias column
    legacy = column == "rating_vector" and column not in table.column_names
    flat = table.column("vector" if legacy else column).combine_chunks().flatten().to_numpy()
    vectors = flat.reshape(len(ids), -1) if ids else np.zeros((0, 0), np.float32)
    return ids, vectors[:, :-1] if legacy else vectors
