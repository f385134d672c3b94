"""The served model as files: weights, configuration, vocabularies, and tonight's vector tables.

MLflow stores the bundle as the artifact of a pyfunc model (`RecsysPyfunc`); `recommend` loads it
back to encode *its* night's users and items with the same weights and vocabularies.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from pipeline.errors import RecsysError
from pipeline.feature_space import FeatureSpace
from pipeline.features import Snapshot
from pipeline.model import ModelConfig, MultiTaskModel

# Recommendations made for day D are read during D + 1: score items at the middle of that day.
SERVE_OFFSET_S = 12 * 3600.0


@dataclass
class Bundle:
    model: MultiTaskModel
    space: FeatureSpace
    trained_on: date

    def vectors(self, snapshot: Snapshot, history: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """User and item vector tables for `snapshot` (any night), scored at its serving time."""
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
        users_f, items_f = (f.to(device) for f in self.space.encode(snapshot, history))
        return self.model.vector_tables(users_f, items_f, snapshot.run_end + SERVE_OFFSET_S)

    def save(self, folder: Path, snapshot: Snapshot) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(self.model.state_dict(), folder / "weights.pt")
        meta = {
            "model": self.model.cfg.to_dict(),
            "space": asdict(self.space),
            "trained_on": self.trained_on.isoformat(),
        }
        (folder / "bundle.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        u, v = self.vectors(snapshot, snapshot.events)
        _write_vectors(folder / "users.parquet", "user_id", snapshot.users["user_id"], u)
        _write_vectors(folder / "items.parquet", "item_id", snapshot.items["item_id"], v)
        return folder

    @classmethod
    def load(cls, folder: Path, device: str = "cpu") -> Bundle:
        meta = json.loads((folder / "bundle.json").read_text(encoding="utf-8"))
        model = MultiTaskModel(ModelConfig(**meta["model"]))
        model.load_state_dict(torch.load(folder / "weights.pt", map_location=device))
        model.to(device).eval()
        return cls(
            model=model,
            space=FeatureSpace(**meta["space"]),
            trained_on=date.fromisoformat(meta["trained_on"]),
        )


def _write_vectors(path: Path, key: str, ids: pd.Series, vectors: np.ndarray) -> None:
    table = pa.table(
        {
            key: pa.array(ids.astype(str).tolist(), pa.string()),
            "vector": pa.FixedSizeListArray.from_arrays(
                pa.array(vectors.reshape(-1), pa.float32()), vectors.shape[1]
            ),
        }
    )
    pq.write_table(table, path)


def read_vectors(path: Path, key: str) -> tuple[list[str], np.ndarray]:
    table = pq.read_table(path)
    ids = table.column(key).to_pylist()
    flat = table.column("vector").combine_chunks().flatten().to_numpy()
    return ids, flat.reshape(len(ids), -1) if ids else np.zeros((0, 0), np.float32)
