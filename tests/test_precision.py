"""What `precision=` means, checked on a tiny random-init LLaMA on the CPU: counts are logical
whatever the storage, bf16 stores the frozen base in bf16 and trains in fp32, amp_bf16 keeps
fp32 master weights, and Freeze runs under 8/4-bit with its trained layers unquantised."""

import uuid

import pytest

from harness.cell import run_cell
from tests.conftest import make_cfg


def sft(method: str, precision: str, *overrides: str) -> dict:
    cfg = make_cfg("model=llama_ladder_xs", "task=instruct/gsm8k", f"method={method}", f"precision={precision}",
                   "data.max_train_samples=32", "data.max_eval_samples=2", "train.batch_size=8",
                   "train.max_steps=4", "train.warmup_ratio=0", "train.lr=5e-3", "train.max_seq_length=64",
                   "task.max_new_tokens=4", "measure.latency_repeats=0", "measure.predict=true", *overrides)
    return run_cell(cfg, {"run_id": uuid.uuid4().hex, "config_hash": "test"})


@pytest.fixture(scope="module")
def fp32_lora():
    row = sft("lora", "fp32")
    assert row["status"] == "ok", row.get("error")
    return row


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["int8", "int4"])
def test_quantised_counts_are_logical_not_the_packed_storage(fp32_lora, precision):
    row = sft("lora", precision)
    assert row["status"] == "ok", row.get("error")
    for col in ("params_total", "params_trainable", "params_added", "params_changed"):
        assert row[col] == fp32_lora[col], col
    # the quantised linear layers; embeddings and norms stay fp32 (and dominate a model this small)
    assert ("uint8" if precision == "int4" else "int8") in row["base_param_dtype"].split("+")
    assert row["trainable_param_dtype"] == "float32"


@pytest.mark.slow
def test_bf16_stores_the_frozen_base_in_bf16_and_trains_in_fp32(fp32_lora):
    row = sft("lora", "bf16")
    assert row["status"] == "ok", row.get("error")
    assert (row["base_param_dtype"], row["trainable_param_dtype"]) == ("bfloat16", "float32")
    assert row["predicted_mem_weights_bytes"] < 0.6 * fp32_lora["predicted_mem_weights_bytes"]
    assert row["params_total"] == fp32_lora["params_total"]


@pytest.mark.slow
def test_amp_bf16_keeps_fp32_master_weights_under_bf16_autocast(fp32_lora):
    row = sft("lora", "amp_bf16")
    assert row["status"] == "ok", row.get("error")
    assert (row["base_param_dtype"], row["trainable_param_dtype"]) == ("float32", "float32")
    assert row["predicted_mem_weights_bytes"] == fp32_lora["predicted_mem_weights_bytes"]
    assert row["predicted_mem_activations_bytes"] < fp32_lora["predicted_mem_activations_bytes"]


@pytest.mark.slow
def test_full_ft_under_bf16_trains_every_weight_in_fp32():
    row = sft("full_ft", "bf16")
    assert row["status"] == "ok", row.get("error")
    assert row["base_param_dtype"] is None and row["trainable_param_dtype"] == "float32"


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["int8", "int4"])
def test_freeze_runs_quantised_with_its_trained_layers_left_unquantised(precision):
    row = sft("freeze", precision, "method.trainable_layers=1")
    assert row["status"] == "ok", row.get("error")
    assert row["trainable_param_dtype"] == "float32"
    assert row["final_train_loss"] != row["first_train_loss"]
    fp32 = sft("freeze", "fp32", "method.trainable_layers=1")
    assert row["params_trainable"] == fp32["params_trainable"] and row["params_total"] == fp32["params_total"]


# precision=auto: bf16 only where the device computes it natively

ZEN3_FLAGS = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma bmi2 sha_ni\n"
SAPPHIRE_RAPIDS_FLAGS = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"


def test_native_bf16_is_read_from_the_cpu_flags():
    from harness.precision import cpu_native_bf16

    assert not cpu_native_bf16(ZEN3_FLAGS)
    assert cpu_native_bf16(SAPPHIRE_RAPIDS_FLAGS)
    assert cpu_native_bf16("flags\t: avx2 avx512_bf16\n")
    assert not cpu_native_bf16("")


@pytest.mark.parametrize("native, expected", [(False, "fp32"), (True, "bf16")])
def test_auto_resolves_on_the_cpu_by_native_bf16_and_says_why(monkeypatch, native, expected):
    from harness import precision

    monkeypatch.setattr(precision, "cpu_native_bf16", lambda: native)
    name, reason = precision.resolve_auto("cpu")
    assert name == expected
    assert ("without native bf16" in reason) != native


def test_an_auto_cell_is_the_cell_of_the_precision_it_resolved_to_and_records_why():
    from omegaconf import OmegaConf

    from harness.launch import config_hash
    from harness.precision import resolve_auto
    from harness.record.identity import identity_columns

    resolved, reason = resolve_auto("auto")
    auto = make_cfg("precision=auto")
    explicit = make_cfg(f"precision={resolved}")
    assert auto.precision.name == resolved
    assert config_hash(OmegaConf.to_container(auto, resolve=True)) == \
        config_hash(OmegaConf.to_container(explicit, resolve=True))
    row = identity_columns(auto, {"run_id": "x", "config_hash": "h"})
    assert (row["precision"], row["precision_requested"], row["precision_reason"]) == (resolved, "auto", reason)
    assert identity_columns(explicit, {"run_id": "x", "config_hash": "h"})["precision_requested"] == resolved


def test_device_auto_that_finds_a_gpu_is_the_cuda_cell_and_on_a_cpu_keeps_its_old_identity(monkeypatch):
    import torch
    from omegaconf import OmegaConf

    from harness.launch import config_hash
    from harness.record.identity import cell_of

    def hashed(*overrides):
        return config_hash(OmegaConf.to_container(make_cfg("precision=fp32", *overrides), resolve=True))

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    on_cpu = hashed()
    assert on_cpu != hashed("device=cuda") and cell_of(make_cfg("precision=fp32"))["device"] == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert hashed() == hashed("device=cuda") != on_cpu  # never skipped for the CPU's row
    assert cell_of(make_cfg("precision=fp32"))["device"] == "cuda"


def test_the_glue_sweeps_default_to_auto():
    from omegaconf import OmegaConf

    from tests.conftest import CONF

    for sweep in ("glue_lora", "glue_methods"):
        defaults = OmegaConf.load(CONF / "sweep" / f"{sweep}.yaml").defaults
        assert {"override /precision": "auto"} in [OmegaConf.to_container(d) for d in defaults], sweep


def test_bitfit_trains_in_bf16_a_layernorm_bias_beside_its_frozen_weight():
    """A bf16 base with BitFit's fp32 biases: the LayerNorm whose bias trains keeps its weight in
    fp32 too (autocast does not cast LayerNorm's arguments), a linear layer stays bf16."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from harness.precision import keep_trainable_in_fp32

    model = BertForSequenceClassification(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                                     intermediate_size=64, vocab_size=100)).to(torch.bfloat16)
    for name, p in model.named_parameters():
        p.requires_grad_(name.endswith(".bias") or name.startswith("classifier"))
    keep_trainable_in_fp32(model)
    assert model.bert.embeddings.LayerNorm.weight.dtype == torch.float32
    assert model.bert.encoder.layer[0].attention.self.query.weight.dtype == torch.bfloat16
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(input_ids=torch.randint(0, 100, (2, 8)), labels=torch.tensor([0, 1])).loss
    loss.backward()
    assert model.bert.embeddings.LayerNorm.bias.grad is not None
