"""mode=predict end to end: one row per cell with the predicted_* columns, the memory moving the
way it must with batch, checkpointing, quantisation and data parallelism, the largest batch
that fits, errors in one line, and predictions kept out of the regression gate."""

import pandas as pd
import pytest

from harness.predict import cell as predict_cell
from harness.predict.gpus import gpu
from harness.record.store import load_results
from harness.regress.compare import compare
from harness.regress.rules import load_rules
from tests.conftest import REPO, make_cfg, run_cli

COMMON = ("model=llama_ladder_s", "task=instruct/alpaca_belle", "method=lora", "predict.seq_len=128")


def predict(*overrides) -> dict:
    cfg = make_cfg("mode=predict", *COMMON, *overrides)
    row = {}
    predict_cell.predict_cell(cfg, row)
    return row


def test_cli_writes_one_predicted_row(tmp_path):
    proc = run_cli("mode=predict", *COMMON, "precision=bf16", "train.batch_size=8", "predict.gpu=RTX4090",
                   f"results_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = load_results(tmp_path)
    assert len(rows) == 1
    row = rows.iloc[0]
    assert row["mode"] == "predict" and row["status"] == "ok" and row["predicted_gpu"] == "RTX4090"
    assert row["predicted_fits"] and pd.isna(row["predicted_max_batch_size"])  # searched only when asked
    assert row["predicted_mem_reserved_bytes"] >= row["predicted_mem_total_bytes"] > row["predicted_mem_weights_bytes"]
    assert row["predicted_step_s"] > 0 and row["predicted_train_tokens_per_s"] > 0 and 0 < row["predicted_mfu"] <= 1
    assert row["predicted_seq_len"] == 128 and row["params_trainable"] > 0  # count mode's columns too
    assert pd.isna(row["peak_gpu_mem_allocated_bytes"])  # nothing measured


def test_unknown_gpu_fails_in_one_line_before_any_work(tmp_path):
    proc = run_cli("mode=predict", *COMMON, "predict.gpu=B300", f"results_dir={tmp_path}")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "known: H100" in proc.stderr
    assert not list(tmp_path.glob("runs/*.parquet"))


def test_memory_grows_with_the_batch_and_falls_with_checkpointing_and_quantisation():
    small, large = predict("train.batch_size=2"), predict("train.batch_size=8")
    assert large["predicted_mem_activations_bytes"] > 3 * small["predicted_mem_activations_bytes"]
    assert large["predicted_mem_weights_bytes"] == small["predicted_mem_weights_bytes"]
    checkpointed = predict("train.batch_size=8", "train.gradient_checkpointing=true")
    assert checkpointed["predicted_mem_total_bytes"] < large["predicted_mem_total_bytes"]
    assert checkpointed["predicted_step_flops"] > large["predicted_step_flops"]  # the forward is recomputed
    int4 = predict("train.batch_size=8", "precision=int4")
    assert int4["predicted_mem_weights_bytes"] < large["predicted_mem_weights_bytes"]


def test_data_parallel_memory_per_gpu():
    one = predict("train.batch_size=4", "precision=bf16", "method=full_ft")
    ddp = predict("train.batch_size=4", "precision=bf16", "method=full_ft", "train.distributed=ddp", "predict.gpus=4")
    fsdp = predict("train.batch_size=4", "precision=bf16", "method=full_ft", "train.distributed=fsdp", "predict.gpus=4")
    assert ddp["predicted_mem_total_bytes"] > one["predicted_mem_total_bytes"]  # DDP's gradient buckets
    assert fsdp["predicted_mem_total_bytes"] < one["predicted_mem_total_bytes"]  # sharded states
    assert ddp["predicted_comm_s"] > 0 and fsdp["predicted_comm_s"] > 0 and one["predicted_comm_s"] == 0
    assert ddp["predicted_train_examples_per_s"] > one["predicted_train_examples_per_s"]


def test_max_batch_is_the_largest_that_fits():
    cfg = make_cfg("mode=predict", *COMMON, "precision=bf16")
    target = gpu("T4")
    target = type(target)(**{**target.__dict__, "memory_mib": 1400})  # a small card makes the search short
    best = predict_cell.max_batch_size(cfg, target, 128)
    assert best >= 1
    assert predict_cell._fits(cfg, target, best, 128) and not predict_cell._fits(cfg, target, best + 1, 128)


def test_bf16_on_a_gpu_without_it_is_unsupported():
    with pytest.raises(Exception, match="has no bf16"):
        predict("precision=bf16", "predict.gpu=T4")


def test_the_regression_gate_leaves_predictions_out():
    rules = load_rules(REPO / "conf" / "regress" / "default.yaml")
    row = {"run_id": "r", "config_hash": "h", "mode": "predict", "status": "ok", "model": "m", "method": "lora",
           "task": "t", "precision": "bf16", "batch_size": 1, "seed": 1, "semantics_version": 2,
           "predicted_mem_total_bytes": 1.0, "device_name": None}
    from harness.record.store import conform
    baseline = conform(pd.DataFrame([row]))
    current = conform(pd.DataFrame([{**row, "predicted_mem_total_bytes": 100.0}]))
    result = compare(baseline, current, rules)
    assert not result.cells and not result.missing and any("predicted row" in w for w in result.warnings)


def test_cells_recorded_before_predict_existed_keep_their_identity():
    from omegaconf import OmegaConf

    from harness.launch import config_hash

    resolved = OmegaConf.to_container(make_cfg(), resolve=True)
    before = {k: v for k, v in resolved.items() if k != "predict"}
    before["train"] = {k: v for k, v in before["train"].items() if k not in ("gradient_checkpointing", "lr_factor",
                                                                               "stage")}
    assert config_hash(resolved) == config_hash(before)  # committed rows stay the same cells (resume skips them)
    checkpointed = OmegaConf.to_container(make_cfg("train.gradient_checkpointing=true"), resolve=True)
    assert config_hash(checkpointed) != config_hash(resolved)
    on_a100 = OmegaConf.to_container(make_cfg("mode=predict", "predict.gpu=A100-80GB"), resolve=True)
    on_h100 = OmegaConf.to_container(make_cfg("mode=predict", "predict.gpu=H100"), resolve=True)
    assert config_hash(on_a100) != config_hash(on_h100)


@pytest.mark.parametrize("method", ["loha", "lokr"])
def test_lycoris_methods_predict(method):
    """LoHa and LoKr draw a module-dropout number per training step; at dropout 0 they trace."""
    row = predict(f"method={method}")
    lora = predict("method=lora")
    assert row["predicted_fits"] and row["predicted_mem_reserved_bytes"] > 0
    assert row["params_trainable"] != lora["params_trainable"]



@pytest.mark.parametrize("precision", ["int4", "int8"])
def test_predict_refuses_full_fine_tuning_of_quantised_weights_as_training_does(precision):
    from harness.errors import UnsupportedError, status_of

    with pytest.raises(UnsupportedError, match="quantised .* and cannot be trained") as caught:
        predict("method=full_ft", f"precision={precision}")
    assert status_of(caught.value) == "unsupported"


def test_the_time_model_tells_methods_apart():
    """DoRA's weight norms and AdaLoRA's extra products cost time; LN tuning's backward stops early."""
    tokens = {m: predict(f"method={m}", "precision=bf16", "train.batch_size=8", "predict.gpu=H100")
              ["predicted_train_tokens_per_s"] for m in ("lora", "dora", "adalora", "ln_tuning")}
    assert tokens["dora"] < 0.9 * tokens["lora"] and tokens["adalora"] < 0.95 * tokens["lora"]
    assert tokens["ln_tuning"] > 1.05 * tokens["lora"], tokens


def test_loha_and_lokr_predict():
    for method in ("loha", "lokr"):
        row = predict(f"method={method}", "precision=bf16", "train.batch_size=4")
        assert row["predicted_step_s"] > 0 and row["predicted_mem_total_bytes"] > 0
