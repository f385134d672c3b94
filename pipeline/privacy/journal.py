"""The erasure journal: `meta.erasures`, one row per erasure, kept up to date as it runs.

`forget` writes its row as `pending` (the users' salted hashes, never their ids) in a transaction
of its own before its first write, each step then marks itself done (the warehouse step in the
same transaction as its scrub), and the row becomes `done` after the last step. Every mark is a
committed transaction of its own, so the journal survives a crash anywhere; the compaction step
copies every table, this one included, into the new warehouse file.

A night must not run while an erasure is pending (it would carry the half-forgotten users into
its model and lists): `check_no_pending_erasure` says so and what to run.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import duckdb

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.warehouse import connect, table_exists, transaction
from pipeline.landing.suppression import hash_ids, salt

# in order; the steps that read the users' ids (the journal holds only their hashes)
STEPS = ("warehouse", "transform", "publish", "compact", "work_files", "landing", "mlflow")
NEEDS_IDS = frozenset({"warehouse", "work_files", "landing", "mlflow"})
PENDING, DONE = "pending", "done"

ERASURES_DDL = """
create table if not exists meta.erasures (
    erasure_id varchar primary key,
    user_hashes varchar[] not null,
    erased_at timestamptz not null,
    reason varchar,
    rebuilt_run_date date,
    rows_removed map(varchar, bigint) not null
)
"""
# added by the journal; a row written before it existed was a finished erasure
JOURNAL_COLUMNS = (
    "status varchar default 'done'",
    "steps varchar[] default []",
    "request_id varchar",
    "finished_at timestamptz",
)


@dataclass
class Erasure:
    erasure_id: str
    hashes: dict[str, str]  # id -> salted hash; empty when read back without the ids
    user_hashes: list[str]
    run_date: date
    reason: str | None = None
    request_id: str | None = None
    steps: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    started_at: datetime | None = None

    @property
    def remaining(self) -> list[str]:
        return [s for s in STEPS if s not in self.steps]


def ensure_journal(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists meta")
    con.execute(ERASURES_DDL)
    for column in JOURNAL_COLUMNS:
        con.execute(f"alter table meta.erasures add column if not exists {column}")


def _pending(con: duckdb.DuckDBPyConnection) -> list[Erasure]:
    if not table_exists(con, "meta", "erasures"):
        return []
    columns = {
        c for (c,) in con.execute(
            "select column_name from duckdb_columns() "
            "where schema_name = 'meta' and table_name = 'erasures'"
        ).fetchall()
    }  # fmt: skip
    if "status" not in columns:
        return []  # written before the journal: every row is a finished erasure
    rows = con.execute(
        "select erasure_id, user_hashes, rebuilt_run_date, reason, request_id, steps, "
        "rows_removed, erased_at from meta.erasures where status = ? order by erased_at",
        [PENDING],
    ).fetchall()
    return [
        Erasure(e, {}, list(h), d, r, q, list(s or []), dict(m or {}), t)
        for e, h, d, r, q, s, m, t in rows
    ]


def pending_erasures(settings: Settings) -> list[Erasure]:
    """The erasures a crash or an error left unfinished (none when there is no warehouse)."""
    if not settings.warehouse_path.exists():
        return []
    with connect(settings.warehouse_path, read_only=True) as con:
        return _pending(con)


def check_no_pending_erasure(settings: Settings) -> None:
    """Refuse to go on while an erasure is unfinished: say which, and how to finish it."""
    pending = pending_erasures(settings)
    if pending:
        listing = ", ".join(
            f"{e.erasure_id} ({len(e.user_hashes)} user(s), next step {e.remaining[0] if e.remaining else 'done'})"
            for e in pending
        )
        raise RecsysError(
            f"an erasure is unfinished: {listing}. Finish it before the night runs: "
            "`recsys forget --resume` (or run `recsys forget` again with the same ids)"
        )


def begin(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    ids: list[str],
    *,
    run_date: date,
    reason: str | None,
    request_id: str | None,
) -> Erasure:
    """The pending erasure of exactly these users (resumed), else a new pending row.

    Runs in the caller's transaction: the salt a first forget makes commits with the row.
    """
    ensure_journal(con)
    salt_value = salt(con, settings, create=True)
    assert salt_value is not None  # created above
    hashes = hash_ids(con, salt_value, ids)
    wanted = sorted(set(hashes.values()))
    pending = _pending(con)
    for erasure in pending:
        if sorted(set(erasure.user_hashes)) == wanted:
            erasure.hashes = hashes
            return erasure
    if pending:
        other = pending[0]
        raise RecsysError(
            f"erasure {other.erasure_id} of {len(other.user_hashes)} other user(s) is "
            "unfinished: finish it first with `recsys forget --resume` (or `recsys forget` "
            "with its ids), then forget these users"
        )
    erasure = Erasure(
        erasure_id=uuid.uuid4().hex,
        hashes=hashes,
        user_hashes=wanted,
        run_date=run_date,
        reason=reason,
        request_id=request_id,
        started_at=datetime.now(UTC),  # audit metadata only
    )
    con.execute(
        "insert into meta.erasures (erasure_id, user_hashes, erased_at, reason, "
        "rebuilt_run_date, rows_removed, status, steps, request_id) "
        "values (?, ?, ?, ?, ?, map(), ?, [], ?)",
        [
            erasure.erasure_id,
            wanted,
            erasure.started_at,
            reason,
            run_date,
            PENDING,
            request_id,
        ],
    )
    return erasure


def mark_step(
    con: duckdb.DuckDBPyConnection, erasure: Erasure, step: str, rows: dict[str, int]
) -> None:
    """Record `step` as done with the rows it removed, in the caller's transaction."""
    merged = dict(erasure.rows)
    for key, count in rows.items():
        merged[key] = merged.get(key, 0) + count
    con.execute(
        "update meta.erasures set steps = list_append(steps, ?), rows_removed = map(?, ?) "
        "where erasure_id = ?",
        [step, list(merged), list(merged.values()), erasure.erasure_id],
    )
    erasure.rows = merged
    erasure.steps.append(step)


def mark(settings: Settings, erasure: Erasure, step: str, rows: dict[str, int]) -> None:
    """`mark_step` in a committed transaction of its own."""
    with connect(settings.warehouse_path) as con, transaction(con):
        mark_step(con, erasure, step, rows)


def finish(settings: Settings, erasure: Erasure) -> None:
    """The erasure is done: its last write."""
    with connect(settings.warehouse_path) as con, transaction(con):
        con.execute(
            "update meta.erasures set status = ?, finished_at = ? where erasure_id = ?",
            [DONE, datetime.now(UTC), erasure.erasure_id],  # audit metadata only
        )
