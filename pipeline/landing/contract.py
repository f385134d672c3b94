"""The landing contract: which tables a landing folder may hold and their columns (docs/contracts.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LandingTable:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    # a night needs items and interactions; without users, users are known from their events
    mandatory: bool = True

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


LANDING_TABLES: dict[str, LandingTable] = {
    t.name: t
    for t in (
        LandingTable(
            "users",
            required=("user_id",),
            optional=("age", "gender", "occupation", "signup_ts", "profile_text"),
            mandatory=False,
        ),
        LandingTable(
            "items",
            required=("item_id", "title"),
            optional=("description", "category", "price", "release_ts"),
        ),
        LandingTable(
            "interactions",
            required=("user_id", "item_id", "event_ts"),
            optional=("rating",),
        ),
        LandingTable(
            "social_edges",
            required=("user_id", "friend_id"),
            optional=("since_ts",),
            mandatory=False,
        ),
    )
}

# Lineage columns ingest adds to every raw row; a landing file may not use these names.
LINEAGE_COLUMNS: dict[str, str] = {
    "_source_file": "varchar",  # absolute path of the landing file
    "_landing_path": "varchar",  # its path inside the landing folder: orders versions of a key
    "_row_number": "bigint",  # 1 = the file's first data record (not its physical line)
    "_loaded_at": "timestamptz",  # audit only: never decides what data a run uses
    "_parse_error": "varchar",  # set when a CSV record could not be split into the header's fields
}

DATA_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
