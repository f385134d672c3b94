from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()


def recsys(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed console script, in its own process, as a user runs it."""
    exe = Path(sys.executable).parent / "recsys"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, check=False)


@pytest.mark.parametrize(
    "stage", ["demo-data", "ingest", "transform", "embed", "train", "recommend", "publish", "run"]
)
def test_every_stage_has_help(stage: str) -> None:
    result = runner.invoke(app, [stage, "--help"])
    assert result.exit_code == 0
    assert "--home" in result.output


def test_summary_is_the_last_stdout_line_and_progress_goes_to_stderr(tmp_path: Path) -> None:
    result = recsys("demo-data", str(tmp_path / "landing"), "--scale", "0.05")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["stage"] == "demo-data"
    assert summary["status"] == "ok"
    assert summary["run_date"] == "2026-11-27"

    ingested = recsys(
        "ingest", "--home", str(tmp_path / "home"), "--landing", str(tmp_path / "landing")
    )
    assert ingested.returncode == 0, ingested.stderr
    summary = json.loads(ingested.stdout.strip().splitlines()[-1])
    assert summary["run_date"] == "2026-11-27"  # from the landing manifest
    assert summary["files_loaded"] > 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["transform", "--run-date", "2026-13-01"], "invalid run date '2026-13-01'"),
        (
            ["ingest", "--landing", "/no/such/folder"],
            "landing folder /no/such/folder does not exist",
        ),
        (["transform", "--run-date", "2026-11-27"], "run `recsys ingest` first"),
        (["transform"], "no run date: pass --run-date"),
    ],
)
def test_user_errors_are_one_line_without_traceback(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = recsys(*args, "--home", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"error: {result.stderr.strip()[7:]}"]
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_setting_is_named_by_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.cli import _settings
    from pipeline.core.errors import RecsysError

    monkeypatch.setenv("RECSYS_TRAIN_MAX_EPOCHS", "zero")
    with pytest.raises(RecsysError, match="RECSYS_TRAIN_MAX_EPOCHS: Input should be"):
        _settings(None)
    monkeypatch.delenv("RECSYS_TRAIN_MAX_EPOCHS")
    monkeypatch.setenv("RECSYS_LOSS_WEIGHTS", '{"interaction": "x"}')
    with pytest.raises(RecsysError, match=r"RECSYS_LOSS_WEIGHTS\[interaction\]: Input should be"):
        _settings(None)


def test_home_option_beats_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.cli import _settings

    monkeypatch.setenv("RECSYS_HOME", str(tmp_path / "from-env"))
    assert _settings(None).home == tmp_path / "from-env"
    assert _settings(str(tmp_path / "from-flag")).home == tmp_path / "from-flag"


def test_run_does_the_night_in_order_and_a_rerun_changes_nothing(tmp_path: Path) -> None:
    landing, home = tmp_path / "landing", tmp_path / "home"
    assert recsys("demo-data", str(landing), "--scale", "0.05").returncode == 0
    first = recsys("run", "--home", str(home), "--landing", str(landing))
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert (summary["stage"], summary["run_date"]) == ("run", "2026-11-27")
    assert list(summary["stages"]) == [
        "ingest",
        "transform",
        "embed",
        "train",
        "recommend",
        "publish",
    ]
    assert summary["stages"]["embed"]["embedded"] > 0
    assert (summary["stages"]["train"]["model_version"], summary["stages"]["train"]["alias"]) == (
        "1",
        "champion",
    )

    again = json.loads(
        recsys("run", "--home", str(home), "--landing", str(landing)).stdout.splitlines()[-1]
    )
    assert again["stages"]["ingest"]["files_loaded"] == 0
    assert again["stages"]["transform"]["tables"] == summary["stages"]["transform"]["tables"]
    assert (again["stages"]["embed"]["engine"], again["stages"]["embed"]["embedded"]) == ("none", 0)
    # Same export, same settings: the champion already is this night's model, so nothing is
    # fitted or registered, and the night's rows keep their model_version
    retrained = again["stages"]["train"]
    assert (retrained["model_version"], retrained["train_mode"]) == ("1", "reused"), retrained


def test_version_usage_errors_and_crashes_have_their_own_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0 done, 1 a problem to fix (tested above), 2 a usage error, 3 a crash (a bug)."""
    from pipeline.core.version import code_digest, release

    shown = recsys("--version")
    assert shown.returncode == 0
    assert shown.stdout.strip() == f"recsys-nightly {release()} (code {code_digest()[:12]})"
    assert recsys("transform", "--no-such-option").returncode == 2
    assert "--reload " in recsys("ingest", "--help").stdout  # a flag, shown without a type
    assert "<bool>" not in recsys("ingest", "--help").stdout

    import pipeline.clean.transform as transform

    def broken(*_: object) -> dict:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(transform, "transform", broken)
    result = runner.invoke(app, ["transform", "--home", str(tmp_path), "--run-date", "2026-11-27"])
    assert result.exit_code == 3
    assert "ZeroDivisionError: a bug" in result.output
    assert result.output.strip().splitlines()[-1].startswith("crash: an unexpected error in ")


def test_a_damaged_warehouse_is_restored_from_its_newest_backup(tmp_path: Path) -> None:
    from pipeline.core.config import Settings
    from pipeline.core.warehouse_backup import take_backup
    from tests.core.test_warehouse_backup import small_warehouse
    from tests.crash.checksums import table_checksums

    home = tmp_path / "home"
    none = recsys("restore", "--home", str(home))
    assert none.returncode == 1
    assert none.stderr.strip().splitlines() == [f"error: no backup under {home / 'backups'}: "
        "`recsys publish` takes one at the end of each night"]  # fmt: skip
    settings = Settings(home=home)
    live = small_warehouse(settings, rows=300000)
    take_backup(settings, "2026-11-27")
    before = table_checksums(live)
    with live.open("r+b") as handle:
        handle.truncate(live.stat().st_size // 2)

    failed = recsys("transform", "--home", str(home), "--run-date", "2026-11-27")
    assert failed.returncode == 1
    (line,) = failed.stderr.strip().splitlines()
    assert line.startswith(f"error: the warehouse {live} is damaged")
    assert f"`recsys restore --backup 2026-11-27 --home {home}`" in line

    restored = recsys("restore", "--backup", "2026-11-27", "--home", str(home))
    assert restored.returncode == 0, restored.stderr
    summary = json.loads(restored.stdout.strip().splitlines()[-1])
    assert (summary["stage"], summary["backup"]) == ("restore", "2026-11-27")
    assert table_checksums(live) == before
    assert Path(summary["replaced_file"]).stat().st_size < live.stat().st_size  # the damaged one
