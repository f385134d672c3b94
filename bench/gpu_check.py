"""The short GPU check a lent device runs in minutes: embedding, training and scoring on CUDA
against the same work on the CPU in the same run, on the same machine.

    .venv/bin/python bench/gpu_check.py [--scale 1] [--epochs 3] [--texts 4000] [--device cuda]

G1  embed: the default text model over `--texts` demo texts (`TextEncoder`, the code both
    engines run): texts/s on the device against the CPU, and the least cosine between the two
    vectors of a text (bf16 on a GPU, fp32 or bf16 on the CPU: close, not equal).
G2  train: a demo night (`--scale`; built by `recsys demo-data`, `ingest`, `transform`,
    `embed` in a temporary home), `Trainer.fit` for `--epochs` epochs with the validation week
    as a night's evaluated fit does: seconds per epoch on the device against the CPU, and each
    one's validation NDCG@10 (the same code and seed; float order differs, so close, not equal).
G3  score: `Scorer.build` and every chunk of the night's users (recommendations and similar
    users), the champion's bundle loaded on the device against the CPU: seconds, and the share
    of users whose top-10 list is the same.
Baseline: the CPU (`--baseline-device`, default cpu) in the same run. Without a CUDA device the
script says so and exits 2 before building anything; `--device cpu` runs every part twice on the
CPU (a dry run of the script, what CI's machine can do). Results: stdout and, with `--write`,
bench/results/gpu_check.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def stage(name: str, home: Path, *args: str) -> None:
    env = {**os.environ, "RECSYS_HOME": str(home), "RECSYS_LANDING_SETTLE_SECONDS": "0"}
    done = subprocess.run(
        [str(BIN / "recsys"), name, *args, "--home", str(home)],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"recsys {name} failed:\n{done.stderr[-3000:]}")


def embed_part(texts: int, devices: list[str]) -> dict[str, Any]:
    from pipeline.core.config import Settings
    from pipeline.embed.encoder import TextEncoder, encoder_spec
    from pipeline.landing.demo_data import DEFAULT_RUN_DATE, DemoShop

    shop = DemoShop(DEFAULT_RUN_DATE, seed=7, scale=max(1.0, texts / 3000))
    items = shop.items()
    corpus = [f"{i['title']}. {i['description']}" for i in items][:texts]
    spec = encoder_spec(Settings())
    out: dict[str, Any] = {"texts": len(corpus)}
    vectors = {}
    for device in devices:
        encoder = TextEncoder(dataclasses.replace(spec, device=device, precision="auto"))
        encoder.encode(corpus[:64])  # warm-up: kernels, allocator
        started = time.perf_counter()
        vectors[device], errors = encoder.encode(corpus)
        seconds = time.perf_counter() - started
        out[device] = {
            "texts_per_s": len(corpus) / seconds,
            "failed": sum(e is not None for e in errors),
        }
    if len(vectors) == 2:
        a, b = vectors.values()
        out["least_cosine"] = float(np.min(np.sum(a * b, axis=1)))
    return out


def night(home: Path, scale: float) -> None:
    stage("demo-data", home, str(home / "landing"), "--scale", str(scale))
    for name in ("ingest", "transform", "embed"):
        stage(name, home)


def train_part(home: Path, epochs: int, devices: list[str]) -> tuple[dict[str, Any], dict]:
    from pipeline.core.config import Settings
    from pipeline.evaluate.split import temporal_split, validation_split
    from pipeline.landing.demo_data import DEFAULT_RUN_DATE
    from pipeline.learn.data.snapshot import Snapshot, export_snapshot
    from pipeline.learn.ensemble.fit import Trainer
    from pipeline.learn.towers.train_config import TrainConfig

    settings = Settings(home=home)
    snapshot = Snapshot.load(export_snapshot(settings, DEFAULT_RUN_DATE))
    base = TrainConfig.from_settings(settings, progress=False)
    split = temporal_split(snapshot, settings.holdout_days, seed=base.seed)
    tuning = validation_split(split, settings.holdout_days)
    out: dict[str, Any] = {"users": len(snapshot.users), "items": len(snapshot.items)}
    out["events"] = len(snapshot.events)
    fits = {}
    for device in devices:
        cfg = dataclasses.replace(base, device=device, max_epochs=epochs, patience=epochs)
        started = time.perf_counter()
        fitted = Trainer(snapshot, cfg).fit(
            tuning.train, split.friends_train, validation=tuning.holdout, epochs=epochs
        )
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        last = fitted.epoch_log[-1]
        out[device] = {
            "seconds": seconds,
            "seconds_per_epoch": seconds / max(len(fitted.epoch_log), 1),
            "val_ndcg_at_10": last.get("val_ndcg_at_10", float("nan")),
            "served_val_ndcg_at_10": fitted.validation_ndcg,
        }
        fits[device] = (fitted, snapshot)
    return out, fits


def score_part(fits: dict, devices: list[str], work: Path) -> dict[str, Any]:
    from pipeline.learn.ensemble.bundle import load_bundle, save_model
    from pipeline.serve.scoring import Scorer

    fitted, snapshot = next(iter(fits.values()))
    folder = save_model(fitted.recommender, work / "bundle")
    out: dict[str, Any] = {}
    lists = {}
    for device in devices:
        started = time.perf_counter()
        scorer = Scorer.build(load_bundle(folder, device), snapshot, 10)
        chunks = [scorer.chunk(i) for i in range(scorer.chunks)]
        seconds = time.perf_counter() - started
        rows = [c.to_pydict() for c in chunks]
        lists[device] = {
            (u, r): i
            for c in rows
            for k, u, r, i in zip(c["kind"], c["user"], c["rank"], c["item"], strict=True)
            if k == "rec"
        }
        out[device] = {"seconds": seconds, "users": len(scorer.active)}
    if len(lists) == 2:
        a, b = lists.values()
        users = {u for u, _ in a}
        same = sum(all(a.get((u, r)) == b.get((u, r)) for r in range(1, 11)) for u in users)
        out["same_top10_share"] = same / max(len(users), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--baseline-device", default="cpu")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--texts", type=int, default=4000)
    parser.add_argument("--write", action="store_true", help="bench/results/gpu_check.md")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here (torch.cuda.is_available() is False)")
        raise SystemExit(2)
    devices = [args.device, args.baseline_device]
    if devices[0] == devices[1]:
        devices = [devices[0]]
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
    }
    print(json.dumps(report), flush=True)
    report["embed"] = embed_part(args.texts, devices)
    print("G1 embed", json.dumps(report["embed"]), flush=True)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        home = Path(tmp)
        started = time.perf_counter()
        night(home, args.scale)
        report["prepare_seconds"] = time.perf_counter() - started
        report["train"], fits = train_part(home, args.epochs, devices)
        print("G2 train", json.dumps(report["train"]), flush=True)
        report["score"] = score_part(fits, devices, home)
        print("G3 score", json.dumps(report["score"]), flush=True)
    speedups = {}
    if len(devices) == 2:
        gpu, cpu = devices
        speedups = {
            "embed": report["embed"][gpu]["texts_per_s"] / report["embed"][cpu]["texts_per_s"],
            "train": report["train"][cpu]["seconds"] / report["train"][gpu]["seconds"],
            "score": report["score"][cpu]["seconds"] / report["score"][gpu]["seconds"],
        }
        print("speed-up over", cpu, json.dumps({k: round(v, 2) for k, v in speedups.items()}))
    if args.write:
        lines = [
            "# GPU check (`bench/gpu_check.py`)",
            "",
            f"Device: {report['device']}; torch {report['torch']}; CPU threads "
            f"{report['cpu_threads']}. Command: `.venv/bin/python bench/gpu_check.py "
            f"--scale {args.scale:g} --epochs {args.epochs} --texts {args.texts}"
            f" --device {args.device} --write`",
            "",
            "```json",
            json.dumps({**report, "speed_up": speedups}, indent=2),
            "```",
        ]
        (ROOT / "bench" / "results" / "gpu_check.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
