"""The DAG's tasks as plain calls (what each Airflow task runs), in the DAG's order.

Each takes the settings, the run date and the return values of the tasks before it (Airflow's
XComs) and returns its own. `retrain` (a short-circuit that writes nothing) is left out;
`embed_texts` runs the embedding in-process, as the Spark job's own batch function.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from pipeline.core.config import Settings

Task = Callable[[Settings, date, dict[str, Any]], dict[str, Any]]


def ingest(s: Settings, d: date, x: dict) -> dict:
    from pipeline.landing.ingest import ingest

    return ingest(s, d)


def transform(s: Settings, d: date, x: dict) -> dict:
    from pipeline.clean.transform import transform

    return transform(s, d)


def embed_export(s: Settings, d: date, x: dict) -> dict:
    from pipeline.embed.stage import embed_export

    return embed_export(s, d)


def embed_texts(s: Settings, d: date, x: dict) -> dict:
    from pipeline.embed.stage import run_embedding

    return run_embedding(s, d, x["embed_export"]["model_id"], engine="local")


def embed_load(s: Settings, d: date, x: dict) -> dict:
    from pipeline.embed.stage import embed_load

    return embed_load(s, d, x["embed_export"], x["embed_texts"])


def train_export(s: Settings, d: date, x: dict) -> dict:
    from pipeline.train.stage import export_training_data

    return export_training_data(s, d)


def train_model(s: Settings, d: date, x: dict) -> dict:
    from pipeline.train.stage import train_model

    return train_model(s, d)


def recommend_export(s: Settings, d: date, x: dict) -> dict:
    from pipeline.serve.recommend import export_scoring_data

    return {"folder": str(export_scoring_data(s, d))}


def recommend_score(s: Settings, d: date, x: dict) -> dict:
    from pipeline.serve.recommend import score_with_champion

    return score_with_champion(s, d)


def recommend_write(s: Settings, d: date, x: dict) -> dict:
    from pipeline.serve.recommend import write_night

    scored = x["recommend_score"]
    return {**scored, **write_night(s, d, scored["model_version"])}


def publish(s: Settings, d: date, x: dict) -> dict:
    from pipeline.serve.publish import publish

    return publish(s, d)


TASKS: dict[str, Task] = {
    task.__name__: task
    for task in (
        ingest,
        transform,
        embed_export,
        embed_texts,
        embed_load,
        train_export,
        train_model,
        recommend_export,
        recommend_score,
        recommend_write,
        publish,
    )
}
