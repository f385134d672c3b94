"""Benchmark of nightly top-N scoring.

    .venv/bin/python bench/score.py [--users 50000] [--items 20000] [--repeats 3]

S1  all users x all items through `pipeline.learn.data.ranking.chunked_top_k` (matrix product per chunk,
    seen items excluded, top-10 with deterministic ties) vs the machine's float32 matmul rate
    measured with numpy in the same run on the same shapes (the product alone, nothing kept):
    ratio = matmul-only time / scoring time (target >= 30%). Median of `repeats`.
S2  peak memory at 10k, 50k and 200k users (each in a fresh process: peak RSS minus the RSS after
    the vectors are built): bounded by the chunk size, not by users x items.

Synthetic vectors (dim 65, like the model's tables), 30 seen items per user. Results go to stdout
and bench/results/score.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from pipeline.learn.data.ranking import chunked_top_k, seen_matrix

ROOT = Path(__file__).resolve().parent.parent

DIM, SEEN_PER_USER, K, CHUNK = 65, 30, 10, 2048


def tables(users: int, items: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, object]:
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((users, DIM), dtype=np.float32)
    v = rng.standard_normal((items, DIM), dtype=np.float32)
    rows = np.repeat(np.arange(users), SEEN_PER_USER)
    cols = rng.integers(0, items, size=users * SEEN_PER_USER)
    return u, v, seen_matrix(rows, cols, (users, items))


def matmul_only(u: np.ndarray, v: np.ndarray) -> float:
    started = time.perf_counter()
    vt = v.T.copy()
    for start in range(0, len(u), CHUNK):
        u[start : start + CHUNK] @ vt
    return time.perf_counter() - started


def scoring(u: np.ndarray, v: np.ndarray, seen: object) -> float:
    started = time.perf_counter()
    vt = v.T.copy()
    for _ in chunked_top_k(
        lambda r: u[r] @ vt,
        np.arange(len(u)),
        K,
        exclude=seen,
        chunk_size=CHUNK,  # type: ignore[arg-type]
    ):
        pass
    return time.perf_counter() - started


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_probe(users: int, items: int) -> dict:
    """Runs in a child process: peak RSS of scoring beyond the inputs."""
    u, v, seen = tables(users, items)
    with open("/proc/self/status") as status:
        current = next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024
    scoring(u, v, seen)
    peak = rss_mib()
    return {
        "users": users,
        "items": items,
        "inputs_mib": round(current, 1),
        "extra_peak_mib": round(peak - current, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-users", default="10000,50000,200000")
    parser.add_argument("--probe", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        print(json.dumps(memory_probe(args.probe, args.items)))
        return

    u, v, seen = tables(args.users, args.items)
    runs = []
    for _ in range(args.repeats):
        runs.append((matmul_only(u, v), scoring(u, v, seen)))
    base = statistics.median(r[0] for r in runs)
    ours = statistics.median(r[1] for r in runs)
    gflop = 2 * args.users * args.items * DIM / 1e9
    lines = [
        "# Top-N scoring benchmark",
        "",
        f"S1: {args.users:,} users x {args.items:,} items, dim {DIM}, top-{K}, chunk {CHUNK} users, "
        f"{SEEN_PER_USER} seen items per user; median of {args.repeats}.",
        "",
        "| | seconds | GFLOP/s |",
        "|---|---|---|",
        f"| numpy float32 matmul only (baseline) | {base:.2f} | {gflop / base:.1f} |",
        f"| chunked_top_k (matmul + exclusions + top-k) | {ours:.2f} | {gflop / ours:.1f} |",
        "",
        f"**Scoring reaches {100 * base / ours:.0f}% of the matmul rate** (target >= 30%).",
        f"Raw runs (matmul, scoring): {[(round(a, 2), round(b, 2)) for a, b in runs]}",
        "",
        "S2: peak memory beyond the inputs (fresh process each):",
        "",
        "| users | items | inputs MiB | extra peak MiB |",
        "|---|---|---|---|",
    ]
    for users in [int(x) for x in args.memory_users.split(",") if x]:
        out = subprocess.run(
            [sys.executable, __file__, "--probe", str(users), "--items", str(args.items)],
            capture_output=True,
            text=True,
            check=True,
        )
        probe = json.loads(out.stdout.strip().splitlines()[-1])
        lines.append(
            f"| {probe['users']:,} | {probe['items']:,} | {probe['inputs_mib']} | {probe['extra_peak_mib']} |"
        )
    lines += [
        "",
        f"A dense users x items float32 matrix would need {args.items * 4 / 2**20:.3f} MiB per user "
        f"({200_000 * args.items * 4 / 2**30:.1f} GiB at 200k users); one chunk needs "
        f"{CHUNK * args.items * 4 / 2**20:.0f} MiB.",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    out_path = ROOT / "bench" / "results" / "score.md"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
