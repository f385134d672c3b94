"""The suppression list kept outside the warehouse: `$RECSYS_HOME/privacy/suppression.json`.

The warehouse's `meta.erased_users` (and `meta.erasure_salt`) is the list ingest and forget use;
this file is its copy, so that a forgotten user stays forgotten when the warehouse is restored
from a backup taken before the forget (`recsys restore` applies every hash the backup does not
know). It holds the salted hashes and, when the salt is the warehouse's own (no
RECSYS_ERASURE_SALT), that salt: both secret, so the file is the owner's only (mode 0600). It
only grows; `forget` and `publish` add what the warehouse lists.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.warehouse import connect, table_exists

log = logging.getLogger(__name__)

PRIVATE = 0o600


@dataclass
class SuppressionList:
    salt: str | None = None  # None: RECSYS_ERASURE_SALT's, or no salt made yet
    hashes: set[str] = field(default_factory=set)


def suppression_path(settings: Settings) -> Path:
    return settings.home / "privacy" / "suppression.json"


def read_list(settings: Settings) -> SuppressionList:
    """The file's list (empty when there is no file)."""
    path = suppression_path(settings)
    if not path.exists():
        return SuppressionList()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return SuppressionList(data.get("salt"), set(data["hashes"]))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RecsysError(
            f"the suppression list {path} is unreadable ({exc}): restore it from your own copy "
            "of the home, or rewrite it with `recsys forget` on a warehouse that holds the list"
        ) from exc


def warehouse_list(con: duckdb.DuckDBPyConnection, settings: Settings) -> SuppressionList:
    """The list a warehouse holds (its own salt only when no salt is configured)."""
    found = SuppressionList()
    if settings.erasure.salt is None and table_exists(con, "meta", "erasure_salt"):
        rows = con.execute("select salt from meta.erasure_salt").fetchall()
        found.salt = rows[0][0] if rows else None
    if table_exists(con, "meta", "erased_users"):
        found.hashes = {
            h for (h,) in con.execute("select user_hash from meta.erased_users").fetchall()
        }
    return found


def write_list(settings: Settings, listed: SuppressionList) -> None:
    """Replace the file with `listed`, readable by its owner only, atomically."""
    path = suppression_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    text = json.dumps({"salt": listed.salt, "hashes": sorted(listed.hashes)}, indent=1) + "\n"
    handle = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
    try:
        os.fchmod(handle, PRIVATE)  # whatever the umask
        os.write(handle, text.encode("utf-8"))
        os.fsync(handle)
    finally:
        os.close(handle)
    os.replace(tmp, path)


def save_list(settings: Settings) -> int:
    """Add what the warehouse lists to the file; return how many hashes were new to it."""
    if not settings.warehouse_path.exists():
        return 0
    with connect(settings.warehouse_path, read_only=True) as con:
        held = warehouse_list(con, settings)
    if not held.hashes:
        return 0
    kept = read_list(settings)
    if kept.salt is not None and held.salt is not None and kept.salt != held.salt:
        # the warehouse was rebuilt with a new salt: the old hashes match nothing in it
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")  # audit metadata only
        aside = suppression_path(settings).with_name(f"suppression.json.other-salt-{stamp}")
        os.replace(suppression_path(settings), aside)
        log.warning("the suppression list had another salt; kept aside as %s", aside)
        kept = SuppressionList()
    new = held.hashes - kept.hashes
    if new or (held.salt is not None and kept.salt is None):
        write_list(settings, SuppressionList(kept.salt or held.salt, kept.hashes | held.hashes))
    return len(new)
