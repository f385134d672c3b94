"""Writing a landing folder: the CSV dialect and manifest that `ingest` reads (RFC 4180, UTF-8)."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pipeline.core.errors import RecsysError
from pipeline.core.run_date import MANIFEST
from pipeline.landing.contract import LANDING_TABLES
from pipeline.landing.settle import MANIFEST_FILES, file_records


def prepare_landing(dest: Path) -> None:
    """Make `dest` ready for a new landing: refuse a folder that holds something other than an
    earlier landing written by us (it has a manifest), and clear that earlier landing's tables so
    two datasets never mix."""
    if dest.exists() and not dest.is_dir():
        raise RecsysError(f"{dest} exists and is not a folder")
    if dest.is_dir() and any(dest.iterdir()) and not (dest / MANIFEST).is_file():
        raise RecsysError(f"{dest} is not empty and holds no {MANIFEST}: refusing to write there")
    dest.mkdir(parents=True, exist_ok=True)
    for entry in dest.iterdir():
        table = entry.name if entry.is_dir() else entry.stem
        if table in LANDING_TABLES:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def write_csv(path: Path, rows: Iterable[Mapping[str, Any]], columns: list[str]) -> int:
    """Write rows (missing keys and None as empty fields); return how many were written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
            count += 1
    return count


def write_manifest(dest: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest last, once every table file is complete: it records each file's size
    and sha256, which tells ingest the file is finished (settle.py), so a night may start at once."""
    records = {MANIFEST_FILES: file_records(dest)}
    text = json.dumps({**manifest, **records}, indent=2, ensure_ascii=False) + "\n"
    (dest / MANIFEST).write_text(text, encoding="utf-8")
