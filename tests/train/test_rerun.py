"""The night's fingerprint: what makes a rerun the same night, and what does not."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.config import Settings
from pipeline.train.rerun import night_fingerprint


def export(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "events.parquet").write_bytes(b"events of the night")
    (folder / "snapshot.json").write_text('{"run_date": "2026-11-27"}')
    return folder


def test_the_same_export_and_training_settings_are_the_same_night(tmp_path: Path) -> None:
    folder = export(tmp_path / "train")
    settings = Settings(home=tmp_path)
    elsewhere = Settings(
        home=tmp_path / "other",
        spark={"master": "spark://10.0.0.1:7077"},
        recommend={"chunk_users": 64},
        mlflow={"tracking_uri": "http://mlflow:5000"},
    )
    assert night_fingerprint(settings, folder) == night_fingerprint(elsewhere, folder)


def test_other_data_or_other_training_settings_are_another_night(tmp_path: Path) -> None:
    folder = export(tmp_path / "train")
    settings = Settings(home=tmp_path)
    first = night_fingerprint(settings, folder)
    assert night_fingerprint(Settings(home=tmp_path, train={"lr": 1e-3}), folder) != first
    assert night_fingerprint(Settings(home=tmp_path, gate={"tolerance": 0.1}), folder) != first
    assert night_fingerprint(Settings(home=tmp_path, model_options={"dim": 64}), folder) != first
    (folder / "events.parquet").write_bytes(b"events of the night, one more")
    assert night_fingerprint(settings, folder) != first


def test_a_change_of_code_is_another_night(tmp_path: Path, monkeypatch) -> None:
    """Changed code never reuses a champion trained by the old: the fingerprint hashes the
    package's files, not a release number that may not have moved."""
    import shutil

    from pipeline.core import version
    from pipeline.train import rerun

    package = tmp_path / "pipeline"
    shutil.copytree(version.PACKAGE_ROOT, package, ignore=shutil.ignore_patterns("__pycache__"))
    before = version.code_digest(package)
    assert before == version.code_digest(version.PACKAGE_ROOT)
    fitting = package / "learn" / "ensemble" / "fit.py"
    fitting.write_text(fitting.read_text() + "\n# one changed line\n")
    version.code_digest.cache_clear()
    assert version.code_digest(package) != before

    folder = export(tmp_path / "train")
    settings = Settings(home=tmp_path)
    first = night_fingerprint(settings, folder)
    monkeypatch.setattr(rerun, "code_digest", lambda: version.code_digest(package))
    assert night_fingerprint(settings, folder) != first
