"""Erasure requests: the ids to forget, kept in a private file under the home, named by a
random request id.

Airflow keeps what a run is triggered with (the run's conf, the audit log's request body) and
what its tasks return and log, for as long as its database lives. So the `recsys_forget` DAG is
triggered with a request id only: `recsys forget-request ID...` writes the ids to
`$RECSYS_HOME/erasure-requests/<request id>.json` (mode 0600, in a 0700 folder) and prints the
id; the DAG's task reads the file, and the file is deleted when the erasure is done.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError

FOLDER = "erasure-requests"
REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class ErasureRequest:
    request_id: str
    user_ids: list[str]
    reason: str | None


def request_path(settings: Settings, request_id: str) -> Path:
    if not REQUEST_ID.match(request_id):
        raise RecsysError(
            f"{request_id!r} is not an erasure request id (32 hex characters, as "
            "`recsys forget-request` prints it)"
        )
    return settings.home / FOLDER / f"{request_id}.json"


def write_request(settings: Settings, user_ids: list[str], reason: str | None) -> str:
    """Write the request file (readable by its owner only); return its id."""
    folder = settings.home / FOLDER
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)  # mkdir's mode is masked by the umask
    request_id = secrets.token_hex(16)
    path = request_path(settings, request_id)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"user_ids": user_ids, "reason": reason}, out)
        out.flush()
        os.fsync(out.fileno())  # the request outlives a crash until its erasure is done
    return request_id


def read_request(settings: Settings, request_id: str) -> ErasureRequest:
    path = request_path(settings, request_id)
    if not path.exists():
        raise RecsysError(
            f"no erasure request {request_id} under {path.parent}: its erasure is done (the "
            "file is deleted then) or it was written under another home; write one with "
            "`recsys forget-request ID...`"
        )
    document = json.loads(path.read_text(encoding="utf-8"))
    return ErasureRequest(request_id, list(document["user_ids"]), document.get("reason"))


def delete_request(settings: Settings, request_id: str) -> None:
    request_path(settings, request_id).unlink(missing_ok=True)
