"""Peak memory of `ingest` on one large generated CSV: this tree against a git revision's ingest.

Each ingest runs in a fresh child process (fresh home, the same landing folder); its peak RSS is
the kernel's `ru_maxrss` of that child. The baseline is `pipeline/landing/ingest.py` as a git
revision held it (`--baseline`), loaded beside today's tree; a child that only imports what
ingest imports gives the floor both share.

Run: `.venv/bin/python bench/ingest_memory.py` (1M and 3M rows, 37 and 111 MB of CSV: about 2
minutes on 2 cores); `--rows 200000` for a quick look; `--out FILE` also writes the table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import hashlib, importlib.util, json, sys, time
from pathlib import Path
kind, home, landing, source = sys.argv[1:5]
from pipeline.core.config import Settings
if kind == "floor":
    import duckdb, pyarrow, pyarrow.csv, pyarrow.parquet
    import pipeline.landing.ingest
    print(json.dumps({}))
    sys.exit(0)
if kind == "baseline":
    spec = importlib.util.spec_from_file_location("baseline_ingest", source)
    module = importlib.util.module_from_spec(spec)
    sys.modules["baseline_ingest"] = module
    spec.loader.exec_module(module)
else:
    import pipeline.landing.ingest as module
settings = Settings(home=home, landing=landing, landing_settle_seconds=0)
started = time.perf_counter()
summary = module.ingest(settings)
seconds = time.perf_counter() - started
import duckdb
con = duckdb.connect(str(settings.warehouse_path), read_only=True)
sha = con.execute("select sha256 from meta.loaded_files").fetchone()[0]
print(json.dumps({"rows": summary["rows_loaded"]["interactions"], "seconds": seconds, "sha256": sha}))
"""


def write_csv(path: Path, rows: int) -> None:
    """A deterministic interactions file: 50k users, 8k items, a month of events."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("user_id,item_id,event_ts,rating\n")
        for i in range(rows):
            day = 1 + i % 28
            rating = "" if i % 3 == 0 else f"{1 + (i * 7) % 9 / 2:.1f}"
            out.write(
                f"u{i * 7919 % 50000:05d},i{i * 104729 % 8000:04d},"
                f"2026-11-{day:02d}T{i % 24:02d}:{i % 60:02d}:00Z,{rating}\n"
            )


def measure(kind: str, home: Path, landing: Path, source: Path) -> dict:
    """One child, measured alone: a wrapper process runs it and reports that child's ru_maxrss."""
    wrapper = (
        "import json, resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "sys.stderr.write(done.stderr)\n"
        "print(json.dumps({'rc': done.returncode, 'peak_kib': peak, 'out': done.stdout}))\n"
    )
    command = [sys.executable, "-c", CHILD, kind, str(home), str(landing), str(source)]
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *command],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    if report["rc"] != 0:
        raise SystemExit(f"{kind} ingest failed:\n{done.stderr}")
    result = json.loads(report["out"].strip().splitlines()[-1])
    return {**result, "peak_mib": report["peak_kib"] / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000000,3000000", help="comma-separated file sizes")
    parser.add_argument("--baseline", default="d362358", help="git revision of the old ingest")
    parser.add_argument("--out", type=Path, help="also write the results as markdown here")
    args = parser.parse_args()
    sizes = [int(n) for n in args.rows.split(",")]

    lines = [
        "# Ingest peak memory: one large CSV",
        "",
        f"Measured on {datetime.now(UTC).date().isoformat()} ({os.cpu_count()} cores).",
        f"Command: `.venv/bin/python bench/ingest_memory.py --rows {args.rows}"
        f" --baseline {args.baseline}`",
        "",
        "One generated `interactions.csv` (4 columns); each line is one fresh process (fresh "
        "home) ingesting it; peak RSS is its `ru_maxrss`. The floor only imports what ingest "
        "imports. The baseline is `pipeline/landing/ingest.py` at the revision named (the whole "
        "file read into memory); streamed is this tree.",
        "",
        "| rows | MB | line | peak RSS MiB | seconds | ledger sha256 = sha256sum |",
        "|---|---|---|---|---|---|",
    ]
    ratios = []
    with tempfile.TemporaryDirectory(prefix="ingest-memory-") as tmp:
        work = Path(tmp)
        source = work / "baseline_ingest.py"
        old = subprocess.run(
            ["git", "show", f"{args.baseline}:pipeline/landing/ingest.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        source.write_text(old, encoding="utf-8")
        floor = measure("floor", work / "h0", work, source)
        lines.append(f"| | | imports only (floor) | {floor['peak_mib']:.0f} | | |")
        for rows in sizes:
            landing = work / f"landing-{rows}"
            landing.mkdir()
            data = landing / "interactions.csv"
            write_csv(data, rows)
            sha = subprocess.run(
                ["sha256sum", str(data)], capture_output=True, text=True, check=True
            ).stdout.split()[0]
            peaks = {}
            for kind in ("baseline", "streamed"):
                result = measure(kind, work / f"h-{kind}-{rows}", landing, source)
                assert result["rows"] == rows, result
                peaks[kind] = result["peak_mib"]
                lines.append(
                    f"| {rows:,} | {data.stat().st_size / 1e6:.0f} | {kind} | "
                    f"{result['peak_mib']:.0f} | {result['seconds']:.1f} | "
                    f"{'yes' if result['sha256'] == sha else 'NO'} |"
                )
            shutil.rmtree(landing)
            ratios.append((rows, peaks["baseline"] / peaks["streamed"], peaks))
    lines.append("")
    for rows, ratio, peaks in ratios:
        lines.append(
            f"- {rows:,} rows: peak RSS baseline / streamed x{ratio:.1f} "
            f"({peaks['baseline']:.0f} / {peaks['streamed']:.0f} MiB)."
        )
    if len(ratios) > 1:
        (small, _, low), (large, _, high) = ratios[0], ratios[-1]
        lines.append(
            f"- From {small:,} to {large:,} rows (x{large / small:.0f}): the baseline's peak grows "
            f"x{high['baseline'] / low['baseline']:.2f}, the streamed one's "
            f"x{high['streamed'] / low['streamed']:.2f}."
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
