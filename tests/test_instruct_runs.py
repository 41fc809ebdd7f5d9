"""Instruction SFT end to end on a tiny random-init causal LM (CPU): rows ok, loss falls."""

import uuid

import pytest

from harness.cell import run_cell
from tests.conftest import make_cfg


def sft(method: str, precision: str, lr: str) -> dict:
    cfg = make_cfg("model=llama_ladder_xs", "task=instruct/gsm8k", f"method={method}", f"precision={precision}",
                   "data.max_train_samples=64", "data.max_eval_samples=4", "train.batch_size=8",
                   "train.max_steps=8", "train.warmup_ratio=0", f"train.lr={lr}", "train.max_seq_length=96",
                   "task.max_new_tokens=8", "measure.latency_repeats=1")
    return run_cell(cfg, {"run_id": uuid.uuid4().hex, "config_hash": "test"})


@pytest.mark.slow
@pytest.mark.parametrize("method, precision, lr", [("lora", "fp32", "5e-3"), ("full_ft", "fp32", "1e-3"),
                                                   ("lora", "int4", "5e-3")])
def test_sft_writes_ok_rows_with_falling_loss(method, precision, lr):
    row = sft(method, precision, lr)
    assert row["status"] == "ok", row.get("error")
    assert row["final_train_loss"] < row["first_train_loss"]
    assert row["random_init"] is True and row["scorer"] == "gsm8k_exact_match"
    assert row["gen_tokens_per_s"] > 0 and row["eval_examples"] == 4
    assert row["params_trainable"] > 0


@pytest.mark.slow
def test_fp16_on_cpu_is_unsupported_not_a_crash():
    row = sft("lora", "fp16", "1e-3")
    assert row["status"] == "unsupported" and "CUDA" in row["error"]
