"""Slices of the real public datasets in ../shared/data (never copied into the repo)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from pipeline.core.config import PROJECT_ROOT

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


def dataset(name: str) -> Path:
    folder = SHARED_DATA / name
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent: the public datasets are not on this machine")
    return folder


def slice_files(src: Path, dest: Path, lines: dict[str, int | None]) -> Path:
    """Copy the first N lines (None: all) of each named file into dest, bytes unchanged."""
    dest.mkdir(parents=True, exist_ok=True)
    for name, count in lines.items():
        with (src / name).open("rb") as handle:
            kept = (
                handle.readlines() if count is None else [handle.readline() for _ in range(count)]
            )
        (dest / name).write_bytes(b"".join(kept))
    return dest


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV an importer wrote."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))
