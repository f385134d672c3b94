"""`recsys STAGE [options]`: thin wrappers that parse options, call a stage, print its summary.

Progress and logs go to stderr; the last stdout line is the stage's JSON summary. Exit codes:
0 done; 1 a problem a user can fix (bad paths, dates, files, settings: one `error:` line on
stderr); 2 a usage error (an unknown option, a missing argument: click's message); 3 a crash (a
bug: the traceback and one `crash:` line); 130 interrupted.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import typer

from pipeline.core.config import Settings, load_settings
from pipeline.core.errors import RecsysError
from pipeline.core.modes import Engine
from pipeline.core.run_date import find_run_date, parse_run_date, resolve_run_date
from pipeline.core.version import version_line

app = typer.Typer(
    name="recsys",
    help="recsys-nightly: raw shop data in, top-N recommendations out. One subcommand per stage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: a flag shows as a flag, not as `<bool>`
)
CRASH = 3  # exit codes: 0 done, 1 a problem to fix (one `error:` line), 2 usage, 3 a bug, 130 ^C

HOME = typer.Option(None, "--home", help="Pipeline home (default: $RECSYS_HOME, else ./var).")
RUN_DATE = typer.Option(
    None,
    "--run-date",
    help="Day to process, YYYY-MM-DD (default: the landing manifest's run_date).",
)
LANDING = typer.Option(None, "--landing", help="Landing folder (default: $RECSYS_HOME/landing).")
ENGINE = typer.Option(
    Engine.AUTO,
    "--engine",
    help="auto: in-process below RECSYS_EMBED_LOCAL_MAX_TEXTS texts (embed) or "
    "RECSYS_RECOMMEND_LOCAL_MAX_PAIRS active users x items (recommend), else Spark; spark|local.",
)
FORCE_REEMBED = typer.Option(
    False, "--force-reembed", help="Embed every text again, ignoring stored vectors."
)


def _settings(home: str | None, landing: str | None = None) -> Settings:
    overrides: dict[str, Any] = {}
    if home:
        overrides["home"] = Path(home)
    if landing:
        overrides["landing"] = Path(landing)
    return load_settings(**overrides)


def _version(shown: bool) -> None:
    if shown:
        typer.echo(version_line())
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Options before the stage: `recsys --version`."""


def _run(stage: Callable[[], dict[str, Any]]) -> None:
    """Run a stage; print its summary as the last stdout line, or one error line on stderr."""
    try:
        summary = stage()
    except (RecsysError, OSError) as exc:  # OSError: a path given that cannot be read or written
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        raise typer.Exit(130) from None
    except Exception:  # a bug, not a problem the user can fix: the traceback, and exit 3
        traceback.print_exc()
        typer.echo(f"crash: an unexpected error in {version_line()}; please report it", err=True)
        raise typer.Exit(CRASH) from None
    sys.stdout.write(json.dumps(summary, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _date(text: str | None) -> date | None:
    return parse_run_date(text) if text else None


def _on_night(
    stage: Callable[[Settings, date], dict[str, Any]],
    home: str | None,
    run_date: str | None,
    landing: str | None = None,
) -> None:
    """Run `stage(settings, run date)` for the options given (`_run` reports it)."""

    def run() -> dict[str, Any]:
        settings = _settings(home, landing)
        return stage(settings, resolve_run_date(settings, _date(run_date)))

    _run(run)


@app.command("demo-data")
def demo_data(
    dest: Path = typer.Argument(..., help="Landing folder to write (created when missing)."),
    seed: int = typer.Option(42, help="Random seed: the same seed writes the same files."),
    scale: float = typer.Option(1.0, help="Size factor: 1.0 is ~2,000 users and ~80k events."),
    nights: int = typer.Option(
        1, min=1, help="Consecutive nights from the run date, each day a drop of its own."
    ),
    home: str | None = HOME,
    run_date: str | None = RUN_DATE,
) -> None:
    """Write a deterministic demo shop (with planted bad rows) into DEST."""
    from pipeline.landing.demo_data import DEFAULT_RUN_DATE, generate

    def stage() -> dict[str, Any]:
        day = _date(run_date) or DEFAULT_RUN_DATE
        return generate(
            dest.expanduser().resolve(), seed=seed, run_date=day, scale=scale, nights=nights
        )

    _run(stage)


import_app = typer.Typer(
    help="Convert a public dataset into the landing contract.", no_args_is_help=True
)
app.add_typer(import_app, name="import")
SRC = typer.Argument(..., help="The dataset's folder, as downloaded.")
DEST = typer.Argument(..., help="Landing folder to write (created when missing).")


@import_app.command("movielens")
def import_movielens(src: Path = SRC, dest: Path = DEST) -> None:
    """MovieLens 100K (u.data, u.item, u.user) or latest-small (ratings.csv, movies.csv, tags.csv)."""
    from pipeline.landing.importers.movielens import import_movielens as run_import

    _run(lambda: run_import(src.expanduser().resolve(), dest.expanduser().resolve()))


@import_app.command("lastfm")
def import_lastfm(src: Path = SRC, dest: Path = DEST) -> None:
    """HetRec 2011 Last.fm: plays as implicit events, artists' tags as text, the friend graph."""
    from pipeline.landing.importers.lastfm import import_lastfm as run_import

    _run(lambda: run_import(src.expanduser().resolve(), dest.expanduser().resolve()))


@app.command()
def ingest(
    home: str | None = HOME,
    run_date: str | None = RUN_DATE,
    landing: str | None = LANDING,
    reload: bool = typer.Option(
        False, "--reload", help="Replace the rows of files whose content changed since loading."
    ),
) -> None:
    """Load new landing files into raw.* (each file once, tracked in meta.loaded_files)."""
    from pipeline.landing.ingest import ingest as run_ingest

    def stage() -> dict[str, Any]:
        settings = _settings(home, landing)
        day = find_run_date(settings, _date(run_date))
        return run_ingest(settings, day, reload=reload)

    _run(stage)


@app.command()
def transform(home: str | None = HOME, run_date: str | None = RUN_DATE) -> None:
    """dbt build: raw -> staging -> marts and quarantine, for the run date; then the circuit breaker."""
    from pipeline.clean.transform import transform as run_transform

    _on_night(run_transform, home, run_date)


@app.command()
def embed(
    home: str | None = HOME,
    run_date: str | None = RUN_DATE,
    engine: Engine = ENGINE,
    force_reembed: bool = FORCE_REEMBED,
) -> None:
    """Embed new or changed texts (marts.embedding_requests) into features.text_embeddings."""
    from pipeline.embed.stage import embed as run_embed

    embed_night = lambda s, day: run_embed(s, day, engine=engine, force=force_reembed)  # noqa: E731
    _on_night(embed_night, home, run_date)


@app.command()
def train(home: str | None = HOME, run_date: str | None = RUN_DATE) -> None:
    """Fit the multi-task model, judge it and the baselines on the holdout, log and register it in
    MLflow; the `champion` alias moves only to a model at least as good as the champion."""
    from pipeline.train.stage import train as run_train

    _on_night(run_train, home, run_date)


@app.command()
def tune(
    home: str | None = HOME,
    run_date: str | None = RUN_DATE,
    trials: int | None = typer.Option(
        None, "--trials", min=1, help="Configurations to try (default RECSYS_TUNE_TRIALS, 20)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="File to write (default RECSYS_TUNE_FILE, $RECSYS_HOME/tuned.json)."
    ),
) -> None:
    """Search the model's main knobs on the validation week (one fit per trial) and write the
    tuned configuration nightly training reads. Not part of the night: run it when you choose."""
    from pipeline.train.tune import tune as run_tune

    file = out.expanduser().resolve() if out else None
    _on_night(lambda s, day: run_tune(s, day, trials=trials, out=file), home, run_date)


@app.command()
def recommend(
    home: str | None = HOME,
    run_date: str | None = RUN_DATE,
    top_n: int | None = typer.Option(
        None,
        "--top-n",
        min=1,
        max=1000,
        help="Recommendations per active user (default RECSYS_TOP_N, 10).",
    ),
    engine: Engine = ENGINE,
) -> None:
    """Score every active user with models:/recsys_mtl@champion into marts.recommendations and
    marts.similar_users (a rerun of a date replaces that date's rows)."""
    from pipeline.serve.recommend import recommend as run_rec

    _on_night(lambda s, day: run_rec(s, day, top_n, engine=engine), home, run_date)


@app.command()
def publish(home: str | None = HOME, run_date: str | None = RUN_DATE) -> None:
    """Build the analytics models, then swap in $RECSYS_HOME/published/analytics.duckdb."""
    from pipeline.serve.publish import publish as run_publish

    _on_night(run_publish, home, run_date)


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


@app.command("run")
def run_all(
    home: str | None = HOME,
    run_date: str | None = RUN_DATE,
    landing: str | None = LANDING,
    engine: Engine = ENGINE,
    force_reembed: bool = FORCE_REEMBED,
    top_n: int | None = typer.Option(None, "--top-n", min=1, max=1000, help="Items per user."),
    retrain: bool = typer.Option(
        True, "--retrain/--no-retrain", help="Train tonight, or recommend with the champion as is."
    ),
) -> None:
    """The whole night without Airflow: ingest, transform, embed, train, recommend, publish."""
    from pipeline.night import run_night

    options = {"force_reembed": force_reembed, "top_n": top_n, "retrain": retrain}
    _on_night(lambda s, day: run_night(s, day, engine=engine, **options), home, run_date, landing)


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


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("RECSYS_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    app()


if __name__ == "__main__":
    main()
