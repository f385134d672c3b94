"""How a night's cost grows with the shop: the demo shop at several scales, every stage timed.

    .venv/bin/python bench/growth.py [--scales 1,4,16] [--epochs 3] [--out var/bench/growth]

G1  per stage (`recsys ingest`, `transform`, `embed`, `train`, `recommend`, `publish`, each its
    own process on a fresh home, the defaults' engines): wall seconds, peak memory of the
    stage's whole process tree (RSS, sampled every 0.2 s: Spark's JVM and dbt included), and
    seconds per million events. Users, items and events all grow with the scale.
G2  the growth from the smallest scale to the largest, per stage, against the growth in events
    (the bar: at most 1.2 x the events' growth). `train` and `recommend` are split: the part
    that works on items x items matrices (the EASE and ItemKNN baselines and the model's
    item-item path; `seconds_by_part["item_item"]` of their summaries) on a line of its own,
    with its own bound, the rest against events.
Training runs a fixed budget (`--epochs`, patience the same) so every scale does the same number
of passes: early stopping would make the growth a property of the data, not of the code.
Baseline: the events' own growth in the same run. Results: stdout and bench/results/growth.md.
"""

from __future__ import annotations

import argparse
import contextlib
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


def one_scale(scale: float, work: Path, epochs: int) -> dict[str, Any]:
    from pipeline.landing.demo_data import generate

    home = work / f"scale-{scale:g}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    shop = generate(home / "landing", seed=42, scale=scale)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RECSYS_")},
        "RECSYS_TRAIN_MAX_EPOCHS": str(epochs),
        "RECSYS_TRAIN_PATIENCE": str(epochs),
    }
    stages = {}
    for stage in STAGES:
        stages[stage] = run_stage(stage, home, env, home / f"{stage}.log")
        print(
            f"scale {scale:g}: {stage} {stages[stage]['seconds']:.1f}s "
            f"{stages[stage]['peak_mb']:.0f} MB",
            flush=True,
        )
    return {
        "scale": scale,
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
    """Seconds per line of the table: each stage, train and recommend without their items x
    items part, and that part on its own."""
    seconds = {stage: run["stages"][stage]["seconds"] for stage in STAGES}
    for stage in ("train", "recommend"):
        part = item_item_seconds(run, stage)
        seconds[f"{stage} (without items x items)"] = seconds[stage] - part
        seconds[f"{stage}: items x items"] = part
    return seconds


def report(runs: list[dict[str, Any]], epochs: int) -> str:
    first, last = runs[0], runs[-1]
    growth = {k: last[k] / first[k] for k in ("users", "items", "events")}
    scales = ", ".join(f"{r['scale']:g}" for r in runs)
    lines = [
        f"# Growth of a night (demo shop, scales {scales}; "
        f"training {epochs} epochs; 2 cores, no GPU)",
        "",
        "| scale | users | items | events |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['scale']:g} | {r['users']:,} | {r['items']:,} | {r['events']:,} |" for r in runs
    ]
    lines += [
        "",
        f"Growth from scale {first['scale']:g} to {last['scale']:g}: events x{growth['events']:.1f}, "
        f"users x{growth['users']:.1f}, items x{growth['items']:.1f} "
        f"(items² x{growth['items'] ** 2:.0f}).",
        "",
        "| stage | "
        + " | ".join(f"s @{r['scale']:g}" for r in runs)
        + " | "
        + " | ".join(f"MB @{r['scale']:g}" for r in runs)
        + f" | s per M events @{last['scale']:g} | growth | / growth of its bound | <= {BAR} |",
        "|---|" + "---|" * (2 * len(runs) + 4),
    ]
    table = [rows_of(r) for r in runs]
    total = {"night": [sum(r["stages"][s]["seconds"] for s in STAGES) for r in runs]}
    for line in [*table[0], "night"]:
        values = total["night"] if line == "night" else [t[line] for t in table]
        stage = line.split(" ")[0].rstrip(":")
        mem = (
            [f"{r['stages'][stage]['peak_mb']:.0f}" for r in runs]
            if line in STAGES
            else [""] * len(runs)
        )
        grew = values[-1] / values[0] if values[0] > 0.05 else float("nan")
        quadratic = line.endswith(": items x items")
        scale_of = growth["items"] ** 2 if quadratic else growth["events"]
        ratio = grew / scale_of
        verdict = "ok" if ratio <= BAR else ("-" if ratio != ratio else "over")
        bound = "items²" if quadratic else "events"
        lines.append(
            f"| {line} | " + " | ".join(f"{v:.1f}" for v in values) + " | " + " | ".join(mem)
            + f" | {values[-1] / (last['events'] / 1e6):.1f} | x{grew:.2f} | {ratio:.2f} x "
            + f"{bound} | {verdict} |"
        )  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1,4,16")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "growth")
    args = parser.parse_args()
    runs = []
    for scale in (float(s) for s in args.scales.split(",")):
        runs.append(one_scale(scale, args.out, args.epochs))
        (args.out / "runs.json").write_text(json.dumps(runs, indent=2, default=str))
    text = report(runs, args.epochs)
    print(text)
    out = ROOT / "bench" / "results" / "growth.md"
    out.write_text(text)
    print(f"written: {out}; raw runs: {args.out / 'runs.json'}")


if __name__ == "__main__":
    main()
