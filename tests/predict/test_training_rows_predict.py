"""A training row carries the trace's prediction for the device it ran on, beside what was
measured: memory and step time, the predictor's version and the device's profile."""

import pytest

from harness.predict.cpu_profile import STEADY_ALLOCATOR
from harness.record.environment import cpu_name
from harness.record.store import load_results
from tests.conftest import GLUE_DIR, run_cli


@pytest.mark.slow
def test_a_training_row_carries_the_traced_prediction_for_its_cpu(tmp_path):
    proc = run_cli("model=llama_ladder_xs", "task=glue/rte", "method=lora", "precision=fp32", f"data.glue_dir={GLUE_DIR}",
                   "data.max_train_samples=16", "data.max_eval_samples=8", "train.batch_size=8",
                   "train.max_seq_length=64", "train.num_threads=1", "measure.latency_repeats=0",
                   "measure.count_changed=false", "measure.predict=true", f"results_dir={tmp_path}",
                   env={"PEFT_BENCH_PREDICT_TRAINING_ROWS": "true", "PEFT_BENCH_CPU_PROFILE": "measure",
                        **STEADY_ALLOCATOR})
    assert proc.returncode == 0, proc.stderr[-3000:]
    row = load_results(tmp_path).iloc[0]
    assert row["status"] == "ok"
    assert row["predictor_version"].startswith("trace-roofline")
    assert row["predicted_device"].startswith(cpu_name())
    assert row["predicted_mem_total_bytes"] > row["predicted_mem_weights_bytes"] > 0
    assert row["predicted_step_s"] > 0 and row["step_time_median_s"] > 0
    split = sum(row[f"predicted_{c}_s"] for c in ("matmul", "attention", "elementwise", "copy", "optimizer"))
    assert split <= row["predicted_step_s"] * 1.001
    assert row["predicted_seq_len"] <= 64
