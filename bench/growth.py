"""How a night's cost grows with the shop: the demo shop at several scales, every stage timed.

    .venv/bin/python bench/growth.py [--scales 1,4,16] [--epochs 0] [--env RECSYS_X=V ...]

G1  per stage (`recsys ingest`, `transform`, `embed`, `train`, `recommend`, `publish`, each its
    own process on a fresh home, the defaults' engines): wall seconds, peak memory of the
    stage's whole process tree (RSS, sampled every 0.2 s: Spark's JVM and dbt included), and
    seconds per million events. Users, items and events all grow with the scale.
G2  the growth from the smallest scale to the largest, per stage, against the growth in events
    (the bar: at most 1.2 x the events' growth). `train` and `recommend` are split: the part
    that works on items x items matrices (the EASE and ItemKNN baselines and the model's
    item-item path; `seconds_by_part["item_item"]` of their summaries) on a line of its own,
    with its own bound, the rest against events.
Training runs as a night does (early stopping, the refit) by default; `--epochs N` fixes the
budget instead (patience the same), so every scale does the same number of passes.
Baseline: the events' own growth in the same run. Results: stdout and bench/results/growth.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STAGES = ["ingest", "transform", "embed", "train", "recommend", "publish"]
BAR = 1.2  # a stage may grow at most this much more than the events


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for p in [process, *process.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total


def run_stage(stage: str, home: Path, env: dict[str, str], log: Path) -> dict[str, Any]:
    """One stage in its own process: wall seconds, peak RSS of its tree, its JSON summary."""
    peak = 0
    with log.open("w") as err:
        started = time.perf_counter()
        child = subprocess.Popen(
            [str(BIN / "recsys"), stage, "--home", str(home)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        watched = psutil.Process(child.pid)
        out: list[str] = []
        reader = threading.Thread(target=lambda: out.extend(child.stdout or []))
        reader.start()
        while child.poll() is None:
            with contextlib.suppress(psutil.Error):
                peak = max(peak, tree_rss(watched))
            time.sleep(0.2)
        reader.join()
        seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"recsys {stage} failed at {home}: see {log}")
    summary = json.loads(out[-1]) if out else {}
    return {"seconds": seconds, "peak_mb": peak / 2**20, "summary": summary}


def one_scale(
    scale: float,
    work: Path,
    epochs: int,
    extra: dict[str, str],
    stages_wanted: list[str],
    shape: tuple[int, int, float] | None = None,
) -> dict[str, Any]:
    from pipeline.landing.demo_data import DemoShape, generate

    home = work / (f"scale-{scale:g}" if shape is None else "shape-" + "x".join(map(str, shape)))
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    shop = generate(
        home / "landing", seed=42, scale=scale, shape=None if shape is None else DemoShape(*shape)
    )
    budget = {"RECSYS_TRAIN_MAX_EPOCHS": str(epochs), "RECSYS_TRAIN_PATIENCE": str(epochs)}
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RECSYS_")},
        "RECSYS_LANDING_SETTLE_SECONDS": "0",  # the files were just written: nothing to wait for
        **(budget if epochs else {}),  # 0: the nightly defaults, early stopping included
        **extra,
    }
    stages = {}
    for stage in stages_wanted:
        stages[stage] = run_stage(stage, home, env, home / f"{stage}.log")
        print(
            f"scale {scale:g}: {stage} {stages[stage]['seconds']:.1f}s "
            f"{stages[stage]['peak_mb']:.0f} MB",
            flush=True,
        )
    return {
        "scale": scale,
        "shape": shape,
        "users": shop["users"],
        "items": shop["items"],
        "events": shop["interactions"],
        "stages": stages,
    }


def item_item_seconds(run: dict[str, Any], stage: str) -> float:
    summary = run["stages"][stage]["summary"]
    parts = summary.get("seconds_by_part") or {}
    return float(parts.get("item_item", 0.0))


def rows_of(run: dict[str, Any]) -> dict[str, float]:
    """Seconds per line of the table: each stage run, train and recommend without their items x
    items part, and that part on its own; the night where every stage ran."""
    seconds = {stage: run["stages"][stage]["seconds"] for stage in STAGES if stage in run["stages"]}
    for stage in ("train", "recommend"):
        if stage in seconds:
            part = item_item_seconds(run, stage)
            seconds[f"{stage} (without items x items)"] = seconds[stage] - part
            seconds[f"{stage}: items x items"] = part
    if all(stage in seconds for stage in STAGES):
        seconds["night"] = sum(seconds[stage] for stage in STAGES)
    return seconds


LINES = [
    *STAGES,
    "train (without items x items)",
    "train: items x items",
    "recommend (without items x items)",
    "recommend: items x items",
    "night",
]


def report(runs: list[dict[str, Any]], epochs: int, extra: dict[str, str]) -> str:
    """The table; a line's growth is from the first scale to the largest one it ran at."""
    first = runs[0]
    scales = ", ".join(f"{r['scale']:g}" for r in runs)
    settings = {**({"RECSYS_TRAIN_MAX_EPOCHS": epochs} if epochs else {}), **extra}
    shape = first.get("shape")
    what = f"scales {scales}" if not shape else "shape " + " x ".join(map(str, shape))
    lines = [
        f"# Growth of a night (demo shop, {what}; 2 cores, no GPU)",
        "",
        f"Measured on {datetime.date.today().isoformat()}.",
        "Command: `.venv/bin/python bench/growth.py " + " ".join(sys.argv[1:]) + "`",
        "",
        "Settings besides the defaults: "
        + (", ".join(f"`{k}={v}`" for k, v in settings.items()) or "none (a night's own)")
        + ".",
        "",
        "| scale | users | items | events |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['scale']:g} | {r['users']:,} | {r['items']:,} | {r['events']:,} |" for r in runs
    ]
    lines += [
        "",
        "| line | "
        + " | ".join(f"s @{r['scale']:g}" for r in runs)
        + " | "
        + " | ".join(f"MB @{r['scale']:g}" for r in runs)
        + " | s per M events (largest) | growth | its bound's growth | ratio | <= "
        + f"{BAR} |",
        "|---|" + "---|" * (2 * len(runs) + 5),
    ]
    table = [rows_of(r) for r in runs]
    for line in LINES:
        values = [t.get(line) for t in table]
        ran = [i for i, v in enumerate(values) if v is not None]
        if not ran or values[0] is None:
            continue
        top = runs[ran[-1]]
        stage = line.split(" ")[0].rstrip(":")
        mem = [
            f"{r['stages'][stage]['peak_mb']:.0f}"
            if line in STAGES and stage in r["stages"]
            else ""
            for r in runs
        ]
        grew = values[ran[-1]] / values[0] if values[0] > 0.05 else float("nan")
        quadratic = line.endswith(": items x items")
        bound = (
            (top["items"] / first["items"]) ** 2 if quadratic else top["events"] / first["events"]
        )
        ratio = grew / bound
        verdict = "ok" if ratio <= BAR else ("-" if ratio != ratio else "**over**")
        label = f"items² x{bound:.0f}" if quadratic else f"events x{bound:.1f}"
        cells = [f"{v:.1f}" if v is not None else "—" for v in values]
        lines.append(
            f"| {line} | " + " | ".join(cells) + " | " + " | ".join(mem)
            + f" | {values[ran[-1]] / (top['events'] / 1e6):.1f} | x{grew:.2f} (to "
            + f"{top['scale']:g}) | {label} | {ratio:.2f} | {verdict} |"
        )  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1,4,16")
    parser.add_argument(
        "--epochs", type=int, default=0, help="a fixed training budget; 0: the nightly defaults"
    )
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "growth.md")
    parser.add_argument(
        "--shape",
        default=None,
        metavar="USERS,ITEMS,EVENTS_PER_USER",
        help="one shop of this shape instead of the scales (recsys demo-data --users ...)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "growth")
    parser.add_argument("--stages", default=",".join(STAGES), help="the first stages only")
    parser.add_argument(
        "--append", action="store_true", help="add to --out's runs.json (a larger scale later)"
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="RECSYS_X=V", help="a setting for every stage"
    )
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.env)
    wanted = args.stages.split(",")
    saved = args.out / "runs.json"
    runs = json.loads(saved.read_text()) if args.append and saved.exists() else []
    shape = None
    if args.shape:
        users, items, per_user = args.shape.split(",")
        shape = (int(users), int(items), float(per_user))
    scales = [1.0] if shape else [float(s) for s in args.scales.split(",")]
    for scale in scales:
        runs.append(one_scale(scale, args.out, args.epochs, extra, wanted, shape))
        (args.out / "runs.json").write_text(json.dumps(runs, indent=2, default=str))
    text = report(runs, args.epochs, extra)
    print(text)
    out = args.results
    out.write_text(text)
    print(f"written: {out}; raw runs: {args.out / 'runs.json'}")


if __name__ == "__main__":
    main()
