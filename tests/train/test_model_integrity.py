"""A registered version's files are pinned by the manifest recorded at registration: a champion
whose files changed is refused by name before anything is read (the pickle never), and no
recommendation changes; an untouched champion scores exactly as the pickled pyfunc did."""

from __future__ import annotations

import json
import logging
import os
import pickle
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import mlflow
import pyarrow.parquet as pq
import pytest

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.file_manifest import file_manifest
from pipeline.core.run_date import resolve_run_date
from pipeline.learn.data.snapshot import Snapshot
from pipeline.serve.recommend import recommend, score, score_dir
from pipeline.train.gate import champion_version
from pipeline.train.model_integrity import MANIFEST_TAG, MLFLOW_NOTES, recorded_manifest
from pipeline.train.registry import load_champion, use_tracking
from pipeline.train.stage import train
from tests.conftest import NIGHTLY_EPOCHS, Night, night_home
from tests.serve.test_recommend import rows
from tests.test_cli import recsys

pytestmark = pytest.mark.slow

WEIGHTS, PICKLE = "artifacts/bundle/weights.pt", "python_model.pkl"


def trained_home(night: Night, dest: Path) -> tuple[Settings, date]:
    """A trained and served night whose MLflow artifacts are its own (a copied home's versions
    point at the original's files: tampering with them would touch every test's champion)."""
    settings = night_home(night, dest, train=NIGHTLY_EPOCHS)  # a real night's terms
    day = resolve_run_date(settings)
    assert train(settings, day)["alias"] == "champion"
    recommend(settings, day)
    return settings, day


def stored_files(settings: Settings) -> Path:
    """Where the artifact store keeps the champion's files (a local folder here)."""
    client = use_tracking(settings)
    version = champion_version(client, settings.registered_model)
    uri = client.get_model_version_download_uri(settings.registered_model, version.version)
    return Path(uri.removeprefix("file://"))


@pytest.fixture(scope="module")
def served(embedded_night: Night, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    return trained_home(embedded_night, tmp_path_factory.mktemp("integrity") / "home")


def recommendations(settings: Settings) -> list[tuple]:
    return rows(settings, "select * from marts.recommendations order by all")


def creating(marker: Path) -> bytes:
    """A pickle that creates `marker` (a folder) when it is loaded."""

    class Payload:
        def __reduce__(self) -> tuple:
            return (os.mkdir, (str(marker),))

    return pickle.dumps(Payload())


@pytest.fixture
def tampered(served: tuple, request: pytest.FixtureRequest) -> Iterator[Path]:
    """The champion's stored file `request.param` rewritten (a pickle that creates a folder
    when loaded), put back after the test."""
    settings, _ = served
    path = stored_files(settings) / request.param
    original = path.read_bytes()
    marker = path.parent.parent / "unpickled"
    payload = creating(marker)
    path.write_bytes(payload if path.name == PICKLE else original[:-8] + b"tampered")
    yield marker
    path.write_bytes(original)


def test_registration_records_every_stored_file_on_the_version(served: tuple) -> None:
    settings, _ = served
    version = champion_version(use_tracking(settings), settings.registered_model)
    files = recorded_manifest(version)
    assert files == file_manifest(stored_files(settings), MLFLOW_NOTES)
    assert {"MLmodel", PICKLE, WEIGHTS, "artifacts/bundle/history.parquet"} <= set(files)
    assert any(name.startswith("artifacts/bundle/term_") for name in files)
    assert json.loads(version.tags[MANIFEST_TAG])["format"] == 1


def test_an_untouched_champion_scores_exactly_as_the_pickled_pyfunc_did(served: tuple) -> None:
    settings, day = served
    bundle, version = load_champion(settings)
    assert bundle.source is not None and bundle.source.name == "bundle"
    # the way it loaded before (a trusted pickle here): the pyfunc's own recommender
    pickled = mlflow.pyfunc.load_model(f"models:/{settings.registered_model}/{version.version}")
    before = pickled.unwrap_python_model().recommender
    snapshot = Snapshot.load(score_dir(settings, day) / "input")
    ours, theirs = score(bundle, snapshot, 10), score(before, snapshot, 10)
    assert ours[0].equals(theirs[0]) and ours[1].equals(theirs[1])
    assert ours[0].equals(pq.read_table(score_dir(settings, day) / "recommendations.parquet"))
    # MLflow's `models:/` load noted the name and version in the (local) store: still served
    assert (stored_files(settings) / "registered_model_meta").exists()
    load_champion(settings)


@pytest.mark.parametrize("tampered", [WEIGHTS, PICKLE], indirect=True)
def test_a_changed_file_is_refused_by_name_and_no_recommendation_changes(
    served: tuple, tampered: Path
) -> None:
    settings, day = served
    before = recommendations(settings)
    version = champion_version(use_tracking(settings), settings.registered_model).version
    with pytest.raises(RecsysError, match=f"model version {version} of 'recsys_mtl'") as raised:
        load_champion(settings)
    name = WEIGHTS if WEIGHTS in str(raised.value) else PICKLE
    assert f"{name} changed" in str(raised.value)
    assert "Roll the champion back" in str(raised.value)

    result = recsys("recommend", "--home", str(settings.home), "--run-date", day.isoformat())
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"{name} changed" in errors[0]
    assert "Traceback" not in result.stderr
    assert recommendations(settings) == before
    assert not tampered.exists()  # the pickle was never loaded


def test_a_missing_or_added_file_is_refused(served: tuple) -> None:
    settings, _ = served
    stored = stored_files(settings)
    term = next(stored.glob("artifacts/bundle/term_*.npz"))
    kept = term.read_bytes()
    term.unlink()
    (stored / "artifacts" / "bundle" / "extra.pt").write_bytes(b"")
    try:
        with pytest.raises(RecsysError) as raised:
            load_champion(settings)
        assert f"artifacts/bundle/{term.name} is missing" in str(raised.value)
        assert "artifacts/bundle/extra.pt was added" in str(raised.value)
    finally:
        term.write_bytes(kept)
        (stored / "artifacts" / "bundle" / "extra.pt").unlink()
    load_champion(settings)


def test_a_version_from_before_manifests_loads_from_its_bundle_unverified(
    served: tuple, caplog: pytest.LogCaptureFixture
) -> None:
    settings, _ = served
    client = use_tracking(settings)
    version = champion_version(client, settings.registered_model)
    stored = stored_files(settings) / PICKLE
    original = stored.read_bytes()
    marker = stored.parent / "unpickled"
    stored.write_bytes(creating(marker))
    client.delete_model_version_tag(settings.registered_model, version.version, MANIFEST_TAG)
    try:
        with caplog.at_level(logging.WARNING):
            bundle, _ = load_champion(settings)
        assert "registered before file manifests: its files are unverified" in caplog.text
        assert bundle.towers is not None
        assert not marker.exists()  # from the bundle's files, never the pickle
        pickle.loads(creating(marker))  # the payload is live: loading it is what would run it
        assert marker.exists()
    finally:
        marker.rmdir() if marker.exists() else None
        stored.write_bytes(original)
        client.set_model_version_tag(
            settings.registered_model, version.version, MANIFEST_TAG, version.tags[MANIFEST_TAG]
        )
    load_champion(settings)
