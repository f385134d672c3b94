"""Reading one landing file in bounded memory: record batches, the CSV's hashed as it is read.

A CSV goes through Python's csv module (RFC 4180, strict quotes) a batch of records at a time,
every value as text; a Parquet file a record batch at a time, with the SQL that turns its
columns into text as `raw` keeps them. A file of any size needs about one batch of memory; the
header is checked before the first batch.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core.errors import RecsysError
from pipeline.core.warehouse import quote_ident
from pipeline.landing.contract import LINEAGE_COLUMNS, LandingTable

# Python's csv refuses fields over 128 KiB by default; a long profile text or description is data.
# Past this a field is refused with the file's name (a runaway quote usually swallowed the file).
MAX_FIELD_CHARS = 64 * 1024 * 1024

# One batch: this many records, or fewer when their text passes BATCH_CHARS (long fields).
BATCH_ROWS = 65_536
BATCH_CHARS = 32 * 1024 * 1024


@dataclass(frozen=True)
class LandingFile:
    table: LandingTable
    path: Path
    fmt: str  # "csv" or "parquet"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class HashingReader(io.RawIOBase):
    """A binary file read front to back: the sha256 and count of exactly the bytes handed out."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        count = self._handle.readinto(buffer)  # type: ignore[attr-defined]
        if count:
            self._digest.update(memoryview(buffer)[:count])
            self.size += count
        return count or 0

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()


def normalise_column(name: str) -> str:
    """Lower case; anything but letters, digits and _ becomes _ (so no name can break SQL)."""
    return re.sub(r"[^a-z0-9_]+", "_", name.strip().lower()).strip("_")


def check_header(names: list[str], source: LandingFile) -> list[str]:
    header = [normalise_column(name) for name in names]
    for position, name in enumerate(header, start=1):
        if not name:
            raise RecsysError(
                f"{source.path}: column {position} of the header has no usable name "
                f"({names[position - 1]!r})"
            )
        if name in LINEAGE_COLUMNS:
            raise RecsysError(f"{source.path}: column {name!r} is reserved for lineage")
    duplicated = sorted({n for n in header if header.count(n) > 1})
    if duplicated:
        raise RecsysError(
            f"{source.path}: duplicated column(s) {', '.join(duplicated)} "
            "(names are compared in lower case with other characters as _)"
        )
    for column in source.table.required:
        if column not in header:
            raise RecsysError(
                f"{source.path}: required column {column!r} of table {source.table.name} is missing"
                f" (header: {', '.join(header)})"
            )
    return header


def csv_batches(source: LandingFile, stream: HashingReader) -> Iterator[pa.RecordBatch]:
    """The CSV's records as text batches (at least one, maybe empty). A record with the wrong
    number of fields is kept with `_parse_error`. Reads `stream` to its end."""
    csv.field_size_limit(MAX_FIELD_CHARS)
    text = io.TextIOWrapper(io.BufferedReader(stream, 1 << 20), encoding="utf-8-sig", newline="")
    reader = csv.reader(text, strict=True)  # a stray quote is an error, never a merge
    try:
        first = next(reader, None)
        if first is None:
            raise RecsysError(f"{source.path}: empty file, expected a header row")
        header = check_header(first, source)
        columns: list[list[str | None]] = [[] for _ in header]
        errors: list[str | None] = []
        chars, yielded = 0, False
        for record in reader:
            if not record:
                continue  # a blank line holds no record
            if len(record) == len(header):
                for values, value in zip(columns, record, strict=True):
                    values.append(value)
                errors.append(None)
            else:
                for values in columns:
                    values.append(None)
                errors.append(
                    f"expected {len(header)} fields, found {len(record)} "
                    f"near line {reader.line_num}: {json.dumps(record, ensure_ascii=False)}"
                )
            chars += sum(map(len, record))
            if len(errors) >= BATCH_ROWS or chars >= BATCH_CHARS:
                yield _text_table(header, columns, errors)
                columns, errors, chars, yielded = [[] for _ in header], [], 0, True
        if errors or not yielded:
            yield _text_table(header, columns, errors)
    except UnicodeDecodeError as exc:
        raise RecsysError(
            f"{source.path}: not valid UTF-8 (byte {exc.start}: {exc.reason})"
        ) from None
    except csv.Error as exc:
        raise RecsysError(
            f"{source.path}: unreadable CSV near line {reader.line_num}: {exc}"
        ) from None


def _text_table(
    header: list[str], columns: list[list[str | None]], errors: list[str | None]
) -> pa.RecordBatch:
    arrays = [pa.array(values, pa.string()) for values in columns]
    arrays.append(pa.array(errors, pa.string()))
    return pa.RecordBatch.from_arrays(arrays, names=[*header, "_parse_error"])


def parquet_batches(source: LandingFile, handle: BinaryIO) -> Iterator[pa.RecordBatch]:
    """The Parquet file's record batches (at least one, maybe empty), columns renamed to the
    checked header; `parquet_as_text` is the SQL that turns them into text."""
    try:
        parquet = pq.ParquetFile(handle)
        header = check_header(parquet.schema_arrow.names, source)
        schema = pa.schema(
            [
                field.with_name(name)
                for name, field in zip(header, parquet.schema_arrow, strict=True)
            ]
        )
        yielded = False
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS, use_threads=False):
            if batch.num_rows:
                yield pa.RecordBatch.from_arrays(batch.columns, schema=schema)
                yielded = True
        if not yielded:
            yield pa.RecordBatch.from_pylist([], schema)
    except (pa.ArrowException, OSError) as exc:
        raise RecsysError(f"{source.path}: unreadable Parquet file: {exc}") from None


def parquet_as_text(schema: pa.Schema) -> str:
    """The select list turning a Parquet file's columns into text, as `raw` keeps them."""
    columns = [_as_text(field.name, field.type) for field in schema]
    return ", ".join([*columns, "cast(null as varchar) as _parse_error"])


def _as_text(column: str, kind: pa.DataType) -> str:
    """SQL turning one Parquet column into text as a CSV would hold it (1.0 as an id reads '1')."""
    name = quote_ident(column)
    if pa.types.is_floating(kind):
        value = f"cast({name} as double)"
        return (
            f"case when isfinite({value}) and {value} = trunc({value}) and abs({value}) < 1e15 "
            f"then cast(cast({value} as bigint) as varchar) else cast({value} as varchar) end as {name}"
        )
    return f"cast({name} as varchar) as {name}"
