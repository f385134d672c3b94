"""Reading the datasets' own files, with errors that name the file and line."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pipeline.core.errors import RecsysError
from pipeline.landing.folders import prepare_landing, write_csv, write_manifest


def require_file(folder: Path, name: str, dataset: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise RecsysError(f"{folder} is missing {name}: is it a {dataset} folder?")
    return path


def read_delimited(
    path: Path, *, sep: str, fields: int, encoding: str = "utf-8", header: bool = False
) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, fields) of a delimited file; a line with another field count is an error."""
    try:
        with path.open(encoding=encoding, newline="") as handle:
            for lineno, line in enumerate(handle, start=1):
                line = line.rstrip("\r\n")
                if not line or (header and lineno == 1):
                    continue
                parts = line.split(sep)
                if len(parts) != fields:
                    raise RecsysError(
                        f"{path}:{lineno}: malformed line, expected {fields} fields separated by "
                        f"{sep!r}, found {len(parts)}"
                    )
                yield lineno, parts
    except UnicodeDecodeError as exc:
        raise RecsysError(f"{path}: not valid {encoding} (byte {exc.start})") from None


def read_csv_rows(path: Path, columns: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (record number, row) of a CSV with a header that must hold `columns`."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = next(reader, None) or []
            missing = [c for c in columns if c not in header]
            if missing:
                raise RecsysError(f"{path}: missing column(s) {', '.join(missing)} in the header")
            for record in reader:
                if not record:
                    continue
                if len(record) != len(header):
                    raise RecsysError(
                        f"{path}:{reader.line_num}: malformed line, expected {len(header)} "
                        f"fields, found {len(record)}"
                    )
                yield reader.line_num, dict(zip(header, record, strict=True))
        except UnicodeDecodeError as exc:
            raise RecsysError(f"{path}: not valid UTF-8 (byte {exc.start})") from None
        except csv.Error as exc:
            raise RecsysError(f"{path}:{reader.line_num}: unreadable CSV: {exc}") from None


def unix_to_iso(value: str) -> str:
    """Unix seconds to ISO-8601 UTC; text that is not a number passes through for dbt to judge."""
    try:
        return datetime.fromtimestamp(int(value), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):
        return value


def last_event_date(events: list[dict[str, Any]]) -> date:
    stamps = [e["event_ts"] for e in events if e["event_ts"][:4].isdigit()]
    if not stamps:
        raise RecsysError("no event with a timestamp: cannot choose a run date")
    return datetime.fromisoformat(max(stamps)).date()


def write_landing(
    dest: Path,
    *,
    source: str,
    src: Path,
    tables: dict[str, tuple[list[dict[str, Any]], list[str]]],
    notes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write each table as `<name>.csv` plus a manifest; return the import stage's summary."""
    prepare_landing(dest)
    rows = {
        name: write_csv(dest / f"{name}.csv", data, columns)
        for name, (data, columns) in tables.items()
    }
    run_date = last_event_date(tables["interactions"][0])
    manifest = {
        "source": source,
        "src": str(src),
        "run_date": run_date.isoformat(),
        "rows": rows,
        **(notes or {}),
    }
    write_manifest(dest, manifest)
    return {
        "stage": "import",
        "run_date": run_date.isoformat(),
        "status": "ok",
        "source": source,
        "landing": str(dest),
        "rows": rows,
    }
