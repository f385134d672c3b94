"""Writers racing for one home: two `recsys run` of different dates and one `recsys forget`.

Each round restores the same home (a trained night) in place, starts one of the three commands,
and, once it holds the night lock, the other two: they must fail within 5 s with one `error:`
line naming the holder, and the holder's result must equal, checksum for checksum, the same
command run alone from the same home. `make test` runs one round (a `run` holds, the other `run`
and `forget` race it); `make night-race` twenty (RECSYS_RACE_ROUNDS), every command holding in
turn.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pytest

from pipeline.core.config import PROJECT_ROOT, Settings
from pipeline.core.night_lock import NightLock
from pipeline.core.run_date import resolve_run_date
from pipeline.night import run_night
from tests.conftest import Night
from tests.crash.checksums import state_checksums

ROUNDS = int(os.environ.get("RECSYS_RACE_ROUNDS", "1"))
RECSYS = str(Path(sys.executable).parent / "recsys")
# the erasure's own record (a fresh id, the time) is new on every run: its row count is compared
VOLATILE = {"warehouse:meta.erasures"}


@dataclass
class Race:
    home: Path
    snapshot: Path
    landing: Path  # forget redacts the landing files too: restored with the home
    env: dict[str, str]
    commands: dict[str, list[str]]
    alone: dict[str, dict[str, str]] = field(default_factory=dict)

    def restore(self) -> None:
        for live, kept in ((self.home, self.snapshot), (self.landing, self.snapshot / "_landing")):
            shutil.rmtree(live)
            shutil.copytree(kept, live, symlinks=True)
        shutil.rmtree(self.home / "_landing")

    def start(self, name: str) -> subprocess.Popen:
        return subprocess.Popen(
            [RECSYS, *self.commands[name]],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def checksums(self) -> dict[str, str]:
        return {k: v for k, v in state_checksums(self.home).items() if k not in VOLATILE}

    def run_alone(self, name: str) -> dict[str, str]:
        if name not in self.alone:
            self.restore()
            proc = self.start(name)
            _, err = proc.communicate(timeout=900)
            assert proc.returncode == 0, err[-3000:]
            self.alone[name] = self.checksums()
        return self.alone[name]


@pytest.fixture(scope="module")
def race(demo_night: Night, tmp_path_factory: pytest.TempPathFactory) -> Race:
    """A home after one trained night (the day before the demo's run date), kept as a snapshot."""
    root = tmp_path_factory.mktemp("race")
    landing = root / "landing"
    shutil.copytree(demo_night.settings.landing_dir, landing)
    home = root / "home"
    day: date = resolve_run_date(Settings(home=home, landing=landing))
    env = {
        **os.environ,
        "RECSYS_HOME": str(home),
        "RECSYS_LANDING": str(landing),
        "RECSYS_TRAIN_MAX_EPOCHS": "2",
        # a fixed salt: the erasure's hashes are the same in every round
        "RECSYS_ERASURE_SALT": "race-salt",
        "RECSYS_LOCK_WAIT_SECONDS": "0",
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        summary = run_night(Settings(), day - timedelta(days=1))
    assert summary["stages"]["train"]["alias"] == "champion", summary["stages"]["train"]
    snapshot = root / "snapshot"
    shutil.copytree(home, snapshot, symlinks=True)
    shutil.copytree(landing, snapshot / "_landing", symlinks=True)
    user = demo_night.query("select user_id from marts.dim_users order by user_id limit 1")[0][0]
    commands = {
        "run_yesterday": ["run", "--run-date", str(day - timedelta(days=1)), "--no-retrain"],
        "run_today": ["run", "--run-date", str(day), "--no-retrain"],
        "forget": ["forget", user, "--reason", "race"],
    }
    return Race(home, snapshot, landing, env, commands)


def wait_for_the_lock(race: Race, holder: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        lease = NightLock(race.home).lease()
        if lease is not None and lease.pid == holder.pid:
            return
        assert holder.poll() is None, holder.communicate()[1][-3000:]
        time.sleep(0.05)
    pytest.fail("the first command never took the night lock")


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_racing_writers_fail_fast_naming_the_holder_and_the_holder_is_undisturbed(
    race: Race, round_: int
) -> None:
    names = list(race.commands)
    first = names[round_ % len(names)]
    expected = race.run_alone(first)
    race.restore()
    holder = race.start(first)
    wait_for_the_lock(race, holder)
    started = time.monotonic()
    others = {name: race.start(name) for name in names if name != first}
    for name, proc in others.items():
        _, err = proc.communicate(timeout=60)
        assert time.monotonic() - started < 5, f"{name} took over 5 s to give up"
        lines = err.strip().splitlines()
        assert proc.returncode == 1, err[-3000:]
        assert lines[-1].startswith("error: "), err[-3000:]
        assert f"pid {holder.pid}" in lines[-1] and "holds the night lock" in lines[-1]
        assert [line for line in lines if line.startswith("error:")] == [lines[-1]]
    _, err = holder.communicate(timeout=900)
    assert holder.returncode == 0, err[-3000:]
    assert race.checksums() == expected
