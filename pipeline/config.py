"""The one place settings live. Every value can be overridden by a `RECSYS_*` environment variable."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


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
    def dbt_target_dir(self) -> Path:
        return self.home / "dbt" / "target"

    @property
    def dbt_log_dir(self) -> Path:
        return self.home / "dbt" / "logs"
