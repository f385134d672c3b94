"""Whether a landing file is finished: the settle rule. The one place the wall clock decides
what a night reads.

A file still being written must not be loaded: it would load cut short, and its full content
would be refused as "changed" the next night. Ingest cannot see a writer, so a file counts as
settled when either
- it was last modified at least `RECSYS_LANDING_SETTLE_SECONDS` ago (the wall clock), or
- the landing's `manifest.json` records its size and sha256: our own writers (`recsys
  demo-data`, `recsys import`) write it after every file is complete, and ingest checks that the
  bytes it reads have exactly that sha256 (so `demo-data` then `run` at once still gets a night).
A file that changes while it is read (size, modification time or inode) is unsettled too.
An unsettled file is skipped and loads on a later ingest.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.run_date import MANIFEST
from pipeline.landing.contract import DATA_SUFFIXES
from pipeline.landing.reading import sha256_of

MANIFEST_FILES = "files"  # the manifest's key: landing-relative path -> {"bytes", "sha256"}


@dataclass(frozen=True)
class FileState:
    """What `stat` says of a file; another state later means it changed in between."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> FileState:
        return cls.from_stat(path.stat())

    @classmethod
    def from_stat(cls, stat: os.stat_result) -> FileState:
        return cls(stat.st_size, stat.st_mtime_ns, stat.st_ino)

    def age(self, now: float) -> float:
        """Seconds since the last modification (`now` from `time.time()`)."""
        return now - self.mtime_ns / 1e9


@dataclass(frozen=True)
class FileRecord:
    """A file as the writer that finished it recorded it in the manifest."""

    size: int
    sha256: str


def file_records(dest: Path) -> dict[str, dict[str, Any]]:
    """Size and sha256 of every data file under a landing folder our writer just finished, for
    its manifest (paths relative to `dest`, hidden files left out as ingest leaves them out)."""
    records: dict[str, dict[str, Any]] = {}
    for path in sorted(p for p in dest.rglob("*") if p.is_file()):
        relative = path.relative_to(dest)
        hidden = any(part.startswith((".", "_")) for part in relative.parts)
        if not hidden and path.suffix.lower() in DATA_SUFFIXES:
            records[relative.as_posix()] = {
                "bytes": path.stat().st_size,
                "sha256": sha256_of(path),
            }
    return records


def recorded_files(landing: Path) -> dict[Path, FileRecord]:
    """The files the landing's manifest vouches for, by absolute path. A manifest without
    records, or one that cannot be read, vouches for nothing (the age rule still applies)."""
    records: dict[Path, FileRecord] = {}
    with contextlib.suppress(OSError, ValueError, AttributeError, TypeError, KeyError):
        manifest = json.loads((landing / MANIFEST).read_text(encoding="utf-8"))
        for relative, record in (manifest.get(MANIFEST_FILES) or {}).items():
            records[landing / relative] = FileRecord(int(record["bytes"]), str(record["sha256"]))
    return records


@dataclass(frozen=True)
class SettleRule:
    """The settle rule for one ingest: one clock reading, one manifest."""

    settle_seconds: float
    now: float  # time.time() when ingest started: the wall clock, on purpose
    records: dict[Path, FileRecord]

    def __str__(self) -> str:
        return f"RECSYS_LANDING_SETTLE_SECONDS={self.settle_seconds:g}"

    def by_age(self, state: FileState) -> bool:
        return state.age(self.now) >= self.settle_seconds

    def vouched(self, path: Path, state: FileState) -> FileRecord | None:
        """The manifest's record of this file if its size matches (its sha256 is checked on
        the bytes read)."""
        record = self.records.get(path)
        return record if record is not None and record.size == state.size else None

    def settled(self, path: Path, state: FileState) -> bool:
        """Settled before reading: old enough, or vouched for by the manifest."""
        return self.by_age(state) or self.vouched(path, state) is not None

    def settled_after_read(
        self, path: Path, before: FileState, after: FileState, size: int, sha256: str
    ) -> bool:
        """The bytes read are the whole file as it stands, unchanged since it was judged; and a
        file that is young but vouched for reads exactly as its manifest recorded it."""
        if after != before or size != before.size:
            return False
        if self.by_age(before):
            return True
        record = self.vouched(path, before)
        return record is not None and record.sha256 == sha256
