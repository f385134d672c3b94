"""Benchmark of the embed stage.

    .venv/bin/python bench/embed.py [--texts 50000] [--repeats 3] [--udf-texts 4000]

B1  N demo texts: SentenceTransformer.encode in one fresh process (import + model load included)
    vs the Spark job (spark-submit, local[*], start-up included) on the same cores. Median of
    `repeats`. The fixed start-up cost is the job's time on 64 texts; steady-state rates are
    (N - 64) / (T_N - T_64) for Spark and the encode-only rate for the baseline.
B2  a second night with 1% of the texts changed: the whole embed stage's time / the first night's,
    each night a fresh `recsys embed` process (first `--engine spark`, second `--engine auto`).
B3  peak memory (summed PSS of the `recsys embed` process tree: JVM, Python workers) on night 1.
B4  the fast CPU path: our `TextEncoder` at the precision `RECSYS_EMBED_PRECISION=auto` resolves
    to on this machine (bf16 where the CPU has bf16 units) in one fresh process (import and model
    load included) vs SentenceTransformer.encode as in B1 (fp32), alternated in each repeat; the
    vectors of the two are compared (cosine, min and median over all texts).
UDF mapInArrow vs mapInPandas on `udf-texts` texts, two alternated runs each (medians).

The warehouse for B2/B3 holds only `marts.embedding_requests` and `marts.dim_items` built from the
texts: the embed stage reads nothing else. Results go to stdout and bench/results/embed.md.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from datetime import date
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core.config import Settings
from pipeline.core.warehouse import connect, ensure_schemas
from pipeline.embed.encoder import EncoderSpec, cpu_has_bf16, encoder_spec
from pipeline.embed.stage import run_embedding, work_dir
from pipeline.landing.demo_data import DemoShop

ROOT = Path(__file__).resolve().parent.parent
DAY = date(2026, 11, 27)
BASELINE = """
import sys, time, pyarrow.parquet as pq
t0 = time.perf_counter()
from sentence_transformers import SentenceTransformer
texts = pq.read_table(sys.argv[1]).column("text").to_pylist()
model = SentenceTransformer(sys.argv[2], device="cpu")
t1 = time.perf_counter()
model.encode(texts, batch_size=64, normalize_embeddings=True)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""
OURS = """
import json, sys, time, numpy as np, pyarrow.parquet as pq
t0 = time.perf_counter()
from pipeline.embed.encoder import EncoderSpec, TextEncoder
texts = pq.read_table(sys.argv[1]).column("text").to_pylist()
encoder = TextEncoder(EncoderSpec(**json.loads(sys.argv[2])))
t1 = time.perf_counter()
vectors, _ = encoder.encode(texts)
t2 = time.perf_counter()
np.save(sys.argv[3], vectors)
print(t1 - t0, t2 - t1)
"""
COSINE = """
import sys, numpy as np, pyarrow.parquet as pq
from sentence_transformers import SentenceTransformer
texts = pq.read_table(sys.argv[1]).column("text").to_pylist()
reference = SentenceTransformer(sys.argv[2], device="cpu").encode(
    texts, batch_size=64, normalize_embeddings=True
)
cosine = (np.load(sys.argv[3]) * reference).sum(axis=1)
print(float(cosine.min()), float(np.median(cosine)))
"""


def demo_texts(n: int) -> list[tuple[str, str, str]]:
    """(entity, id, text) from the demo generator's users and items, as the marts would hold them.
    The generator repeats short texts at this scale; each gets its id appended so all n are
    distinct and both sides of B1 embed exactly the same n texts (the stage embeds a text once)."""
    shop = DemoShop(DAY, seed=11, scale=max(1.0, n / 2600))
    users, items = shop.users(), shop.items()
    rows = [
        (
            "item",
            i["item_id"],
            f"{i['title']}. {i['category']}. {i['description']} Ref {i['item_id']}.",
        )
        for i in items
    ]
    rows += [
        ("user", u["user_id"], f"{u['profile_text']} Member {u['user_id']}.")
        for u in users
        if u["profile_text"]
    ]
    return rows[:n]


def build_warehouse(home: Path, rows: list[tuple[str, str, str]]) -> Settings:
    settings = Settings(home=home)
    with connect(settings.warehouse_path) as con:
        ensure_schemas(con)
        table = pa.table(
            {
                "entity": [r[0] for r in rows],
                "id": [r[1] for r in rows],
                "text": [r[2] for r in rows],
                "content_hash": [hashlib.sha256(r[2].encode()).hexdigest() for r in rows],
            }
        )
        con.register("rows", table)
        con.execute("create or replace table marts.embedding_requests as select * from rows")
        con.execute(
            "create or replace table marts.dim_items as "
            "select id as item_id from rows where entity = 'item'"
        )
    return settings


def change_one_percent(settings: Settings) -> int:
    with connect(settings.warehouse_path) as con:
        con.execute(
            """
            update marts.embedding_requests
            set text = text || ' (updated)', content_hash = sha256(text || ' (updated)')
            where hash(entity || id) % 100 = 0
            """
        )
        return con.execute(
            "select count(*) from marts.embedding_requests where text like '% (updated)'"
        ).fetchall()[0][0]


class PeakRss:
    """Samples the summed PSS (proportional set size: shared pages split between the processes
    sharing them, so nothing is counted twice) of this process's children, the `recsys embed`
    tree with its JVM and Python workers, every 0.5 s."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for child in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_full_info().pss
            self.peak = max(self.peak, total)
            time.sleep(0.5)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def export(settings: Settings, rows: list[tuple[str, str, str]]) -> Path:
    folder = work_dir(settings, DAY)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "requests.parquet"
    pq.write_table(
        pa.table(
            {
                "entity": [r[0] for r in rows],
                "id": [r[1] for r in rows],
                "content_hash": [hashlib.sha256(r[2].encode()).hexdigest() for r in rows],
                "text": [r[2] for r in rows],
            }
        ),
        path,
    )
    return path


def spark_job_seconds(settings: Settings, rows: list[tuple[str, str, str]]) -> float:
    requests = export(settings, rows)
    model_id = encoder_spec(settings).model_id()
    started = time.perf_counter()
    run_embedding(settings, DAY, model_id, engine="spark")
    _ = requests
    return time.perf_counter() - started


def baseline(requests: Path, model_path: str) -> tuple[float, float]:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", BASELINE, str(requests), model_path],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    _, encode = (float(x) for x in out.stdout.split())
    return wall, encode


def ours(requests: Path, spec: EncoderSpec, vectors: Path) -> tuple[float, float]:
    """Our encoder in a fresh process, as `baseline` runs sentence-transformers."""
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", OURS, str(requests), json.dumps(asdict(spec)), str(vectors)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    wall = time.perf_counter() - started
    _, encode = (float(x) for x in out.stdout.split())
    return wall, encode


def cosine_to_reference(requests: Path, spec: EncoderSpec, vectors: Path) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, "-c", COSINE, str(requests), spec.model_path, str(vectors)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    low, median = (float(x) for x in out.stdout.split())
    return low, median


def recsys_embed(settings: Settings, engine: str) -> dict:
    """One night's embed stage as the pipeline runs it: a fresh `recsys embed` process."""
    out = subprocess.run(
        [str(Path(sys.executable).parent / "recsys"), "embed", "--home", str(settings.home),
         "--run-date", DAY.isoformat(), "--engine", engine],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def fast_path(rows: list[tuple[str, str, str]], repeats: int, tmp: Path) -> dict[str, object]:
    """B4: sentence-transformers and our encoder, alternated, each in a fresh process."""
    log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731
    settings = build_warehouse(tmp / "b4", rows)
    requests = export(settings, rows)
    spec = encoder_spec(settings)
    log(f"B4 our encoder at precision {spec.precision} (the CPU has bf16 units: {cpu_has_bf16()})")
    st_wall, st_encode, ours_wall, ours_encode = [], [], [], []
    vectors = tmp / "b4-vectors.npy"
    for repeat in range(repeats):
        wall, encode = baseline(requests, spec.model_path)
        st_wall.append(wall)
        st_encode.append(encode)
        wall, encode = ours(requests, spec, vectors)
        ours_wall.append(wall)
        ours_encode.append(encode)
        log(f"[{repeat}] B4 sentence-transformers {st_wall[-1]:.1f}s, ours {wall:.1f}s wall")
    low, median = cosine_to_reference(requests, spec, vectors)
    med = statistics.median
    return {
        "B4_sentence_transformers_wall_s": round(med(st_wall), 1),
        "B4_precision": spec.precision,
        "B4_ours_wall_s": round(med(ours_wall), 1),
        "B4_ratio_throughput_ours_over_st": round(med(st_wall) / med(ours_wall), 3),
        "B4_ratio_encode_only": round(med(st_encode) / med(ours_encode), 3),
        "B4_cosine_to_st_min": round(low, 6),
        "B4_cosine_to_st_median": round(median, 6),
        "B4_runs": {"st_wall": st_wall, "ours_wall": ours_wall, "st_encode": st_encode},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--udf-texts", type=int, default=4000)
    parser.add_argument(
        "--only-b4", action="store_true", help="only B4 (our encoder vs sentence-transformers)"
    )
    args = parser.parse_args()
    rows = demo_texts(args.texts)
    n = len(rows)
    log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731
    results: dict[str, object] = {"texts": n, "cores": psutil.cpu_count()}

    with tempfile.TemporaryDirectory() as tmp:
        results.update(fast_path(rows, args.repeats, Path(tmp)))
        print(json.dumps(results, indent=2), flush=True)
        if args.only_b4:
            return
        tiny_home = Path(tmp) / "tiny"
        tiny = [spark_job_seconds(Settings(home=tiny_home), rows[:64]) for _ in range(2)]
        startup = statistics.median(tiny)
        log(f"fixed start-up (job on 64 texts): {tiny}")

        udf: dict[str, list[float]] = {"arrow": [], "pandas": []}
        for kind in ("arrow", "pandas", "pandas", "arrow"):  # alternated, two runs each
            settings = Settings(home=Path(tmp) / f"udf-{kind}", spark={"udf": kind})
            udf[kind].append(spark_job_seconds(settings, rows[: args.udf_texts]))
            log(f"udf {kind}: {udf[kind][-1]:.1f}s on {args.udf_texts} texts")

        st_wall, st_encode, spark_wall, night1, night2, peaks = [], [], [], [], [], []
        for repeat in range(args.repeats):
            home = Path(tmp) / f"night-{repeat}"
            settings = build_warehouse(home, rows)
            requests = export(settings, rows)
            wall, encode = baseline(requests, encoder_spec(settings).model_path)
            st_wall.append(wall)
            st_encode.append(encode)
            log(f"[{repeat}] sentence-transformers: {wall:.1f}s wall, {encode:.1f}s encoding")

            with PeakRss() as peak:
                started = time.perf_counter()
                first = recsys_embed(settings, "spark")
                night1.append(time.perf_counter() - started)
            peaks.append(peak.peak)
            spark_wall.append(first["seconds"])
            log(
                f"[{repeat}] night 1: {first['engine']} job {first['seconds']:.1f}s, stage {night1[-1]:.1f}s, peak PSS {peak.peak / 2**30:.2f} GiB"
            )

            changed = change_one_percent(settings)
            started = time.perf_counter()
            second = recsys_embed(settings, "auto")
            night2.append(time.perf_counter() - started)
            log(
                f"[{repeat}] night 2: {changed} changed, {second['engine']} {second['embedded']} embedded, stage {night2[-1]:.1f}s"
            )

    med = statistics.median
    spark_rate = (n - 64) / (med(spark_wall) - startup)
    results.update(
        {
            "B1_sentence_transformers_wall_s": round(med(st_wall), 1),
            "B1_spark_job_wall_s": round(med(spark_wall), 1),
            "B1_ratio_throughput_spark_over_st": round(med(st_wall) / med(spark_wall), 3),
            "B1_fixed_startup_s": round(startup, 1),
            "B1_steady_rate_spark_texts_per_s": round(spark_rate, 1),
            "B1_steady_rate_st_texts_per_s": round(n / med(st_encode), 1),
            "B2_second_night_over_first": round(med(night2) / med(night1), 4),
            "B2_first_night_stage_s": round(med(night1), 1),
            "B2_second_night_stage_s": round(med(night2), 1),
            "B3_peak_pss_gib": round(max(peaks) / 2**30, 2),
            "udf_arrow_s": round(statistics.median(udf["arrow"]), 1),
            "udf_pandas_s": round(statistics.median(udf["pandas"]), 1),
            "runs": {
                "st_wall": st_wall,
                "spark_wall": spark_wall,
                "night1": night1,
                "night2": night2,
                "startup": tiny,
            },
        }
    )
    print(json.dumps(results, indent=2))
    lines = [
        "# bench/embed.py",
        "",
        f"{n} demo texts, {results['cores']} cores, median of {args.repeats}.",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in results.items() if not k.endswith("runs")]
    (ROOT / "bench" / "results" / "embed.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
