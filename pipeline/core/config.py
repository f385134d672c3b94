"""The one place settings live. Every value can be overridden by a `RECSYS_*` environment variable.

Settings are grouped per stage (`settings.embed`, `settings.spark`, `settings.train`, ...). A
section's field `x` is the variable `RECSYS_<SECTION>_X` (`settings.train.max_epochs` is
`RECSYS_TRAIN_MAX_EPOCHS`); the few settings that belong to the whole night stay at the top
(`RECSYS_HOME`, `RECSYS_TOP_N`, ...). `settings_reference.environment_variables()` lists them
all; docs/settings.md is generated from it (`recsys settings-reference`).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.core.embed_settings import EmbedSettings, SparkSettings
from pipeline.core.errors import RecsysError
from pipeline.core.train_settings import TrainSettings, TuneSettings

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _absolute(value: Path | None) -> Path | None:
    # Stages run in other processes (dbt, Spark, Airflow workers): relative paths would drift.
    return value.expanduser().resolve() if value is not None else None


class MlflowSettings(BaseModel):
    """Where runs and the model registry live."""

    tracking_uri: str | None = Field(
        default=None,
        description="Tracking and registry URI; default: sqlite:///$RECSYS_HOME/mlflow.db.",
    )
    artifact_root: str | None = Field(
        default=None,
        description="Artifact location of a new experiment; default $RECSYS_HOME/mlartifacts, "
        "or with an http(s) tracking URI the server's own (proxied `mlflow-artifacts:/<id>`, "
        "which its authentication maps to the experiment's permissions).",
    )
    experiment: str = Field(default="recsys-nightly", description="MLflow experiment name.")


class GateSettings(BaseModel):
    """The champion gate: when a new model version may serve."""

    metric: str = Field(default="ndcg_at_10", description="The metric the champion gate compares.")
    tolerance: float = Field(
        default=0.0, ge=0, description="A candidate may be this much worse than the champion."
    )
    min_eval_users: int = Field(
        default=50, ge=0, description="Below this many evaluable users the holdout cannot judge."
    )
    baselines: list[str] = Field(
        default_factory=lambda: ["popularity"],
        description="Baselines a new champion must beat on the gate metric, as JSON, e.g. "
        '["popularity", "ease_recent"]. One that did not score the metric tonight is left out; '
        "when none did, the yardstick is the bias model for a rating metric, else popularity.",
    )


class RecommendSettings(BaseModel):
    """Nightly scoring (`recsys recommend`)."""

    rerank_by_rating: bool = Field(
        default=False,
        description="Re-rank the top 5 x top_n candidates by expected rating x interaction "
        "probability (the rating head) instead of the interaction score alone.",
    )
    retention_days: int = Field(
        default=30, ge=1, description="Recommendations older than this many days are deleted."
    )
    chunk_users: int = Field(
        default=2048,
        ge=1,
        description="Users per matrix product (memory); also the unit of work of the Spark "
        "scoring job.",
    )
    local_max_pairs: int = Field(
        default=2_000_000_000,
        ge=0,
        description="Active users x items below which the night is scored in the task's own "
        "process; from it on, by the Spark job over chunks of users (RECSYS_SPARK_MASTER or the "
        "Airflow connection). The same rows either way.",
    )


class AirflowSettings(BaseModel):
    """The DAG (dags/recsys_nightly.py)."""

    schedule: str = Field(
        default="0 2 * * *",
        description="Cron of the nightly run, as a data-interval timetable (UTC): the run for "
        "day D starts at this time on D+1, after D has ended; its run date is D.",
    )
    start_date: date = Field(
        default=date(2026, 1, 1),
        description="First day the schedule covers (catchup is off; backfills may go earlier).",
    )
    retries: int = Field(default=2, ge=0, description="Retries of a failed task.")
    retry_delay_s: float = Field(
        default=300.0, ge=0, description="First retry delay; doubles on each further retry."
    )
    max_retry_delay_s: float = Field(default=3600.0, ge=0, description="Longest retry delay.")
    task_timeout_minutes: float = Field(
        default=60.0, gt=0, description="execution_timeout of warehouse tasks."
    )
    gpu_task_timeout_minutes: float = Field(
        default=240.0,
        gt=0,
        description="execution_timeout of the embedding, training, scoring tasks.",
    )
    warehouse_pool: str = Field(
        default="warehouse",
        description="Pool (one slot) of every task that opens the DuckDB file; created by the "
        "project's Airflow plugin when the scheduler starts, or by `recsys airflow-setup`.",
    )
    gpu_queue: str = Field(
        default="gpu", description="Celery queue of the tasks that may use a GPU."
    )


class DbtSettings(BaseModel):
    """dbt (`recsys transform`, `recsys publish`)."""

    threads: int = Field(default=1, ge=1, description="dbt threads (DuckDB has one writer).")
    project_dir: Path = Field(
        default=PROJECT_ROOT / "dbt_project", description="The dbt project (default: the repo's)."
    )

    @field_validator("project_dir")
    @classmethod
    def _absolute_dir(cls, value: Path) -> Path | None:
        return _absolute(value)


class WorkSettings(BaseModel):
    """The work folders under the home (`train/`, `score/`, `embeddings/`: one per run date)."""

    retention_days: int = Field(
        default=14,
        ge=1,
        description="A night deletes the work folders of run dates more than this many days "
        "before its own (they hold exported personal data; a rerun of a date exports again).",
    )


class ErasureSettings(BaseModel):
    """`recsys forget`: the suppression list of forgotten users."""

    salt: SecretStr | None = Field(
        default=None,
        description="Secret salt of the suppression list's hashes; empty: a random salt made "
        "once and kept in the warehouse (`meta.erasure_salt`, never published). Changing it "
        "orphans every hash already listed.",
    )


class BackupSettings(BaseModel):
    """The warehouse backups `recsys publish` takes (`$RECSYS_HOME/backups/<run date>`)."""

    keep: int = Field(
        default=7,
        ge=1,
        description="Verified backups kept, the newest taken; a rerun of a run date replaces "
        "that date's backup.",
    )


SECTIONS: dict[str, type[BaseModel]] = {
    "embed": EmbedSettings,
    "spark": SparkSettings,
    "train": TrainSettings,
    "tune": TuneSettings,
    "mlflow": MlflowSettings,
    "gate": GateSettings,
    "recommend": RecommendSettings,
    "airflow": AirflowSettings,
    "dbt": DbtSettings,
    "work": WorkSettings,
    "erasure": ErasureSettings,
    "backup": BackupSettings,
}


class Settings(BaseSettings):
    """Settings for one installation of recsys-nightly.

    Defaults run everything on one machine under `./var`; nothing needs to be started by hand.
    Override a section's fields in code with a dict: `Settings(train={"max_epochs": 3})`.
    """

    model_config = SettingsConfigDict(
        env_prefix="RECSYS_",
        extra="ignore",
        # RECSYS_TRAIN_MAX_EPOCHS -> train.max_epochs: split once, after the section's name
        env_nested_delimiter="_",
        env_nested_max_split=1,
    )

    home: Path = Field(
        default=Path("var"),
        description="Root of everything the pipeline writes: warehouse, landing, dbt target, logs.",
    )
    landing: Path | None = Field(
        default=None, description="Landing folder to ingest; defaults to $RECSYS_HOME/landing."
    )
    landing_settle_seconds: float = Field(
        default=60.0,
        ge=0,
        description="Ingest skips a landing file modified less than this many seconds ago (still "
        "being written?) and loads it on a later night: the one place the wall clock decides what "
        "a night reads. A file the landing's manifest.json records by size and sha256 (written by "
        "`recsys demo-data` and `recsys import` after their files) counts as settled at once.",
    )
    landing_max_file_bytes: int = Field(
        default=16 * 1024**3,
        ge=1,
        description="Ingest refuses a landing file larger than this, naming it: split it into "
        "smaller files (a folder of daily drops) or raise the limit.",
    )
    landing_max_file_rows: int = Field(
        default=200_000_000,
        ge=1,
        description="Ingest refuses a landing file with more rows than this, naming it.",
    )
    run_date: date | None = Field(
        default=None,
        description="Run date when no --run-date is given; else the landing manifest's run_date.",
    )
    max_days_ahead: int = Field(
        default=2,
        ge=0,
        description="A run date more than this many days after the newest landed event is "
        "refused before anything is written (a mistyped date would prune as if time had passed).",
    )
    lock_wait_seconds: float = Field(
        default=0.0,
        ge=0,
        description="How long a command waits for the night lock another writer of the home "
        "holds before failing with the holder's name (0: fail at once).",
    )
    quarantine_threshold: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="Circuit breaker: `transform` fails when a table's quarantined share of raw "
        "rows exceeds this.",
    )
    holdout_days: int = Field(
        default=7,
        ge=1,
        description="Events in the last N days up to the end of the run date are the holdout "
        "the model and the baselines are judged on (the N days before it validate).",
    )
    social_holdout: float = Field(
        default=0.1, gt=0, lt=1, description="Seeded random share of friend pairs held out."
    )
    loss_weights: dict[str, float] = Field(
        default_factory=lambda: {"interaction": 1.0, "rating": 1.0, "social": 0.5},
        description="Per-task loss weights as JSON (0 switches a task off).",
    )
    model_options: dict[str, int | float] = Field(
        default_factory=dict,
        description='ModelConfig overrides as JSON, e.g. {"dim": 32, "item_id_dropout": 0.5}.',
    )
    registered_model: str = Field(
        default="recsys_mtl", description="MLflow registered model of the served versions."
    )
    top_n: int = Field(default=10, ge=1, le=1000, description="Recommendations per active user.")

    embed: EmbedSettings = Field(default_factory=EmbedSettings)
    spark: SparkSettings = Field(default_factory=SparkSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    tune: TuneSettings = Field(default_factory=TuneSettings)
    mlflow: MlflowSettings = Field(default_factory=MlflowSettings)
    gate: GateSettings = Field(default_factory=GateSettings)
    recommend: RecommendSettings = Field(default_factory=RecommendSettings)
    airflow: AirflowSettings = Field(default_factory=AirflowSettings)
    dbt: DbtSettings = Field(default_factory=DbtSettings)
    work: WorkSettings = Field(default_factory=WorkSettings)
    erasure: ErasureSettings = Field(default_factory=ErasureSettings)
    backup: BackupSettings = Field(default_factory=BackupSettings)

    @field_validator("home", "landing")
    @classmethod
    def _absolute_paths(cls, value: Path | None) -> Path | None:
        return _absolute(value)

    @property
    def landing_dir(self) -> Path:
        return self.landing or self.home / "landing"

    @property
    def tuned_path(self) -> Path:
        return _absolute(self.tune.file) or self.home / "tuned.json"

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def work_dirs(self) -> list[Path]:
        """The folders of per-run-date exports (`train/D`, `score/D`, `embeddings/D`)."""
        return [self.home / name for name in ("train", "score", "embeddings")]

    @property
    def published_path(self) -> Path:
        """The analysts' read-only copy, swapped in whole by `recsys publish`."""
        return self.home / "published" / "analytics.duckdb"

    @property
    def dbt_target_dir(self) -> Path:
        return self.home / "dbt" / "target"

    @property
    def dbt_log_dir(self) -> Path:
        return self.home / "dbt" / "logs"


def load_settings(**overrides: object) -> Settings:
    """The settings from the environment and `overrides`; a bad value is one `RecsysError`
    naming the variable to fix."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(f"{variable_of(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise RecsysError(f"invalid settings: {problems}") from None


def variable_of(loc: tuple[object, ...]) -> str:
    """The environment variable of a validation error's location: a section's field is one
    variable (`train.max_epochs` -> RECSYS_TRAIN_MAX_EPOCHS); what follows is a key inside it."""
    parts = [str(p) for p in loc]
    width = 2 if parts[0] in SECTIONS and len(parts) > 1 else 1
    keys = "".join(f"[{p}]" for p in parts[width:])
    return "RECSYS_" + "_".join(parts[:width]).upper() + keys
