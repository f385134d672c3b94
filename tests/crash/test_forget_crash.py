"""The crash matrix of `forget`: killed (SIGKILL) at a write of each of its steps, then run again
with the same ids, as an operator does. Afterwards the user is found nowhere under the home, no
erasure is pending, the champion loads and ranks the others like their night, and the next
ingest is green.

The write points are found by a first, uninterrupted forget that records every boundary it
reaches (`forget_child.py`); each point is named by its step, the kind of write and which one
of them. `make test` runs two of them; `make crash-matrix` all (RECSYS_CRASH_MATRIX=full).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from pipeline.core.config import PROJECT_ROOT, Settings
from pipeline.core.run_date import resolve_run_date
from pipeline.privacy.forget import forget
from pipeline.privacy.journal import pending_erasures
from tests.conftest import Night
from tests.crash.test_crash_matrix import FULL, QUICK_TRAIN
from tests.privacy.search import search_home
from tests.processes import run_group
from tests.serve.test_recommend import assert_the_pyfunc_ranks_like_the_night, rows

pytestmark = pytest.mark.slow

KINDS = {
    "duckdb transaction": "commit",
    "rename into place": "rename",
    "after writing": "parquet",
    "after the first batch": "parquet",
    "between the stage's two dbt builds": "dbt",
    "upload of": "upload",
}
# (step, kind of write, which one of them: 0 the first, -1 the last)
POINTS = [
    ("begin", "commit", 0),  # the journal's pending mark
    ("warehouse", "commit", 0),  # the scrub and its mark, one transaction
    ("transform", "commit", -1),  # the rebuild's mark
    ("publish", "rename", 0),  # before the published copy is swapped in
    ("compact", "rename", 0),  # before the compacted warehouse is swapped in
    ("work_files", "parquet", 0),  # an export's new content written, not renamed yet
    ("work_files", "rename", 0),  # before the first export is renamed into place
    ("work_files", "rename", -1),  # before the last: the others renamed
    # killed before the second landing file's rename: the first is redacted, its new checksum
    # not committed (a kill at a rename comes before it)
    ("landing", "rename", 1),
    ("landing", "commit", 0),  # the ledger and the step's mark
    ("mlflow", "upload", 0),  # the first artifact file of a bundle uploaded, not the rest
    ("mlflow", "upload", 7),  # the served bundle: its history renumbered, users.parquet not yet
    ("mlflow", "upload", -1),  # the last
    ("done", "commit", 0),  # the journal's done mark
]
QUICK = [("warehouse", "commit", 0), ("mlflow", "upload", 0)]


@dataclass
class ForgetMatrix:
    root: Path
    home: Path
    env: dict[str, str]
    day: date
    victim: str
    text: str
    others: list[str]
    trace: list[dict]

    def restore(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)
        shutil.copytree(self.root / "snapshot", self.home, symlinks=True)

    def index(self, step: str, kind: str, which: int) -> int:
        found = [b["n"] for b in self.trace if b["step"] == step and kind_of(b["where"]) == kind]
        assert found, f"forget no longer writes a {kind} in its step {step}: {self.trace}"
        return found[which]


def kind_of(where: str) -> str:
    return next(k for prefix, k in KINDS.items() if where.startswith(prefix))


def run_forget_child(matrix: ForgetMatrix, kill_at: int) -> tuple[int, list[dict]]:
    trace = matrix.root / f"trace-{kill_at}.jsonl"
    trace.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "tests.crash.forget_child", json.dumps([matrix.victim]),
            str(kill_at), str(trace)]  # fmt: skip
    # dbt's children: nothing of a dead forget may write on
    code = run_group(argv, matrix.env, matrix.root / f"forget-{kill_at}.log", PROJECT_ROOT)
    if code not in (0, -signal.SIGKILL):
        pytest.fail(f"forget exit {code}\n" + (matrix.root / f"forget-{kill_at}.log").read_text())
    lines = trace.read_text().splitlines() if trace.exists() else []
    return code, [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def matrix(demo_night: Night, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForgetMatrix]:
    """A served night in a home of its own, its snapshot, and the trace of a whole forget."""
    root = tmp_path_factory.mktemp("forget-crash")
    home = root / "home"
    shutil.copytree(demo_night.settings.landing_dir, home / "landing")
    env = {
        **os.environ,
        "RECSYS_HOME": str(home),
        **QUICK_TRAIN,
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        from pipeline.night import run_night

        settings = Settings()
        day = resolve_run_date(settings)
        run_night(settings, day, engine="local")
        (victim, text) = rows(
            settings,
            """
            select u.user_id, u.profile_text from marts.dim_users u
            where u.profile_text is not null
              and (select count(*) from marts.dim_users o where o.profile_text = u.profile_text) = 1
              and u.user_id in (select user_id from marts.recommendations)
              and u.user_id in (select friend_id from marts.fct_social_edges)
              and u.user_id in (select similar_user_id from marts.similar_users)
              and u.user_id like 'u%'
            order by u.user_id limit 1
            """,
        )[0]
        others = [
            u
            for (u,) in rows(
                settings,
                "select distinct user_id from marts.recommendations where user_id <> ? "
                "order by hash(user_id) limit 2",
                [victim],
            )
        ]
        shutil.copytree(home, root / "snapshot", symlinks=True)
        matrix = ForgetMatrix(root, home, env, day, victim, text, others, [])
        code, matrix.trace = run_forget_child(matrix, 0)
        assert code == 0
        print("\nforget's write boundaries:")
        print("\n".join(f"{b['n']:3} {b['step']:10} {b['where']}" for b in matrix.trace))
        yield matrix


@pytest.mark.parametrize(("step", "kind", "which"), POINTS if FULL else QUICK)
def test_a_forget_killed_at_a_write_and_run_again_leaves_no_trace(
    matrix: ForgetMatrix, step: str, kind: str, which: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in matrix.env.items():
        monkeypatch.setenv(key, value)
    matrix.restore()
    kill_at = matrix.index(step, kind, which)
    code, reached = run_forget_child(matrix, kill_at)
    assert code == -signal.SIGKILL and len(reached) == kill_at, reached[-3:]
    settings = Settings()
    # killed after its pending mark, the erasure stays pending (a night would refuse to run)
    assert bool(pending_erasures(settings)) == (step != "begin")

    summary = forget(settings, [f" {matrix.victim} "])

    assert summary["status"] == "ok"
    assert pending_erasures(settings) == []
    assert search_home(settings.home, [matrix.victim, matrix.text]) == []
    from pipeline.train.registry import load_champion

    load_champion(settings)
    assert_the_pyfunc_ranks_like_the_night(settings, matrix.day, matrix.others)
    from pipeline.landing.ingest import ingest

    assert ingest(settings, matrix.day + timedelta(days=1))["status"] == "ok"
