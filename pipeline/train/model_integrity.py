"""A registered version's files are pinned by a checksum manifest in the registry, and the
champion is loaded only from files that match it, never from a pickle.

At registration (`log_served_model`) every file of the logged model as stored (MLmodel,
python_model.pkl, the environment files, the input examples, and the bundle: bundle.json,
weights.pt, term_*.npz, the vector tables, history.parquet) is hashed; the manifest (sha256 and
size per file) is the version's tag `file_manifest`. The tag lives in the tracking database and
the files in the artifact store: whoever can rewrite the files alone cannot make them pass.

`load_verified` downloads the version's files, compares them with the tag before reading any,
and builds the Recommender from the bundle's own files (`load_bundle`: JSON, npz without pickles,
Parquet, `torch.load(weights_only=True)`). python_model.pkl is checked with the rest and never
unpickled. A version registered before manifests existed (no tag) loads the same way, from its
bundle's files, with a warning that its files are unverified.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
from mlflow.models import Model
from mlflow.tracking import MlflowClient

from pipeline.core.errors import RecsysError
from pipeline.core.file_manifest import Manifest, differences, file_manifest
from pipeline.learn.ensemble.bundle import load_bundle
from pipeline.learn.ensemble.recommender import Recommender

log = logging.getLogger(__name__)

MANIFEST_TAG = "file_manifest"
# the manifest a rewrite of the files (`recsys forget`) is uploading: files cut short between the
# two manifests by a killed rewrite are finished by the next, never taken for tampering
REWRITE_TAG = "file_manifest_rewrite"
MANIFEST_FORMAT = 1
# MLflow's own note of a model's name and version, written into the model's folder by a
# `models:/` load (into the store itself when it is local): nothing of ours reads it
MLFLOW_NOTES = frozenset({"registered_model_meta"})
SHOWN = 5  # differences named in an error; the rest are counted
WHAT_TO_DO = (
    "point the alias `champion` at a version you trust (docs/guides.md, 'Roll the champion "
    "back') or register a new one with `RECSYS_TRAIN_MODE=full recsys train`"
)


def version_files(client: MlflowClient, name: str, version: str, dest: Path) -> Path:
    """Download a model version's files as stored into `dest` (by the underlying location: a
    `models:/` download adds a `registered_model_meta` file of its own)."""
    uri = client.get_model_version_download_uri(name, version)
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dest)))


def record_manifest(client: MlflowClient, name: str, version: str, files: Manifest) -> None:
    value = json.dumps({"format": MANIFEST_FORMAT, "files": files}, sort_keys=True)
    client.set_model_version_tag(name, version, MANIFEST_TAG, value)


def sign_version(client: MlflowClient, name: str, version: str) -> Manifest:
    """Hash the version's files as the artifact store holds them; record the manifest on it."""
    with tempfile.TemporaryDirectory(prefix="recsys-sign-") as tmp:
        files = file_manifest(version_files(client, name, version, Path(tmp)), MLFLOW_NOTES)
    record_manifest(client, name, version, files)
    return files


def recorded_manifest(version: Any, tag: str = MANIFEST_TAG) -> Manifest | None:
    """The manifest recorded on a model version; None for one registered before manifests."""
    raw = (version.tags or {}).get(tag)
    if raw is None:
        return None
    try:
        files = json.loads(raw)["files"]
    except (ValueError, KeyError, TypeError):
        files = None
    if not isinstance(files, dict):
        raise RecsysError(
            f"the tag `{tag}` of model version {version.version} of {version.name!r} "
            f"is not a file manifest; nothing was loaded: {WHAT_TO_DO}"
        )
    return files


def check_version(version: Any, files: Manifest | None, folder: Path) -> None:
    """Raise RecsysError naming what differs between `folder` and the version's manifest."""
    if files is None:
        log.warning(
            "model version %s of %r was registered before file manifests: its files are "
            "unverified (loaded from its bundle, never from its pickle); a version registered "
            "by `recsys train` from now on is verified",
            version.version,
            version.name,
        )
        return
    found = differences(files, folder, MLFLOW_NOTES)
    if found and REWRITE_TAG in (version.tags or {}):
        raise RecsysError(
            f"model version {version.version} of {version.name!r} is being rewritten by "
            f"`recsys forget`, which did not finish ({'; '.join(found[:SHOWN])}); nothing was "
            "loaded: run the same `recsys forget` again (it finishes the rewrite)"
        )
    if found:
        more = f" and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
        raise RecsysError(
            f"model version {version.version} of {version.name!r} does not match the checksums "
            f"recorded when it was registered: {'; '.join(found[:SHOWN])}{more}. Its files were "
            f"changed in the artifact store after registration; nothing was loaded: find out "
            f"who could write there, then {WHAT_TO_DO}"
        )


def bundle_folder(root: Path, version: Any) -> Path:
    """Where the pyfunc's `bundle` artifact lies among a logged model's files (MLmodel, YAML)."""
    try:
        flavor = Model.load(str(root / "MLmodel")).flavors["python_function"]
        relative = flavor["artifacts"]["bundle"]["path"]
    except (OSError, KeyError, TypeError) as error:
        raise RecsysError(
            f"model version {version.version} of {version.name!r} holds no recsys bundle "
            f"({error!r}); nothing was loaded: {WHAT_TO_DO}"
        ) from None
    folder = (root / relative).resolve()
    if not folder.is_relative_to(root.resolve()):
        raise RecsysError(
            f"model version {version.version} of {version.name!r} names a bundle outside its "
            f"files ({relative}); nothing was loaded: {WHAT_TO_DO}"
        )
    return folder


def load_verified(client: MlflowClient, version: Any) -> Recommender:
    """The version's Recommender, from a private download checked against its manifest.

    The download stays while the Recommender does (`source`: a Spark scoring job copies it)."""
    files = recorded_manifest(version)
    tmp = Path(tempfile.mkdtemp(prefix="recsys-champion-"))
    try:
        root = version_files(client, version.name, str(version.version), tmp)
        check_version(version, files, root)
        recommender = load_bundle(bundle_folder(root, version))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    weakref.finalize(recommender, shutil.rmtree, tmp, True)
    return recommender


def intact_before_rewrite(versions: list[Any], folder: Path) -> list[Any]:
    """The `versions` whose files `folder` holds as recorded: each file as their manifest says,
    or as a rewrite that was cut short left it. The others are named in a warning."""
    actual = file_manifest(folder, MLFLOW_NOTES)
    intact = []
    for version in versions:
        recorded = recorded_manifest(version) or {}
        rewrite = recorded_manifest(version, REWRITE_TAG) or {}
        if actual.keys() == recorded.keys() and all(
            files in (recorded[name], rewrite.get(name)) for name, files in actual.items()
        ):
            intact.append(version)
        else:
            log.warning(
                "model version %s of %r did not match its manifest before this rewrite: it "
                "keeps that manifest and stays refused",
                version.version,
                version.name,
            )
    return intact


@contextmanager
def rewriting(client: MlflowClient, versions: list[Any], folder: Path) -> Iterator[None]:
    """Around the upload of `folder`, the rewritten files of `versions`: their manifest becomes
    that of `folder` once every file is uploaded (meanwhile the version is refused)."""
    files = file_manifest(folder, MLFLOW_NOTES)
    todo = [v for v in versions if recorded_manifest(v) != files]
    value = json.dumps({"format": MANIFEST_FORMAT, "files": files}, sort_keys=True)
    for version in todo:
        client.set_model_version_tag(version.name, str(version.version), REWRITE_TAG, value)
    yield
    for version in todo:
        record_manifest(client, version.name, str(version.version), files)
        client.delete_model_version_tag(version.name, str(version.version), REWRITE_TAG)
