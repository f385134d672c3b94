"""Forget's file scrubbing on the shapes ordinary nights produce: exports without rows or with
a user column that is all null, and landing CSVs with fields larger than Python's default."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core.config import Settings
from pipeline.privacy.work_files import _redact_csv, scrub_work_exports


def test_exports_with_no_rows_or_an_all_null_user_column_are_scrubbed(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    folder = settings.home / "score" / "2026-11-27"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"user_id": pa.array([], pa.string())}), folder / "empty.parquet")
    pq.write_table(pa.table({"user_id": pa.nulls(3)}), folder / "nulls.parquet")
    pq.write_table(
        pa.table({"entity": ["user", "item"], "id": [None, "u1"]}), folder / "vectors.parquet"
    )
    pq.write_table(pa.table({"user_id": ["u1", "u2"], "x": [1, 2]}), folder / "named.parquet")
    dropped = scrub_work_exports(settings, ["u1"])
    assert dropped == {"score/2026-11-27/named.parquet": 1}
    assert pq.read_table(folder / "named.parquet")["user_id"].to_pylist() == ["u2"]
    assert pq.read_table(folder / "nulls.parquet").num_rows == 3


def test_a_killed_distributed_training_jobs_inputs_are_removed(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    towers = settings.home / "train" / "2026-11-27" / "towers"
    towers.mkdir(parents=True)
    (towers / "train.job.pt").write_bytes(b"the night's events and snapshot")
    (towers / "train.result.pt").write_bytes(b"weights")
    assert scrub_work_exports(settings, ["u1"]) == {}
    assert list(towers.iterdir()) == []


def test_a_landing_csv_with_a_megabyte_field_is_redacted_in_a_fresh_process(
    tmp_path: Path,
) -> None:
    """Ingest reads fields up to 64 MiB; the redaction must read what ingest read, whatever
    process it runs in (Python's own limit is 128 KiB)."""
    path = tmp_path / "users.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["user_id", "profile_text"])
        writer.writerow(["u1", "x" * (1024 * 1024)])
        writer.writerow(["u2", "short"])
    code = (
        "import sys; from pathlib import Path; "
        "from pipeline.privacy.work_files import _redact_csv; "
        "print(_redact_csv(Path(sys.argv[1]), ('user_id',), {'u1': 'abc'}))"
    )
    fresh = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    assert fresh.stdout.strip() == "1"
    rows = list(csv.reader(path.open(encoding="utf-8", newline="")))
    assert rows[1] == ["erased:abc", ""] and rows[2] == ["u2", "short"]
    assert _redact_csv(path, ("user_id",), {"u1": "abc"}) == 0  # already redacted
