from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.core.errors import RecsysError
from pipeline.embed.encoder import (
    EncoderSpec,
    TextEncoder,
    device_fault,
    resolve_model_path,
    sanitise,
)

HOSTILE = [
    "   ",
    "x " * 50_000,  # far beyond the model's max length
    "Perfect gift 🎁✨ — five stars ⭐⭐",
    "日本語の説明 中文描述 한국어",
    "<p>Great for <b>beginners</b> &amp; pros</p>",
    "lone \ud800 surrogate and \x00 control",
    "line one\nline two\r\n\ttab",
]


@pytest.fixture(scope="module")
def minilm() -> TextEncoder:
    return TextEncoder(EncoderSpec(model_path=str(resolve_model_path("all-MiniLM-L6-v2"))))


def test_vectors_equal_sentence_transformers_output(minilm: TextEncoder) -> None:
    from sentence_transformers import SentenceTransformer

    texts = ["The Complete Sourdough Handbook", "jazz trumpet improvisation", "a", *HOSTILE[2:5]]
    vectors, errors = minilm.encode(texts)
    reference = SentenceTransformer(minilm.spec.model_path, device="cpu").encode(
        texts, normalize_embeddings=True
    )
    assert errors == [None] * len(texts)
    assert np.all((vectors * reference).sum(axis=1) > 0.999)


def test_similar_texts_are_nearer_than_unrelated_ones(minilm: TextEncoder) -> None:
    texts = [
        "A beginner's guide to baking sourdough bread at home",
        "How to bake a crusty sourdough loaf with wild yeast",
        "Telescope for stargazing: see galaxies and nebulae",
        "Backyard astronomy: observing planets through a telescope",
    ]
    v, _ = minilm.encode(texts)
    sim = v @ v.T
    assert sim[0, 1] > max(sim[0, 2], sim[0, 3]) + 0.2
    assert sim[2, 3] > max(sim[2, 0], sim[2, 1]) + 0.2


def test_hostile_texts_give_unit_vectors_not_crashes(minilm: TextEncoder) -> None:
    vectors, errors = minilm.encode(HOSTILE)
    assert errors == [None] * len(HOSTILE)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_order_and_batching_do_not_change_vectors(minilm: TextEncoder) -> None:
    texts = [
        "short",
        "a much longer text about cycling, gravel roads and saddles",
        "mid length text",
    ]
    together, _ = minilm.encode(texts)
    alone = np.vstack([minilm.encode([t])[0] for t in texts])
    assert np.allclose(together, alone, atol=1e-5)


def test_sanitise_makes_any_string_valid_utf8_text() -> None:
    cleaned = sanitise("a\ud800b\x00c \n d")
    cleaned.encode("utf-8")  # would raise on a lone surrogate
    assert cleaned == "a\ufffdb c d"


def test_decoder_model_uses_last_token_pooling_with_left_padding(tiny_decoder: Path) -> None:
    encoder = TextEncoder(EncoderSpec(model_path=str(tiny_decoder), instruction="the "))
    assert encoder.pooling == "last_token"
    assert encoder.tokenizer.padding_side == "left"
    texts = ["sourdough bread", "the oven and the bread of jazz music", "stars"]
    together, errors = encoder.encode(texts)
    alone = np.vstack([encoder.encode([t])[0] for t in texts])
    assert errors == [None] * 3
    assert together.shape == (3, 32)
    assert np.allclose(together, alone, atol=1e-5)  # padding never leaks into a row


def test_model_id_names_model_revision_pooling_and_instruction(tiny_decoder: Path) -> None:
    plain = EncoderSpec(model_path=str(resolve_model_path("all-MiniLM-L6-v2"))).model_id()
    assert plain.startswith("sentence-transformers/all-MiniLM-L6-v2@")
    assert plain.endswith(":mean")
    with_instruction = EncoderSpec(
        model_path=str(tiny_decoder), instruction="Represent: "
    ).model_id()
    assert ":last_token:instr-" in with_instruction


def test_unknown_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RecsysError, match="never downloaded"):
        resolve_model_path(str(tmp_path / "no-model"))


def test_decoder_vector_is_the_models_own_last_token_state(tiny_decoder: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    text = "the sourdough bread of the stars"
    encoder = TextEncoder(EncoderSpec(model_path=str(tiny_decoder)))
    ours, _ = encoder.encode([text, "jazz"])  # batched with a shorter text: left padding in play
    tokenizer = AutoTokenizer.from_pretrained(tiny_decoder)
    model = AutoModel.from_pretrained(tiny_decoder).eval()
    with torch.inference_mode():
        hidden = model(**tokenizer([text], return_tensors="pt")).last_hidden_state[0, -1]
    direct = torch.nn.functional.normalize(hidden, dim=0).numpy()
    assert float(ours[0] @ direct) > 0.999


def test_auto_pooling_follows_the_sentence_transformers_config(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text('{"pooling_mode_cls_token": true}')
    assert EncoderSpec(model_path=str(tmp_path)).resolved_pooling() == "cls"
    assert EncoderSpec(model_path=str(tmp_path), pooling="mean").resolved_pooling() == "mean"


def test_spark_gpu_addresses_become_torch_devices() -> None:
    from pipeline.embed.job import cuda_device

    assert cuda_device("1") == "cuda:1"
    assert cuda_device("GPU-8f2c") == "cuda"


def test_bf16_vectors_are_within_cosine_0999_of_fp32(minilm: TextEncoder) -> None:
    texts = ["The Complete Sourdough Handbook", "jazz trumpet improvisation", *HOSTILE]
    bf16 = TextEncoder(EncoderSpec(model_path=minilm.spec.model_path, precision="bf16"))
    assert bf16.dtype == bf16._torch.bfloat16
    got, errors = bf16.encode(texts)
    expected, _ = minilm.encode(texts)
    assert errors == [None] * len(texts)
    assert np.all((got * expected).sum(axis=1) > 0.999)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_model_id_names_the_precision_so_vectors_never_mix() -> None:
    path = str(resolve_model_path("all-MiniLM-L6-v2"))
    before = EncoderSpec(model_path=path).model_id()  # specs from before the setting: unnamed
    assert EncoderSpec(model_path=path, precision="bf16").model_id() == before + ":bf16"
    assert EncoderSpec(model_path=path, precision="fp32").model_id() == before + ":fp32"


def test_auto_precision_is_bf16_on_a_gpu_or_a_cpu_with_bf16_units(tmp_path: Path) -> None:
    from pipeline.core.config import Settings
    from pipeline.embed.encoder import resolve_precision

    cpu = Settings(home=tmp_path, embed={"device": "cpu"})
    assert resolve_precision(cpu, cpu_bf16=True) == "bf16"
    assert resolve_precision(cpu, cpu_bf16=False) == "fp32"
    gpu_workers = Settings(home=tmp_path, embed={"device": "cpu"}, spark={"executor_gpus": 1})
    assert resolve_precision(gpu_workers, cpu_bf16=False) == "bf16"
    cuda = Settings(home=tmp_path, embed={"device": "cuda"})
    assert resolve_precision(cuda, cpu_bf16=False) == "bf16"
    chosen = Settings(home=tmp_path, embed={"device": "cpu", "precision": "fp32"})
    assert resolve_precision(chosen, cpu_bf16=True) == "fp32"


def test_a_text_that_fails_alone_is_its_error_but_a_device_fault_fails_the_run(
    minilm: TextEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No GPU here: the faults are raised in place of the model's forward pass."""
    real = minilm._encode_batch
    poison = minilm.tokenizer("poison")["input_ids"]

    def fails_on_poison(features: dict) -> np.ndarray:
        if poison in features["input_ids"]:
            raise ValueError("this text breaks the model")
        return real(features)

    monkeypatch.setattr(minilm, "_encode_batch", fails_on_poison)
    vectors, errors = minilm.encode(["fine", "poison", "also fine"])
    assert errors == [None, "ValueError: this text breaks the model", None]
    assert np.isfinite(vectors[[0, 2]]).all() and np.isnan(vectors[1]).all()

    def out_of_memory(features: dict) -> np.ndarray:
        raise RuntimeError("CUDA error: out of memory")

    monkeypatch.setattr(minilm, "_encode_batch", out_of_memory)
    with pytest.raises(RecsysError, match=r"device failed on a text alone.*out of memory"):
        minilm.encode(["fine", "also fine"])
    assert device_fault(RuntimeError("CUDA error: an illegal memory access was encountered"))
    assert not device_fault(ValueError("this text breaks the model"))
