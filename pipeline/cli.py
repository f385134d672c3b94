"""`recsys STAGE [options]`: thin wrappers that parse options, call a stage, print its summary.

Progress and logs go to stderr; the last stdout line is the stage's JSON summary. Exit codes:
0 done; 1 a problem a user can fix (bad paths, dates, files, settings: one `error:` line on
stderr); 2 a usage error (an unknown option, a missing argument: click's message); 3 a crash (a
bug: the traceback and one `crash:` line); 130 interrupted.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import typer

from pipeline.cli_common import (
    BACKFILL,
    ENGINE,
    FORCE_REEMBED,
    HOME,
    LANDING,
    RUN_DATE,
    _date,
    _locked,
    _on_night,
    _run,
    _settings,
    app,
    later,
)
from pipeline.core.modes import Engine
from pipeline.core.run_date import find_run_date


@app.command("demo-data")
def demo_data(
    dest: Path = typer.Argument(..., help="Landing folder to write (created when missing)."),
    seed: int = typer.Option(42, help="Random seed: the same seed writes the same files."),
    scale: float = typer.Option(1.0, help="Size factor: 1.0 is ~2,000 users and ~80k events."),
    nights: int = typer.Option(
        1, min=1, help="Consecutive nights from the run date, each day a drop of its own."
    ),
    users: int | None = typer.Option(
        None, help="Shape: this many users instead of the scale's (e.g. 20000)."
    ),
    items: int | None = typer.Option(
        None, help="Shape: this many items instead of the scale's (e.g. 12000)."
    ),
    events_per_user: float | None = typer.Option(
        None, help="Shape: about this many events per user instead of the demo's 33 (e.g. 10)."
    ),
    taste: str = typer.Option(
        "themes",
        help="Where taste lives: themes (one theme per item, the default world) or text "
        "(subjects and levels said only in item and profile text, shopped in sequences).",
    ),
    home: str | None = HOME,
    run_date: str | None = RUN_DATE,
) -> None:
    """Write a deterministic demo shop (with planted bad rows) into DEST. --users, --items and
    --events-per-user give it another shape (many users and items, few events each)."""
    from pipeline.landing.demo_data import DEFAULT_RUN_DATE, DemoShape, generate
    from pipeline.landing.demo_text_world import world_of

    def stage() -> dict[str, Any]:
        day = _date(run_date) or DEFAULT_RUN_DATE
        shape = DemoShape(users, items, events_per_user)
        return generate(
            dest.expanduser().resolve(),
            seed=seed,
            run_date=day,
            scale=scale,
            nights=nights,
            shape=None if shape == DemoShape() else shape,
            world=world_of(taste),
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


@import_app.command("amazon")
def import_amazon(
    src: Path = SRC,
    dest: Path = DEST,
    with_test: bool = typer.Option(
        False, "--with-test", help="Land test.csv too (by default it is the held-out truth)."
    ),
) -> None:
    """An Amazon reviews category in the leave-one-out layout (train/dev/test.csv, *.text)."""
    from pipeline.landing.importers.amazon import import_amazon as run_import

    src, dest = src.expanduser().resolve(), dest.expanduser().resolve()
    _run(lambda: run_import(src, dest, with_test=with_test))


@app.command()
def ingest(
    home: str | None = HOME,
    run_date: str | None = RUN_DATE,
    landing: str | None = LANDING,
    reload: bool = typer.Option(
        False, "--reload", help="Replace the rows of files whose content changed since loading."
    ),
    backfill: bool = BACKFILL,
) -> None:
    """Load new landing files into raw.* (each file once, tracked in meta.loaded_files)."""

    def stage() -> dict[str, Any]:
        settings = _settings(home, landing)
        day = find_run_date(settings, _date(run_date))
        with _locked(settings, day):
            from pipeline.night import check_night_may_run  # under the lock: slow imports

            if day is not None:
                check_night_may_run(settings, day, backfill=backfill)
            from pipeline.landing.ingest import ingest as run_ingest  # after the lock: slow

            return run_ingest(settings, day, reload=reload)

    _run(stage)


@app.command()
def transform(
    home: str | None = HOME, run_date: str | None = RUN_DATE, backfill: bool = BACKFILL
) -> None:
    """dbt build: raw -> staging -> marts and quarantine, for the run date; then the circuit breaker."""
    _on_night(later("pipeline.clean.transform", "transform"), home, run_date, backfill=backfill)


@app.command()
def embed(
    home: str | None = HOME,
    run_date: str | None = RUN_DATE,
    engine: Engine = ENGINE,
    force_reembed: bool = FORCE_REEMBED,
    backfill: bool = BACKFILL,
) -> None:
    """Embed new or changed texts (marts.embedding_requests) into features.text_embeddings."""
    run_embed = later("pipeline.embed.stage", "embed")
    embed_night = lambda s, day: run_embed(s, day, engine=engine, force=force_reembed)  # noqa: E731
    _on_night(embed_night, home, run_date, backfill=backfill)


@app.command()
def train(
    home: str | None = HOME, run_date: str | None = RUN_DATE, backfill: bool = BACKFILL
) -> None:
    """Fit the multi-task model, judge it and the baselines on the holdout, log and register it in
    MLflow; the `champion` alias moves only to a model at least as good as the champion."""
    _on_night(later("pipeline.train.stage", "train"), home, run_date, backfill=backfill)


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
    run_tune = later("pipeline.train.tune", "tune")

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
    backfill: bool = BACKFILL,
) -> None:
    """Score every active user with models:/recsys_mtl@champion into marts.recommendations and
    marts.similar_users (a rerun of a date replaces that date's rows)."""
    run_rec = later("pipeline.serve.recommend", "recommend")

    rec_night = lambda s, day: run_rec(s, day, top_n, engine=engine)  # noqa: E731
    _on_night(rec_night, home, run_date, backfill=backfill)


@app.command()
def publish(
    home: str | None = HOME, run_date: str | None = RUN_DATE, backfill: bool = BACKFILL
) -> None:
    """Build the analytics models, then swap in $RECSYS_HOME/published/analytics.duckdb."""
    _on_night(later("pipeline.serve.publish", "publish"), home, run_date, backfill=backfill)


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
    backfill: bool = BACKFILL,
) -> None:
    """The whole night without Airflow: ingest, transform, embed, train, recommend, publish."""
    run_night = later("pipeline.night", "run_night")

    options = {"force_reembed": force_reembed, "top_n": top_n, "retrain": retrain}
    night = lambda s, day: run_night(s, day, engine=engine, **options)  # noqa: E731
    _on_night(night, home, run_date, landing, backfill=backfill)


# the operator's commands (forget, restore, champion, report, airflow...) register on `app`
import pipeline.cli_operations  # noqa: E402, F401


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("RECSYS_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    app()


if __name__ == "__main__":
    main()
