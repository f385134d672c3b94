"""The MLflow part of forgetting: every artifact of the experiment loses the users.

Each run's artifacts (its warm-start states) and each logged model's (the served bundles, the
champion's included) are rewritten in place, with the same weights: a bundle's vocabulary and
every table whose rows follow it (the user id embedding, the rating bias, their Adam moments)
drop the users' rows, the vector tables, the night's history and the rating term's per-user state drop their rows,
the input examples drop the rows that name them, and a pickled pyfunc holding a loaded bundle is
pickled again empty. Rewriting every version, not only the champion, matters: an older version
holds the same users. The users' influence on the shared weights stays until the next full
retrain (a warm night starts from these weights; `RECSYS_TRAIN_FULL_EVERY_DAYS` bounds how
long a chain of warm nights lasts).

A registered version whose files matched its manifest before the rewrite gets the manifest of
its new files (`pipeline/train/model_integrity.py`), so it still loads; one that did not keeps
its manifest and stays refused.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import cloudpickle
import mlflow
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from mlflow.entities import ViewType
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient

from pipeline.core.config import Settings
from pipeline.learn.ensemble.bundle import HISTORY_FILE, RATING_USERS_FILE
from pipeline.learn.ensemble.rating_term import UserRatings
from pipeline.learn.towers.warm_start import MOMENTS_FILE, VOCAB_ROWS, row_map
from pipeline.train.model_integrity import intact_before_rewrite, recorded_manifest, rewriting
from pipeline.train.registry import use_tracking
from pipeline.train.served_model import RecsysPyfunc

log = logging.getLogger(__name__)

USER_ROWS = [name for name, vocab in VOCAB_ROWS.items() if vocab == "user_ids"]
EXAMPLES = ("input_example.json", "serving_input_example.json")


def scrub_mlflow(settings: Settings, ids: list[str]) -> dict[str, int]:
    """Scrub every run's and logged model's artifacts; return the files rewritten per root."""
    if not settings.mlflow.tracking_uri and not (settings.home / "mlflow.db").exists():
        return {}  # nothing was ever tracked here: do not create an empty store
    client = use_tracking(settings)
    experiment = client.get_experiment_by_name(settings.mlflow.experiment)
    if experiment is None:
        return {}
    ids_of_experiment = [experiment.experiment_id]
    roots: list[str] = []
    token = None
    while True:  # every page: a few years of nights are more than one
        runs = client.search_runs(
            ids_of_experiment, run_view_type=ViewType.ALL, max_results=1000, page_token=token
        )
        roots += [run.info.artifact_uri for run in runs]
        token = runs.token
        if not token:
            break
    while True:
        models = client.search_logged_models(ids_of_experiment, page_token=token)
        roots += [model.artifact_location for model in models]
        token = models.token
        if not token:
            break
    signed = signed_versions(client, settings.registered_model)
    rewritten = {}
    for root in roots:
        count = scrub_artifact_root(root, ids, signed.get(root.rstrip("/"), []))
        if count:
            rewritten[root] = count
            log.info("rewrote %d artifact file(s) under %s", count, root)
    return rewritten


def signed_versions(client: Any, name: str) -> dict[str, list[Any]]:
    """{artifact root: the registered versions of `name` with a manifest whose files it holds}."""
    signed: dict[str, list[Any]] = {}
    for version in client.search_model_versions(f"name = '{name}'"):
        if recorded_manifest(version) is not None:
            root = client.get_model_version_download_uri(name, str(version.version))
            signed.setdefault(root.rstrip("/"), []).append(version)
    return signed


def scrub_artifact_root(root: str, ids: list[str], versions: list[Any] | None = None) -> int:
    """Download one artifact root, scrub its files, upload the changed ones back; re-sign the
    registered `versions` of these files that matched their manifest before."""
    repo = get_artifact_repository(root)
    if not repo.list_artifacts():
        return 0  # a run that logged nothing (one killed early, say)
    with tempfile.TemporaryDirectory(prefix="recsys-forget-") as tmp:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=root, dst_path=tmp))
        intact = intact_before_rewrite(versions or [], local)
        changed = scrub_folder(local, set(ids))
        with rewriting(MlflowClient(), intact, local):  # the store ends holding these files
            for path in changed:
                parent = path.parent.relative_to(local).as_posix()
                repo.log_artifact(str(path), None if parent == "." else parent)
    return len(changed)


def scrub_folder(folder: Path, ids: set[str]) -> list[Path]:
    """Scrub the files under `folder` in place; return those that changed."""
    changed: list[Path] = []
    for bundle in sorted(folder.rglob("bundle.json")):
        changed += _scrub_bundle(bundle.parent, ids)
    for name in EXAMPLES:
        for path in sorted(folder.rglob(name)):
            if _scrub_example(path, ids):
                changed.append(path)
    encoded = [i.encode("utf-8") for i in ids]
    for path in sorted(folder.rglob("python_model.pkl")):
        if any(e in path.read_bytes() for e in encoded):
            # a pyfunc pickled with a loaded bundle: its state is rebuilt on load anyway
            path.write_bytes(cloudpickle.dumps(RecsysPyfunc()))
            changed.append(path)
    return changed


def _scrub_bundle(folder: Path, ids: set[str]) -> list[Path]:
    """Scrub one bundle; the files are listed (and uploaded) before the one that says which rows
    they hold (`bundle.json` for the weights, `users.parquet` for the per-user state), and each
    is left alone when it already holds the rows: a forget killed between two uploads is
    finished by the next, never sliced twice."""
    changed: list[Path] = []
    meta_path = folder / "bundle.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    old = list(meta["space"]["user_ids"])
    new = [u for u in old if u not in ids]
    if len(new) < len(old):
        rows = torch.as_tensor(row_map(old, new))

        def follow(table: torch.Tensor) -> torch.Tensor:
            return table[rows].clone() if table.shape[0] == len(old) + 1 else table

        weights = torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)
        for name in USER_ROWS:
            if name in weights:
                weights[name] = follow(weights[name])
        torch.save(weights, folder / "weights.pt")
        changed.append(folder / "weights.pt")
        moments_path = folder / MOMENTS_FILE
        if moments_path.exists():
            moments = torch.load(moments_path, map_location="cpu", weights_only=True)
            for name in USER_ROWS:
                for key, value in moments.get(name, {}).items():
                    if key != "step":
                        moments[name][key] = follow(value)
            torch.save(moments, moments_path)
            changed.append(moments_path)
    users_path = folder / "users.parquet"
    if users_path.exists():
        table = pq.read_table(users_path)
        hit = np.asarray(pc.is_in(table["user_id"], pc.cast(list(ids), "string")).to_numpy(False))
        if hit.any():
            state_path = folder / RATING_USERS_FILE
            if state_path.exists():
                state = UserRatings.from_bytes(state_path.read_bytes())
                if len(state.bias) == len(hit):  # else already scrubbed
                    keep = np.flatnonzero(~hit)
                    kept = UserRatings(
                        state.residuals[keep],
                        state.rated[keep],
                        state.bias[keep],
                        state.factors[keep],
                    )
                    state_path.write_bytes(kept.to_bytes())
                changed.append(state_path)
            history_path = folder / HISTORY_FILE
            if history_path.exists():
                _scrub_history(history_path, hit)
                changed.append(history_path)
            pq.write_table(table.filter(~hit), users_path)
            changed.append(users_path)
    if len(new) < len(old):
        meta["space"]["user_ids"] = new
        meta["model"]["n_users"] = len(new)
        meta_path.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        changed.append(meta_path)
    return changed


# the user rows a scrubbed history is numbered for: a second scrub of it changes nothing
HISTORY_ROWS_KEY = b"recsys.forget.user_rows"


def _scrub_history(path: Path, hit: np.ndarray) -> None:
    """Drop the events of the user rows `hit` and renumber the rest as the vector tables are."""
    history = pq.read_table(path)
    metadata = history.schema.metadata or {}
    kept_rows = str(int((~hit).sum())).encode()
    if metadata.get(HISTORY_ROWS_KEY) == kept_rows:
        return  # renumbered already, by a forget killed before users.parquet was uploaded
    users = history["user"].to_numpy()
    new_row = np.cumsum(~hit) - 1
    keep = ~hit[users]
    kept = history.filter(pa.array(keep))
    rows = pa.array(new_row[users[keep]].astype(np.int64))
    renumbered = kept.set_column(kept.schema.get_field_index("user"), "user", rows)
    pq.write_table(
        renumbered.replace_schema_metadata({**metadata, HISTORY_ROWS_KEY: kept_rows}), path
    )


def _scrub_example(path: Path, ids: set[str]) -> bool:
    """Drop the rows of a pandas `split` example (plain or under `dataframe_split`) that name
    one of the users."""
    document = json.loads(path.read_text(encoding="utf-8"))
    split = document.get("dataframe_split", document)
    if not isinstance(split, dict) or "data" not in split:
        return False
    rows = split["data"]
    kept = [r for r in rows if not any(isinstance(v, str) and v in ids for v in r)]
    if len(kept) == len(rows):
        return False
    split["data"] = kept
    if "index" in split:
        split["index"] = list(range(len(kept)))
    path.write_text(json.dumps(document), encoding="utf-8")
    return True
