"""The operator's commands: erasure, the champion, the night lock, reports, the run date,
settings, Airflow."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer

from pipeline.cli_common import HOME, LANDING, RUN_DATE, _date, _locked, _run, _settings, app, later
from pipeline.core.errors import RecsysError
from pipeline.core.run_date import resolve_run_date


@app.command()
def forget(
    user_ids: list[str] | None = typer.Argument(None, help="The ids of the users to forget."),
    reason: str | None = typer.Option(
        None, "--reason", help="Why (a ticket number): kept in meta.erasures; no personal data."
    ),
    home: str | None = HOME,
    landing: str | None = LANDING,
    run_date: str | None = typer.Option(
        None,
        "--run-date",
        help="Run date the marts are rebuilt for (default: the last night's).",
    ),
    request: str | None = typer.Option(
        None, "--request", help="Forget the ids of this request (`recsys forget-request`)."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Finish every erasure a crash or an error left pending."
    ),
) -> None:
    """Erase users from the warehouse, the published copy, the work and landing files and every
    MLflow artifact; later rows for them are quarantined as erased_user. Running it again with
    the same ids finishes an erasure that stopped half-way."""

    def stage() -> dict[str, Any]:
        if sum(map(bool, (user_ids, request, resume))) != 1:
            raise RecsysError("give the user ids, or --request ID, or --resume (one of them)")
        day = _date(run_date)  # default: the last night's, not the manifest's
        settings = _settings(home, landing)
        with _locked(settings, day):
            # imported under the lock: a command that finds it held says so at once
            from pipeline.privacy.forget import forget as run_forget
            from pipeline.privacy.forget import resume_all

            if resume:
                finished = resume_all(settings)
                return {"stage": "forget", "status": "ok", "resumed": finished}
            return run_forget(settings, user_ids, reason=reason, run_date=day, request=request)

    _run(stage)


@app.command("forget-request")
def forget_request(
    user_ids: list[str] = typer.Argument(..., help="The ids of the users to forget."),
    reason: str | None = typer.Option(
        None, "--reason", help="Why (a ticket number): kept in meta.erasures; no personal data."
    ),
    home: str | None = HOME,
) -> None:
    """Write the ids to a private request file under the home and print its id, to trigger the
    recsys_forget DAG with {"request": ID} (Airflow then never holds the ids)."""
    from pipeline.privacy.erasure_requests import write_request
    from pipeline.privacy.forget import MAX_REASON, check_ids

    def stage() -> dict[str, Any]:
        ids = check_ids(user_ids)
        if reason is not None and len(reason) > MAX_REASON:
            raise RecsysError(f"--reason is {len(reason)} characters; at most {MAX_REASON}")
        request_id = write_request(_settings(home), ids, reason)
        typer.echo(request_id)
        return {"stage": "forget-request", "status": "ok", "request": request_id}

    _run(stage)


@app.command("restore")
def restore_cmd(
    backup: str | None = typer.Option(
        None, "--backup", help="The backup to restore, e.g. 2026-11-27 (default: the newest)."
    ),
    home: str | None = HOME,
) -> None:
    """Replace the warehouse by a verified backup (`$RECSYS_HOME/backups/`), every forgotten
    user erased from it again; the replaced file is kept beside it."""

    def stage() -> dict[str, Any]:
        settings = _settings(home)
        with _locked(settings):
            from pipeline.privacy.restore import (
                restore,  # under the lock: a busy home says so at once
            )

            return restore(settings, backup)

    _run(stage)


@app.command("champion")
def champion_cmd(
    set_version: str | None = typer.Option(
        None, "--set", help="Point `champion` at this version (a rollback, or a blocked model)."
    ),
    reason: str | None = typer.Option(None, "--reason", help="Why: kept on the version's tags."),
    home: str | None = HOME,
) -> None:
    """Show the served version and the recent ones; with --set VERSION, serve that version from
    the next `recommend` (recorded on the version in MLflow)."""

    def stage() -> dict[str, Any]:
        settings = _settings(home)
        if set_version is None:
            return later("pipeline.train.champion", "show_champion")(settings)
        with _locked(settings):  # never between a night's gate reading and moving the alias
            return later("pipeline.train.champion", "set_champion")(settings, set_version, reason)

    _run(stage)


@app.command("unlock")
def unlock_cmd(home: str | None = HOME) -> None:
    """End the night lock's lease when its holder is gone for good (an Airflow run that was
    killed before its teardown); refused while a process works under the lock."""
    from pipeline.core.night_lock import NightLock

    def stage() -> dict[str, Any]:
        ended = NightLock(_settings(home).home).unlock()
        return {
            "stage": "unlock",
            "status": "ok",
            "ended": None if ended is None else ended.describe(),
        }

    _run(stage)


@app.command("report")
def report_cmd(
    home: str | None = HOME,
    html: str | None = typer.Option(
        None,
        "--html",
        help="Write the champion's quality report (plots embedded) as one HTML page to this "
        "path, instead of printing the summary.",
    ),
) -> None:
    """Where the night's results are, sample recommendations with their reasons, and the
    champion's metrics beside the baselines; or, with --html, the night's quality report."""
    from pipeline.serve.report import report, write_html_report

    def stage() -> dict[str, Any]:
        if html is not None:
            return write_html_report(_settings(home), Path(html))
        text, summary = report(_settings(home))
        typer.echo(text)
        return summary

    _run(stage)


@app.command("run-date")
def run_date_cmd(
    home: str | None = HOME, run_date: str | None = RUN_DATE, landing: str | None = LANDING
) -> None:
    """Print the run date a stage would use (--run-date, RECSYS_RUN_DATE, the manifest's)."""
    try:
        settings = _settings(home, landing)
        typer.echo(resolve_run_date(settings, _date(run_date)).isoformat())
    except RecsysError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command("settings-reference")
def settings_reference_cmd() -> None:
    """Print the settings reference (Markdown) generated from the code: docs/settings.md."""
    from pipeline.core.settings_reference import settings_reference

    sys.stdout.write(settings_reference())


@app.command("airflow-setup")
def airflow_setup(home: str | None = HOME) -> None:
    """Create the DAG's Airflow pools (the plugin also does it when the scheduler starts)."""

    def stage() -> dict[str, Any]:
        from pipeline.orchestration.home import airflow_env

        settings = _settings(home)
        os.environ.update(airflow_env(settings))  # before Airflow reads its configuration
        from pipeline.orchestration.pools import ensure_pools

        return {"stage": "airflow-setup", "status": "ok", "pools_created": ensure_pools(settings)}

    _run(stage)


@app.command(
    "airflow",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def airflow_cmd(ctx: typer.Context, home: str | None = HOME) -> None:
    """Airflow's own CLI on the local installation under $RECSYS_HOME/airflow (SQLite, this
    DAG, no examples, parallelism 4), e.g. `recsys airflow dags test recsys_nightly 2026-11-27`."""
    from pipeline.orchestration.home import airflow_env, airflow_executable, supervise

    settings = _settings(home)
    env = {**airflow_env(settings), "RECSYS_HOME": str(settings.home)}  # tasks see this home
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    argv = [airflow_executable(), *ctx.args]
    if ctx.args[:1] == ["standalone"]:
        # its components can outlive its own Ctrl-C handling: stop the whole group
        raise typer.Exit(supervise(argv, env))
    # exec: Airflow gets the terminal's signals itself
    os.execve(argv[0], ["airflow", *ctx.args], env)
