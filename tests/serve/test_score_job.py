"""A Spark scoring worker checks its copy of the champion against the files the task verified."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.core.errors import RecsysError
from pipeline.core.file_manifest import file_manifest
from pipeline.serve.score_job import _scorer


def test_a_worker_refuses_a_copy_that_changed_after_the_task_verified_it(tmp_path: Path) -> None:
    copy = tmp_path / "champion"
    copy.mkdir()
    (copy / "weights.pt").write_bytes(b"verified")
    spec = {"bundle": str(copy), "bundle_files": file_manifest(copy), "input": str(tmp_path)}
    (copy / "weights.pt").write_bytes(b"swapped!")
    with pytest.raises(RecsysError, match=r"weights\.pt changed.*nothing was scored"):
        _scorer(json.dumps({**spec, "top_n": 10, "chunk_size": 8, "rerank_by_rating": False}))
