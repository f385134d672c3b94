"""Forgetting rewrites the registered versions' files: their manifests follow, so the champion
still loads, and a version whose files had been changed before stays refused."""

from __future__ import annotations

import logging

import pytest

from pipeline.core.errors import RecsysError
from pipeline.core.file_manifest import file_manifest
from pipeline.privacy.artifacts import scrub_mlflow
from pipeline.train.gate import champion_version
from pipeline.train.model_integrity import (
    MANIFEST_TAG,
    MLFLOW_NOTES,
    REWRITE_TAG,
    recorded_manifest,
)
from pipeline.train.registry import load_champion, use_tracking
from tests.conftest import Night
from tests.serve.test_recommend import rows
from tests.train.test_model_integrity import stored_files, trained_home

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scrubbed(embedded_night: Night, tmp_path_factory: pytest.TempPathFactory) -> dict:
    settings, _ = trained_home(embedded_night, tmp_path_factory.mktemp("scrub") / "home")
    client = use_tracking(settings)
    before = champion_version(client, settings.registered_model)
    users = [u for (u,) in rows(settings, "select distinct user_id from marts.recommendations")]
    rewritten = scrub_mlflow(settings, [min(users)])
    return {"settings": settings, "before": before, "users": sorted(users), "rewritten": rewritten}


def champion(settings) -> object:
    return champion_version(use_tracking(settings), settings.registered_model)


def test_the_rewritten_champion_gets_the_manifest_of_its_new_files(scrubbed: dict) -> None:
    settings = scrubbed["settings"]
    assert any("/models/" in root for root in scrubbed["rewritten"])
    after = champion(settings)
    assert recorded_manifest(after) != recorded_manifest(scrubbed["before"])
    assert recorded_manifest(after) == file_manifest(stored_files(settings), MLFLOW_NOTES)
    assert REWRITE_TAG not in after.tags
    bundle, _ = load_champion(settings)
    assert scrubbed["users"][0] not in bundle.space.user_ids


def test_a_rewrite_cut_short_is_refused_until_forget_runs_again(scrubbed: dict) -> None:
    settings = scrubbed["settings"]
    client = use_tracking(settings)
    after = champion(settings)
    # every file uploaded, killed before the manifest moved: the old one, the new one pending
    name, version = settings.registered_model, after.version
    client.set_model_version_tag(name, version, REWRITE_TAG, after.tags[MANIFEST_TAG])
    client.set_model_version_tag(name, version, MANIFEST_TAG, scrubbed["before"].tags[MANIFEST_TAG])
    with pytest.raises(RecsysError, match="run the same `recsys forget` again"):
        load_champion(settings)
    scrub_mlflow(settings, [scrubbed["users"][0]])
    assert champion(settings).tags[MANIFEST_TAG] == after.tags[MANIFEST_TAG]
    assert REWRITE_TAG not in champion(settings).tags
    load_champion(settings)


def test_a_version_changed_before_the_rewrite_keeps_its_manifest_and_stays_refused(
    scrubbed: dict, caplog: pytest.LogCaptureFixture
) -> None:
    """(Last: it leaves the module's champion refused.)"""
    settings = scrubbed["settings"]
    signed = champion(settings).tags[MANIFEST_TAG]
    conda = stored_files(settings) / "conda.yaml"
    conda.write_text(conda.read_text() + "# changed\n")
    with caplog.at_level(logging.WARNING):
        assert scrub_mlflow(settings, [scrubbed["users"][1]])
    assert "did not match its manifest before this rewrite" in caplog.text
    assert champion(settings).tags[MANIFEST_TAG] == signed
    with pytest.raises(RecsysError, match="does not match the checksums recorded"):
        load_champion(settings)
