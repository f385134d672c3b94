"""What every `recsys` command shares: the Typer app, the common options, how a stage's settings
are built and how its outcome is reported (exit codes below)."""

from __future__ import annotations

import importlib
import json
import sys
import traceback
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import date
from pathlib import Path
from typing import Any

import click
import typer

from pipeline.core.config import Settings, load_settings
from pipeline.core.errors import RecsysError
from pipeline.core.modes import Engine
from pipeline.core.night_lock import Holder, NightLock, this_process
from pipeline.core.run_date import parse_run_date, resolve_run_date
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
BACKFILL = typer.Option(
    False,
    "--backfill",
    help="Process a date before the newest published night on purpose (refused otherwise).",
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


def later(module: str, name: str) -> Callable[..., Any]:
    """A stage imported when called: its imports (torch, Spark, MLflow) take seconds, and a
    command that will find the night lock held must say so at once."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    return call


def command_name() -> str:
    """`recsys <command>`, as the night lock names its holder (never the arguments: ids)."""
    ctx = click.get_current_context(silent=True)
    return ctx.command_path if ctx is not None else "recsys"


def _locked(settings: Settings, day: date | None = None) -> AbstractContextManager[Holder]:
    """This command holds the home's night lock (waits up to RECSYS_LOCK_WAIT_SECONDS)."""
    me = this_process(command_name(), day.isoformat() if day else None)
    return NightLock(settings.home).hold(me, wait_s=settings.lock_wait_seconds)


def _on_night(
    stage: Callable[[Settings, date], dict[str, Any]],
    home: str | None,
    run_date: str | None,
    landing: str | None = None,
    *,
    backfill: bool = False,
) -> None:
    """Run `stage(settings, run date)` for the options given, under the night lock, refusing a
    date before the newest published night unless `backfill` (`_run` reports it)."""

    def run() -> dict[str, Any]:
        settings = _settings(home, landing)
        day = resolve_run_date(settings, _date(run_date))
        with _locked(settings, day):
            from pipeline.night import check_night_may_run  # under the lock: slow imports

            check_night_may_run(settings, day, backfill=backfill)
            return stage(settings, day)

    _run(run)
