"""The landing contract, fuzzed (Hypothesis): hostile ids and text (SQL and Jinja metacharacters),
NUL and control bytes, wrong encodings, path-like file names, wrong types and broken records.

Each generated drop is ingested into a home of its own: it loads whole (every record a raw row,
lineage intact) or is refused whole with one error line naming the file. Every drop that loaded
then lands in one combined landing folder, with 10 MB fields beside it, through ingest and the
real dbt transform: every raw row ends clean, merged, deferred or quarantined with a known reason,
the counts add up, and nothing the data says is executed.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections import Counter
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from pipeline.clean.transform import transform
from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.landing.contract import LANDING_TABLES
from pipeline.landing.ingest import ingest

DAY = date(2026, 11, 27)
EXAMPLES = 60
HOSTILE = [
    "'; drop table raw.users; --",
    "x'); create table meta.pwned_sql (a int); --",
    "{{ adapter.execute('create table meta.pwned_jinja (a int)') }}",
    "{% do run_query('create table meta.pwned_block (a int)') %}",
    "{{ 7 * 7 }}",
    "{# comment #}",
    "$1",
    "?",
    "\\",
    '"',
    "''",
    "NULL",
    "null",
    "",
    "  ",
    "\x00",
    "a\x00b",
    "\x1b[31mred",
    "\u202eevil",
    "\ufeffbom",
    "😀",
    "Ω≈ç√",
    "../../etc/passwd",
    "%s%n",
    "\r\n",
    "erased:0000",
]
REASONS = {
    "null_user_id",
    "null_item_id",
    "null_friend_id",
    "null_title",
    "null_event_ts",
    "unparseable_event_ts",
    "malformed_row",
    "unknown_user_id",
    "unknown_item_id",
    "unknown_friend_id",
    "self_loop",
    "conflicting_duplicate",
    "erased_user",
}
KNOWN_TABLES = {"raw", "meta", "staging", "marts", "quarantine", "features", "analytics"}

texts = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=24),
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.dates().map(str),
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
)
ids = st.one_of(st.sampled_from(["u1", "u2", " u1 ", "i1", "i2", "1", "1.0"]), texts)
# file and folder names: anything a file system takes (no "/", NUL or newline), hidden ones too
names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="/\x00\n\r"),
    min_size=1,
    max_size=16,
).filter(lambda n: n not in (".", ".."))


@st.composite
def table_file(draw: st.DrawFn, table: str) -> tuple[str, bytes, int, Counter]:
    """(path inside the landing folder, content, records, kinds tried) for one table file."""
    kinds: Counter = Counter()
    columns = list(LANDING_TABLES[table].columns)
    if draw(st.booleans()):
        columns.append(draw(st.sampled_from(["Extra; drop", "{{ x }}", "ünïcode", "n o"])))
        kinds["extra_column"] += 1
    n = draw(st.integers(0, 6))
    cell = {c: (ids if c.endswith("_id") else texts) for c in columns}
    records = [[draw(cell[c]) for c in columns] for _ in range(n)]
    kinds["hostile"] += sum(v in HOSTILE for r in records for v in r)
    kinds["control_or_nul"] += sum(any(ord(ch) < 32 for ch in v) for r in records for v in r)
    if draw(st.booleans()):
        name = draw(names)
        path = f"{table}/{name}/part"
        kinds["path_like_name"] += 1
        hidden = name.startswith((".", "_"))
    else:
        path, hidden = table, False
    if draw(st.booleans()):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(columns)
        for record in records:
            if draw(st.integers(0, 9)) == 0:  # a record with the wrong number of fields
                record = record[:-1] if draw(st.booleans()) else [*record, "spare"]
                kinds["malformed_record"] += 1
            writer.writerow(record)
        encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16", "latin-1"]))
        kinds[f"encoding_{encoding}"] += 1
        content = out.getvalue().encode(encoding, errors="replace")
        kinds["csv"] += 1
        return f"{path}.csv", content, (0 if hidden else n), kinds
    # Parquet with the wrong types: ints, floats, booleans, timestamps and bytes as well as text
    arrays = {}
    for i, column in enumerate(columns):
        kind = draw(st.sampled_from(["string", "int", "float", "bool", "timestamp", "binary"]))
        kinds[f"parquet_{kind}"] += 1
        values = [r[i] for r in records]
        arrays[column] = {
            "string": lambda v: pa.array(v, pa.string()),
            "int": lambda v: pa.array([draw(st.integers(-(2**62), 2**62)) for _ in v], pa.int64()),
            "float": lambda v: pa.array([draw(st.floats()) for _ in v], pa.float64()),
            "bool": lambda v: pa.array([draw(st.booleans()) for _ in v], pa.bool_()),
            "timestamp": lambda v: pa.array(
                [draw(st.integers(0, 4_000_000_000)) for _ in v], pa.timestamp("s", tz="UTC")
            ),
            "binary": lambda v: pa.array([draw(st.binary(max_size=8)) for _ in v], pa.binary()),
        }[kind](values)
    buffer = io.BytesIO()
    pq.write_table(pa.table(arrays), buffer)
    kinds["parquet"] += 1
    return f"{path}.parquet", buffer.getvalue(), (0 if hidden else n), kinds


@st.composite
def landing_drops(draw: st.DrawFn) -> list[tuple[str, bytes, int, Counter]]:
    tables = ["users", "items", "interactions"] + (["social_edges"] if draw(st.booleans()) else [])
    return [draw(table_file(t)) for t in tables]


def raw_counts(home: Settings) -> dict[str, int]:
    if not home.warehouse_path.exists():
        return {}
    con = duckdb.connect(str(home.warehouse_path), read_only=True)
    try:
        existing = {
            t
            for (t,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw'"
            ).fetchall()
        }
        return {t: con.execute(f"select count(*) from raw.{t}").fetchone()[0] for t in existing}
    finally:
        con.close()


def test_every_fuzzed_drop_loads_whole_or_is_refused_and_transform_conserves_rows(
    tmp_path: Path,
) -> None:
    combined = tmp_path / "combined"
    kinds: Counter = Counter()
    expected: Counter = Counter()
    example = iter(range(10**6))

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @seed(20261206)  # the same examples on every run and machine
    @given(drop=landing_drops())
    def one_drop(drop: list[tuple[str, bytes, int, Counter]]) -> None:
        n = next(example)
        home = Settings(home=tmp_path / f"ex{n}", quarantine_threshold=1.0)
        written: Counter = Counter()
        for path, content, records, tried in drop:
            target = home.landing_dir / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            written[path.split("/")[0].split(".")[0]] += records
            kinds.update(tried)
        try:
            summary = ingest(home)
        except RecsysError as exc:
            message = str(exc)
            assert "\n" not in message.replace(str(home.landing_dir), ""), message
            assert str(home.landing_dir) in message, message
            assert sum(raw_counts(home).values()) == 0  # nothing half-loaded
            kinds["refused"] += 1
            kinds["refused: " + message.rsplit(": ", 1)[-1][:40]] += 1
            return
        assert {t: summary["rows_loaded"][t] for t in written} == dict(written)
        assert {t: c for t, c in raw_counts(home).items() if c} == {
            t: c for t, c in written.items() if c
        }
        kinds["loaded"] += 1
        for path, _, records, _ in drop:
            table, _, rest = path.partition("/")
            target = combined / table.split(".")[0] / f"ex{n}" / (rest or path)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(home.landing_dir / path, target)
            expected[table.split(".")[0]] += records
        shutil.rmtree(home.home)

    one_drop()
    print("fuzzed landing kinds:", dict(sorted(kinds.items())))
    assert kinds["loaded"] >= 15 and kinds["refused"] >= 1
    assert kinds["parquet"] and kinds["csv"] and kinds["malformed_record"]

    # 10 MB fields: an id, a profile text and a title
    big = "x" * 10_000_000
    (combined / "users" / "big").mkdir(parents=True)
    (combined / "users" / "big" / "u.csv").write_text(f"user_id,profile_text\nu{big},{big}\n")
    (combined / "items" / "big").mkdir(parents=True)
    (combined / "items" / "big" / "i.csv").write_text(f"item_id,title\ni1,{big}\n")
    expected.update({"users": 1, "items": 1})
    # fuzzed events lie years before DAY: the run-date guard would rightly refuse the date
    home = Settings(
        home=tmp_path / "all", landing=combined, quarantine_threshold=1.0, max_days_ahead=100_000
    )
    summary = ingest(home, DAY)
    assert {t: summary["rows_loaded"][t] for t in expected} == dict(expected)
    con = duckdb.connect(str(home.warehouse_path))
    con.execute("create table meta.canary as select 42 as alive")
    con.close()

    done = transform(home, DAY)

    for table, counts in done["tables"].items():
        outcomes = sum(counts[k] for k in ("clean", "merged", "deferred", "quarantined"))
        assert counts["raw"] == outcomes == expected[table], (table, counts)
        assert set(counts["quarantine_reasons"]) <= REASONS
    con = duckdb.connect(str(home.warehouse_path), read_only=True)
    try:
        assert con.execute("select alive from meta.canary").fetchall() == [(42,)]
        schemas = {s for (s,) in con.execute("select schema_name from duckdb_tables()").fetchall()}
        assert schemas <= KNOWN_TABLES
        pwned = con.execute(
            "select table_name from duckdb_tables() where table_name like 'pwned%'"
        ).fetchall()
        assert pwned == []
        (reasonless,) = con.execute(
            "select count(*) from quarantine.rejected_rows where reason is null"
        ).fetchone()
        assert reasonless == 0
    finally:
        con.close()
