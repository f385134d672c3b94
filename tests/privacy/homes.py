"""A pipeline home of a test's own, copied from the session's demo night."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from pipeline.core.config import Settings
from tests.conftest import Night


def copy_home(night: Night, home: Path) -> tuple[Settings, str]:
    """A copy of the night's ingested and transformed home at `home`, and a user with events."""
    shutil.copytree(night.settings.home, home)
    settings = Settings(home=home)
    # the ledger names the session's landing files: point it at this copy's (forget redacts them)
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        con.execute(
            "update meta.loaded_files set path = replace(path, ?, ?)",
            [str(night.settings.home), str(home)],
        )
    finally:
        con.close()
    (victim,) = night.query(
        "select min(user_id) from marts.fct_interactions where user_id like 'u%'"
    )[0]
    return settings, victim
