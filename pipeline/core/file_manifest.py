"""The sha256 and size of every file under a folder, and what differs from a recorded manifest.

A manifest maps each file's path (relative, with `/`) to `{"sha256": ..., "size": ...}`. It pins
a registered model's files (`pipeline/train/model_integrity.py`) and the champion's copy a Spark
scoring job reads (`pipeline/serve/score_job.py`). Standard library only: Spark's Python workers
import it without MLflow.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

Manifest = dict[str, dict[str, Any]]


def file_manifest(folder: Path, ignore: frozenset[str] = frozenset()) -> Manifest:
    """{relative path: {"sha256", "size"}} of every file under `folder` but the relative paths
    `ignore`, sorted by path."""
    files: Manifest = {}
    for path in sorted(p for p in folder.rglob("*") if not p.is_dir()):
        name = path.relative_to(folder).as_posix()
        if name not in ignore:
            with path.open("rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
            files[name] = {"sha256": digest, "size": path.stat().st_size}
    return files


def differences(
    recorded: Manifest, folder: Path, ignore: frozenset[str] = frozenset()
) -> list[str]:
    """What under `folder` (but `ignore`) is not as `recorded`: one line per changed, missing or
    extra file (empty when every file matches)."""
    actual = file_manifest(folder, ignore)
    found = []
    for name in sorted(recorded.keys() | actual.keys()):
        if name not in actual:
            found.append(f"{name} is missing")
        elif name not in recorded:
            found.append(f"{name} was added")
        elif actual[name] != recorded[name]:
            found.append(f"{name} changed")
    return found
