"""The operator's commands: erasure, reports, the run date, settings, Airflow."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer

from pipeline.cli_common import HOME, LANDING, RUN_DATE, _date, _run, _settings, app
from pipeline.core.errors import RecsysError
from pipeline.core.run_date import resolve_run_date


@app.command()
def forget(
    user_ids: list[str] = typer.Argument(..., help="The ids of the users to forget."),
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
) -> None:
    """Erase users from the warehouse, the published copy, the work and landing files and every
    MLflow artifact; later rows for them are quarantined as erased_user."""
    from pipeline.privacy.forget import forget as run_forget

    def stage() -> dict[str, Any]:
        day = _date(run_date)  # default: the last night's, not the manifest's
        return run_forget(_settings(home, landing), user_ids, reason=reason, run_date=day)

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
