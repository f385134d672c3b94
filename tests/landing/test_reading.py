from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import pipeline.landing.reading as reading
from pipeline.landing.contract import LANDING_TABLES
from pipeline.landing.reading import HashingReader, LandingFile, csv_batches, parquet_batches


def test_csv_batches_split_by_rows_and_by_text_and_hash_every_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading, "BATCH_ROWS", 3)
    monkeypatch.setattr(reading, "BATCH_CHARS", 100)
    lines = [f"u{i},{'x' * (120 if i == 4 else 1)}\n" for i in range(8)]
    path = tmp_path / "users.csv"
    path.write_text("user_id,profile_text\n" + "".join(lines), encoding="utf-8")
    source = LandingFile(LANDING_TABLES["users"], path, "csv")

    with path.open("rb", buffering=0) as handle:
        stream = HashingReader(handle)
        batches = list(csv_batches(source, stream))

    # 3 rows; then u3 and the long u4 (over 100 characters); then 3 rows; then the last one
    assert [b.num_rows for b in batches] == [3, 2, 3]
    assert [u for b in batches for u in b.column("user_id").to_pylist()] == [
        f"u{i}" for i in range(8)
    ]
    assert batches[0].schema.names == ["user_id", "profile_text", "_parse_error"]
    assert stream.size == path.stat().st_size
    assert stream.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_header_only_csv_gives_one_empty_batch(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text("user_id,age\n", encoding="utf-8")
    with path.open("rb", buffering=0) as handle:
        batches = list(
            csv_batches(LandingFile(LANDING_TABLES["users"], path, "csv"), HashingReader(handle))
        )
    assert [(b.num_rows, b.schema.names) for b in batches] == [
        (0, ["user_id", "age", "_parse_error"])
    ]


def test_parquet_batches_follow_row_groups_with_the_checked_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading, "BATCH_ROWS", 4)
    path = tmp_path / "items.parquet"
    pq.write_table(pa.table({"Item ID": [f"i{i}" for i in range(10)], "TITLE": ["t"] * 10}), path)
    with path.open("rb") as handle:
        batches = list(
            parquet_batches(LandingFile(LANDING_TABLES["items"], path, "parquet"), handle)
        )
    assert [b.num_rows for b in batches] == [4, 4, 2]
    assert batches[0].schema.names == ["item_id", "title"]
