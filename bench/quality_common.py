"""What the quality benchmarks share: a dataset made into a night by the real stages, the splits,
and the model fitted and judged exactly as a night does it.

A dataset goes import -> ingest -> dbt transform -> embed (all-MiniLM-L6-v2, in-process) ->
training export once, into `var/bench/<name>/` (reused by later runs; `--fresh` rebuilds). Every
model and baseline then reads that Parquet snapshot.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.clean.transform import transform
from pipeline.core.allocator import keep_freed_memory
from pipeline.core.config import Settings
from pipeline.core.run_date import resolve_run_date
from pipeline.embed.stage import embed
from pipeline.evaluate.exam import Exam, model_metrics
from pipeline.evaluate.quality_report import multi_vs_single
from pipeline.evaluate.sequential import sasrec_metrics
from pipeline.evaluate.single_task import single_task_metrics
from pipeline.evaluate.split import Split
from pipeline.landing.ingest import ingest
from pipeline.learn.data.snapshot import Snapshot, export_snapshot, snapshot_dir
from pipeline.learn.ensemble.fit import Fitted, Trainer
from pipeline.learn.ensemble.recommender import Recommender
from pipeline.learn.towers.train_config import TrainConfig

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results"

log = logging.getLogger("bench")


def parser(doc: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--work", type=Path, default=ROOT / "var" / "bench", help="dataset nights")
    p.add_argument("--fresh", action="store_true", help="rebuild the dataset's night")
    p.add_argument("--max-epochs", type=int, default=None, help="cap the model's epochs")
    p.add_argument(
        "--no-sasrec", action="store_true", help="skip the sequential yardstick (SASRec)"
    )
    p.add_argument(
        "--no-ablation", action="store_true", help="skip the `no text` row (text vectors withheld)"
    )
    return p


def data_folder(name: str) -> Path:
    folder = DATA / name
    if not folder.is_dir():
        raise SystemExit(f"{folder} is absent: this benchmark needs the public dataset {name}")
    return folder


def imported(importer: str, src: Path) -> Callable[[Path], None]:
    """Lands a public dataset with `recsys import <importer> SRC DEST`."""

    def land(dest: Path) -> None:
        recsys = Path(sys.executable).parent / "recsys"
        command = [str(recsys), "import", importer, str(src), str(dest)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)

    return land


def dataset_night(
    name: str, land: Callable[[Path], None], work: Path, *, fresh: bool = False
) -> Snapshot:
    """A dataset landed by `land`, then run through ingest, transform, embed (all-MiniLM-L6-v2,
    in-process) and the training export; kept in `work/name` for the next run."""
    home = work / name
    settings = Settings(home=home)
    done = home / "night.done"
    if (fresh or not done.is_file()) and home.exists():
        shutil.rmtree(home)
    if not done.is_file():
        started = time.perf_counter()
        land(settings.landing_dir)
        day = resolve_run_date(settings)
        ingest(settings, day)
        transform(settings, day)
        embed(settings, day, engine="local")
        export_snapshot(settings, day)
        done.write_text(day.isoformat() + "\n")
        log.info("%s night built in %.0f s", name, time.perf_counter() - started)
    day = datetime.strptime(done.read_text().strip(), "%Y-%m-%d").date()
    return Snapshot.load(snapshot_dir(settings, day))


def textless(snapshot: Snapshot) -> Snapshot:
    """The same night with every text vector withheld (zero): the `no text` ablation row, the
    same model and fit, so the row beside it says what the language model buys."""
    return replace(
        snapshot,
        item_text=np.zeros_like(snapshot.item_text),
        user_text=np.zeros_like(snapshot.user_text),
    )


def sasrec_row(
    snapshot: Snapshot,
    split: Split,
    exam: Exam,
    tuning: Split,
    tuning_exam: Exam,
    shown: Iterable[str],
) -> dict[str, Any]:
    """The sequential yardstick's row (`pipeline.evaluate.sequential`: SASRec with full
    cross-entropy, its epochs chosen on the tuning slice; seed 42)."""
    metrics = sasrec_metrics(snapshot, split, exam, (tuning, tuning_exam))
    print(f"  SASRec: {metrics}", flush=True)
    row: dict[str, Any] = {"ranker": "sasrec"}
    row.update({m: metrics.get(f"sasrec_{m}") for m in shown})
    row["seconds"] = metrics["sasrec_seconds"]
    row["epochs"] = metrics["sasrec_epochs"]
    return row


def sasrec_verdict(model: dict[str, Any], sasrec: dict[str, Any]) -> str:
    """One line: the model's NDCG@10 against the sequential yardstick's, and by how much."""
    ours, theirs = model["ndcg_at_10"], sasrec["ndcg_at_10"]
    side = "at or above" if ours >= theirs else "**trails**"
    return (
        f"- {model['ranker']} vs sasrec: NDCG@10 {ours:.4f} vs {theirs:.4f}, {side} "
        f"({ours / theirs - 1:+.1%})"
    )


def per_user_holdout(
    events: pd.DataFrame, share: float, *, by_time: bool, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The last `share` of each user's events (by time, ties by item; or a seeded random share)
    held out; users keep at least one training event."""
    rng = np.random.default_rng(seed)
    frame = events.assign(_key=rng.random(len(events)))
    order = ["user", "event_s", "item"] if by_time else ["user", "_key"]
    frame = frame.sort_values(order, kind="stable")
    position = frame.groupby("user").cumcount()
    size = frame.groupby("user")["user"].transform("size")
    held = position >= np.maximum(1, np.ceil(size * (1 - share))).astype(int)
    frame = frame.drop(columns="_key")
    return frame[~held].reset_index(drop=True), frame[held].reset_index(drop=True)


def split_of(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    friends_train: np.ndarray | None = None,
    friends_holdout: np.ndarray | None = None,
) -> Split:
    """A Split for a non-temporal protocol; the exam scores items at the holdout's median time."""
    empty = np.zeros((0, 2), dtype=np.int64)
    at = float(np.median(holdout["event_s"])) if len(holdout) else float(train["event_s"].max())
    return Split(
        train=train,
        holdout=holdout,
        cutoff_s=at,
        friends_train=empty if friends_train is None else friends_train,
        friends_holdout=empty if friends_holdout is None else friends_holdout,
    )


def friend_holdout(pairs: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    held = np.random.default_rng(seed).random(len(pairs)) < share
    return pairs[~held], pairs[held]


def exam_of(snapshot: Snapshot, split: Split, seed: int) -> Exam:
    return Exam.build(snapshot, split, 0, seed)


def model_config(
    *,
    seed: int = 42,
    max_epochs: int | None = None,
    **changes: Any,
) -> TrainConfig:
    """The night's training configuration (Settings defaults), with `changes` applied."""
    cfg = TrainConfig.from_settings(Settings(), progress=False)
    cfg = replace(cfg, seed=seed, **changes)
    if max_epochs is not None:
        cfg = replace(cfg, max_epochs=max_epochs)
    return cfg


def fit(
    snapshot: Snapshot,
    cfg: TrainConfig,
    train: pd.DataFrame,
    validation: pd.DataFrame | None,
    friends: np.ndarray | None = None,
    terms_of: Recommender | None = None,
) -> tuple[Fitted, float]:
    """A fit as a night makes one; a refit (no validation) passes the model whose paths the
    fit before it chose."""
    started = time.perf_counter()
    pairs = np.zeros((0, 2), dtype=np.int64) if friends is None else friends
    fitted = Trainer(snapshot, cfg).fit(train, pairs, validation=validation, terms_of=terms_of)
    return fitted, time.perf_counter() - started


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    frame = pd.DataFrame(rows)
    if columns:
        frame = frame[columns]
    frame = frame.astype(object).where(frame.notna(), None)  # blank cells, not "nan"
    return frame.to_markdown(index=False, floatfmt=".4f", missingval="")


def write_results(name: str, title: str, body: list[str]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.md"
    stamp = f"Measured on {datetime.now(UTC):%Y-%m-%d} (2 cores, CPU)."  # a report, not data
    command = "Command: `" + " ".join([".venv/bin/python", *sys.argv]) + "`"
    lines = [f"# {title}", "", stamp, command, "", *body, ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    print(path.read_text(encoding="utf-8"))
    return path


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def setup_logging() -> None:
    """The bench's logging, and the training stage's malloc setting (`core.allocator`)."""
    keep_freed_memory()  # as `recsys train` fits: its seconds are comparable
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("pipeline", "py4j", "mlflow", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("pipeline.learn.ensemble.fit").setLevel(logging.INFO)  # one line per epoch
    for chosen in (
        "item_item_term",
        "factor_term",
        "transition_term",
        "text_term",
        "scaled_search",
    ):  # what was chosen
        logging.getLogger(f"pipeline.learn.ensemble.{chosen}").setLevel(logging.INFO)
    logging.getLogger("pipeline.learn.towers.social_blend").setLevel(logging.INFO)


def judged(
    snapshot: Snapshot,
    cfg: TrainConfig,
    split: Split,
    tuning: Split,
    exam: Exam,
    *,
    single_task: bool,
) -> dict[str, float]:
    """As a night judges: fit on the validation split's training part (early stopping on its
    holdout), score on the exam; with `single_task`, each task alone with the same budget."""
    chosen, seconds = fit(snapshot, cfg, tuning.train, tuning.holdout, split.friends_train)
    metrics = model_metrics(chosen, snapshot, split, exam)
    metrics["seconds"], metrics["epochs"] = seconds, float(chosen.epochs)
    if single_task:
        started = time.perf_counter()
        weight = chosen.model.cfg.social_text_weight
        metrics.update(
            single_task_metrics(snapshot, cfg, split, tuning, exam, chosen.epochs, weight)
        )
        metrics["single_task_seconds"] = time.perf_counter() - started
    return metrics


def multi_vs_single_rows(label: str, metrics: dict[str, float]) -> list[dict[str, Any]]:
    frame = multi_vs_single(metrics)
    return [{"model": label, **row} for row in frame.to_dict("records")]


def goal_verdicts(
    row: dict[str, Any], base: dict[str, float], goals: list[tuple[str, list[str]]]
) -> list[str]:
    """One line per (metric, baselines) goal: the model's value in `row` against the best of
    those baselines in `base` (baseline_<name>_<metric>; ones that did not run are left out)."""
    lines = []
    for metric, against in goals:
        scored = {
            n: base[f"baseline_{n}_{metric}"] for n in against if f"baseline_{n}_{metric}" in base
        }
        best = max(scored, key=lambda n: scored[n])
        ours = row[metric]
        lines.append(
            f"  - {metric} {ours:.4f} vs {best} {scored[best]:.4f}: "
            + ("above" if ours > scored[best] else "**not above**")
        )
    return lines
