"""Every file's sha256 and size under a folder, and what differs from them."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipeline.core.file_manifest import differences, file_manifest


def folder_of(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    (folder / "artifacts" / "bundle").mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors: {}\n")
    (folder / "artifacts" / "bundle" / "weights.pt").write_bytes(b"\x00\x01weights")
    return folder


def test_every_file_is_listed_by_its_relative_path_with_sha256_and_size(tmp_path: Path) -> None:
    files = file_manifest(folder_of(tmp_path))
    assert list(files) == ["MLmodel", "artifacts/bundle/weights.pt"]
    assert files["artifacts/bundle/weights.pt"] == {
        "sha256": hashlib.sha256(b"\x00\x01weights").hexdigest(),
        "size": 9,
    }


def test_a_changed_missing_or_added_file_is_named(tmp_path: Path) -> None:
    folder = folder_of(tmp_path)
    recorded = file_manifest(folder)
    assert differences(recorded, folder) == []
    (folder / "artifacts" / "bundle" / "weights.pt").write_bytes(b"\x00\x01weighty")  # same size
    (folder / "MLmodel").unlink()
    (folder / "artifacts" / "extra.pkl").write_bytes(b"")
    assert differences(recorded, folder) == [
        "MLmodel is missing",
        "artifacts/bundle/weights.pt changed",
        "artifacts/extra.pkl was added",
    ]
