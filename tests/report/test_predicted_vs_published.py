"""The predicted-vs-published report: each published GPU measurement beside the prediction made
for it, ratios and error statistics over the settings the harness models, predictions never
shown as measurements, and the BELLE and ChatGLM tables' predicted columns."""

import pandas as pd

from harness.record.store import conform
from harness.report import references
from harness.report.tables import belle_lora_vs_ft, memory_speed, predicted_vs_published
from harness.report.tables.predicted_vs_published import error_summary

GB = 1e9


def predict_row(reference, reserved_gb, tokens_per_s, **extra):
    return {"run_id": reference or "x", "mode": "predict", "status": "ok", "predicted_reference": reference,
            "timestamp_utc": "2026-12-03T00:00:00+00:00", "predicted_mem_total_bytes": 0.9 * reserved_gb * GB,
            "predicted_mem_reserved_bytes": reserved_gb * GB, "predicted_train_tokens_per_s": tokens_per_s,
            "predicted_fits": True, **extra}


def test_error_summary():
    assert error_summary([1.1, 0.8, None, 1.0]) == "median |error| 10.0 %, worst -20.0 % (3 points)"
    assert error_summary([None]) == "no prediction yet"


def test_rows_pair_with_their_reference_and_unmodelled_ones_stay_out_of_the_statistics():
    refs = references.load("gpu_training_measurements")
    assert len(refs) >= 12 and refs["source"].nunique() >= 4 and refs["id"].is_unique
    qwen = refs[refs["id"] == "qwen7b_lora_2048"].iloc[0]
    unmodelled = refs[refs["not_modelled"].notna()].iloc[0]
    rows = conform(pd.DataFrame([predict_row("qwen7b_lora_2048", 1.1 * qwen["memory_gb"], 2 * qwen["tokens_per_s"]),
                                 predict_row(unmodelled["id"], 5 * unmodelled["memory_gb"], 1.0)]))
    report = predicted_vs_published.build(rows)
    grid = report.grids[0]
    by_id = {r[0].rstrip(" †"): r for r in grid.rows}
    assert by_id["qwen7b_lora_2048"][5] == "1.10" and by_id["qwen7b_lora_2048"][8] == "2.00"
    assert any(r[0] == f"{unmodelled['id']} †" for r in grid.rows)
    assert any(line.startswith(f"† {unmodelled['id']}:") for line in grid.footnotes)
    memory_line = next(h for h in report.header if h.startswith("Memory, where the reading is unstated"))
    assert memory_line.endswith("median |error| 10.0 %, worst +10.0 % (1 points)")  # the unmodelled x5 left out
    in_sample = next(h for h in report.header if h.startswith("Throughput, in-sample"))
    assert in_sample.endswith("median |error| 100.0 %, worst +100.0 % (1 points)")
    assert any("none is a measurement" in n for n in report.notes)


def test_predictions_never_enter_the_measured_memory_table_but_fill_the_chatglm_column():
    row = predict_row("glm_lora_b4_fp16", 25.0, 1000.0, model="chatglm_6b_shape", method="lora", task="instruct/x",
                      batch_size=4, precision="fp16", device="cpu")
    report = memory_speed.build(conform(pd.DataFrame([row])))
    captions = [g.caption for g in report.grids]
    assert not any(c.startswith("Reproduced on") for c in captions)
    chatglm = next(g for g in report.grids if g.caption.startswith("Published (ChatGLM-6B)"))
    lora_b4 = next(r for r in chatglm.rows if r[:4] == ["lora", "r=8", "4", "fp16"])
    assert lora_b4[5] == "25.00" and lora_b4[6] == "1.25"


def test_belle_hours_predicted_for_eight_a100s_scale_with_the_data():
    row = {"run_id": "b", "mode": "predict", "status": "ok", "model": "llama_7b", "method": "full_ft",
           "method_args": "{}", "distributed": "fsdp", "predicted_gpu": "A100-40GB", "predicted_gpus": 8,
           "predicted_fits": True, "predicted_hours_per_epoch": 30.0, "predicted_train_examples": 2_000_000,
           "timestamp_utc": "2026-12-03T00:00:00+00:00"}
    report = belle_lora_vs_ft.build(conform(pd.DataFrame([row])))
    table = report.grids[0]
    column = table.columns.index("h/epoch (predicted, 8×A100-40GB)")
    full = {r[2]: r[column] for r in table.rows if r[0] == "LLaMA-7B" and r[1] == "full_ft"}
    assert full == {"belle_2M": "30.0", "belle_0.6M": "9.0"}
    lora = [r[column] for r in table.rows if r[0] == "LLaMA-7B" and r[1] == "lora"]
    assert all(v.endswith("(not predicted)") for v in lora)
