"""`recsys report`: what a night left behind, for a person: where the results are, a few users'
recommendations with their reasons, and the champion's metrics beside the baselines.

Reads only the published read-only copy and MLflow, so it never waits for the nightly writer.
"""

from __future__ import annotations

import logging
import math
import tempfile
from pathlib import Path
from typing import Any

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.warehouse import connect

SAMPLE_USERS = 3
log = logging.getLogger(__name__)


def sample_recommendations(settings: Settings, users: int = SAMPLE_USERS) -> list[tuple]:
    """(user, rank, item title, because-item title, score) for the first `users` users."""
    if not settings.published_path.exists():
        raise RecsysError(f"{settings.published_path} does not exist: run the night first")
    with connect(settings.published_path, read_only=True) as con:
        return con.execute(
            """
            select user_id, rank, item_title, because_item_title, score, run_date
            from recommendations_latest
            where user_id in (
                select distinct user_id from recommendations_latest order by user_id limit ?
            )
            order by user_id, rank
            """,
            [users],
        ).fetchall()


def champion_metrics(settings: Settings) -> tuple[str | None, dict[str, float]]:
    """The champion's version and the metrics of the run that made it (model and baselines)."""
    from pipeline.train.gate import champion_version
    from pipeline.train.registry import use_tracking

    client = use_tracking(settings)
    champion = champion_version(client, settings.registered_model)
    if champion is None:
        return None, {}
    return str(champion.version), dict(client.get_run(champion.run_id).data.metrics)


def metrics_table(metrics: dict[str, float]) -> str:
    from pipeline.evaluate.comparison import comparison_table

    table = comparison_table(metrics).dropna(axis="columns", how="all")
    table = table.astype(object).where(table.notna(), None)  # blank cells, not "nan"
    return table.to_markdown(index=False, floatfmt=".3f", missingval="")


def report(settings: Settings, top: int = 5) -> tuple[str, dict[str, Any]]:
    """The human report (markdown-ish text) and its JSON summary."""
    rows = sample_recommendations(settings)
    version, metrics = champion_metrics(settings)
    lines = [
        "## Where the results are",
        f"- warehouse (read-write, the pipeline's): {settings.warehouse_path}",
        f"- published copy (read-only, for analysts): {settings.published_path}",
        f"    duckdb -readonly {settings.published_path}",
        "    select * from analytics.recommendations_latest where user_id = '...' order by rank;",
        f"- MLflow: {settings.mlflow.tracking_uri or 'sqlite:///' + str(settings.home / 'mlflow.db')}"
        "  (make mlflow: UI on http://127.0.0.1:5000)",
        "",
        "## Sample recommendations (and why)",
    ]
    current = None
    for user, rank, title, because, score, run_date in rows:
        if rank > top:
            continue
        if user != current:
            lines.append(f"user {user} (run date {run_date}):")
            current = user
        reason = f"because of {because!r}" if because else "(no past item with text to explain it)"
        lines.append(f"  {rank:>2}. {title}  [{score:.3f}]  {reason}")
    lines += ["", f"## Champion model (recsys_mtl version {version}) vs baselines"]
    lines.append(metrics_table(metrics) if metrics else "no champion yet: run `recsys train`")
    gate = settings.gate.metric
    summary = {
        "stage": "report",
        "status": "ok",
        "champion_version": version,
        "published": str(settings.published_path),
        "sample_users": len({r[0] for r in rows}),
        gate: metrics.get(gate),
        f"baseline_popularity_{gate}": metrics.get(f"baseline_popularity_{gate}"),
    }
    summary = {
        k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in summary.items()
    }
    return "\n".join(lines), summary


def report_run(settings: Settings, client: Any) -> tuple[str, str]:
    """(run id, what it is) of the report to show: the champion's night, or with no champion yet
    the latest night's (its model was not promoted, and its report says why)."""
    from pipeline.train.gate import champion_version

    champion = champion_version(client, settings.registered_model)
    if champion is not None:
        return champion.run_id, f"champion, version {champion.version}"
    experiment = client.get_experiment_by_name(settings.mlflow.experiment)
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string="tags.stage = 'train'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        raise RecsysError("no night has been trained yet: run `recsys train` first")
    return runs[0].info.run_id, "latest night (no champion yet)"


def write_html_report(settings: Settings, dest: Path) -> dict[str, Any]:
    """Write the night's quality report as one self-contained HTML page to `dest`. Runs logged
    before the HTML page existed get theirs rendered from their Markdown report and plots."""
    from pipeline.evaluate.html_report import QUALITY_REPORT_HTML, html_page, images_under
    from pipeline.evaluate.quality_report import QUALITY_REPORT
    from pipeline.train.registry import use_tracking

    client = use_tracking(settings)
    run_id, which = report_run(settings, client)
    logged = {a.path for a in client.list_artifacts(run_id)}
    with tempfile.TemporaryDirectory() as tmp:
        if QUALITY_REPORT_HTML in logged:
            page = Path(client.download_artifacts(run_id, QUALITY_REPORT_HTML, tmp)).read_text(
                encoding="utf-8"
            )
        elif QUALITY_REPORT in logged:
            path = Path(client.download_artifacts(run_id, QUALITY_REPORT, tmp))
            text = path.read_text(encoding="utf-8")
            if "plots" in logged:
                client.download_artifacts(run_id, "plots", tmp)
            title = text.splitlines()[0].lstrip("# ") if text else QUALITY_REPORT
            page = html_page(text, images_under(Path(tmp)), title)
        else:
            raise RecsysError(f"run {run_id} ({which}) logged no quality report")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(page, encoding="utf-8")
    log.info("quality report of run %s (%s) written to %s", run_id, which, dest)
    return {"stage": "report", "status": "ok", "html": str(dest), "run_id": run_id, "run": which}
