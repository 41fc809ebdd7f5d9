"""Table 3: peak memory and speed by method x batch size x precision (the ChatGLM
hardware table's layout), beside the published ChatGLM-6B numbers."""

from __future__ import annotations

import pandas as pd

from harness.report import references
from harness.report.cells import collapse_missing, number, reproduction_header, run_settings, shared, train_rows
from harness.report.render import MISSING, Grid, Report
from harness.report.tables.predicted_vs_published import predict_rows

GB = 1e9


def peak_reading(row) -> tuple[float | None, str]:
    """The memory figure of a run's training and which reading it is: on GPU the device's own
    view (NVML) when sampled, else torch's reserved peak; on CPU the peak RSS of the training
    phase (never the process's, whose model-loading spike is not training)."""
    for col, name in [("peak_gpu_mem_nvml_bytes", "GPU, NVML"), ("peak_gpu_mem_reserved_bytes", "GPU, reserved"),
                      ("peak_cpu_rss_train_bytes", "CPU peak RSS, training")]:
        if pd.notna(row.get(col)):
            return row[col] / GB, name
    return None, ""


def _gb(x) -> str:
    return number(x / GB) if x is not None and pd.notna(x) else MISSING


def _ratio(a, b) -> str:
    return f"{a / b:.2f}" if a is not None and b and pd.notna(a) and pd.notna(b) else MISSING


def _mfu(ok: pd.DataFrame) -> str:
    values = ok["mfu"].dropna()
    return f"{100 * values.mean():.1f} %" if not values.empty else MISSING


def _gpu_cells(ok: pd.DataFrame) -> list[str]:
    """Allocated, reserved and NVML peaks beside the predicted total (which predicts allocated)."""
    allocated, predicted = ok["peak_gpu_mem_allocated_bytes"].mean(), ok["predicted_mem_total_bytes"].mean()
    return [_gb(allocated), _gb(ok["peak_gpu_mem_reserved_bytes"].mean()), _gb(ok["peak_gpu_mem_nvml_bytes"].mean()),
            _gb(predicted), _ratio(predicted, allocated)]


def _cpu_cells(ok: pd.DataFrame) -> list[str]:
    """What training adds on top of the loaded model: the peak RSS of the training phase over its
    start, beside the predicted gradients + optimizer state + activations (the prediction's part
    that training adds; the runtime and the loaded weights are in both start and peak)."""
    grown = (ok["peak_cpu_rss_train_bytes"] - ok["cpu_rss_train_start_bytes"]).mean()
    predicted = (ok["predicted_mem_total_bytes"] - ok["predicted_mem_weights_bytes"]).mean()
    return [_gb(ok["peak_cpu_rss_train_bytes"].mean()), _gb(grown), _gb(predicted), _ratio(predicted, grown)]


KEYS = ["model", "method_label", "batch_size", "precision"]
SPEED = ["Examples/s", "Tokens/s", "MFU", "Device"]
GPU_COLUMNS = ["Peak allocated (GB)", "Peak reserved (GB)", "NVML (GB)", "Predicted (GB)", "Predicted / allocated"]
CPU_COLUMNS = ["Peak RSS, training (GB)", "Growth in training (GB)", "Predicted growth (GB)", "Predicted / growth"]


def memory_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The table's rows: training runs of instruction (causal-LM) tasks, the published table's setting."""
    rows = train_rows(df)
    return rows[rows["task"].fillna("").str.startswith("instruct/")]


def build(df: pd.DataFrame) -> Report:
    rows = memory_rows(df)
    grids, missing = [], []
    for device, cells, mem_columns in [("cuda", _gpu_cells, GPU_COLUMNS), ("cpu", _cpu_cells, CPU_COLUMNS)]:
        body = []
        for key, group in rows[rows["device"] == device].groupby(KEYS, sort=True, dropna=False):
            ok = group[group["status"] == "ok"]
            if ok.empty:
                missing.append(((f"{key[1]} × batch {key[2]} × {key[3]}", str(key[0])), group))
                continue
            body.append([*map(str, key), *cells(ok), number(ok["train_examples_per_s"].mean(), 1),
                         number(ok["train_tokens_per_s"].mean(), 0), _mfu(ok), f"{ok['device_name'].iloc[-1]}{shared(ok)}"])
        if body:
            grids.append(Grid(f"Reproduced on {'GPU' if device == 'cuda' else 'CPU'}",
                              ["Model", "Method", "Batch", "Precision", *mem_columns, *SPEED], body))
    unplaced = rows[~rows["device"].isin(["cuda", "cpu"])]  # failed before the device was known
    for key, group in unplaced.groupby(KEYS, sort=True, dropna=False):
        missing.append(((f"{key[1]} × batch {key[2]} × {key[3]}", str(key[0])), group))
    if missing:
        if not grids:
            grids.append(Grid("Reproduced", ["Model", "Method", "Batch", "Precision"], []))
        grids[-1].footnotes = collapse_missing(missing)
    published = references.load("chatglm_memory_speed")
    predicted = predict_rows(df)
    pub_body = []
    for _, r in published.iterrows():
        ref = f"glm_{r['method'].replace('_', '')}_b{r['batch_size']}_{r['precision']}"
        row = predicted.loc[ref] if ref in predicted.index else None
        pub_body.append([r["method"], r["method_arg"], str(r["batch_size"]), r["precision"], f"{r['gpu_memory_gb']:g}",
                         _gb(row["predicted_mem_reserved_bytes"]) if row is not None else MISSING,
                         _ratio(row["predicted_mem_reserved_bytes"] / GB, r["gpu_memory_gb"]) if row is not None
                         else MISSING, f"{r['examples_per_s']:g}"])
    grids.append(Grid("Published (ChatGLM-6B) beside predicted for its architecture",
                      ["Method", "Arg", "Batch", "Precision", "GPU memory (GB)", "Predicted reserved (GB)",
                       "Predicted / published", "Examples/s"], pub_body))
    notes = ["Published: ChatGLM-Efficient-Tuning README, hardware requirements (ChatGLM-6B, GPU).",
             "Predicted (not measured): `mode=predict` for ChatGLM-6B's shapes written as GPT-NeoX "
             "(conf/model/chatglm_6b_shape.yaml; the table names no sequence length: 512 tokens assumed, eager "
             "attention, an 80 GB A100), `python -m harness.predict.published`; reserved peak, CUDA context apart.",
             "Rows: training runs of instruction (causal-LM) tasks, the table's setting.",
             "GPU: torch's allocated and reserved peaks of the training phase, and the device's own view through "
             "NVML (CUDA context included). The prediction (the traced step, harness/predict/: the same predictor "
             "as mode=predict, for the device the row ran on) predicts the allocated peak.",
             "CPU: the process's resident set includes the Python runtime and libraries, which no prediction "
             "covers, so the table compares what training adds: the training phase's peak RSS over the RSS at its "
             "start, beside the predicted gradients + AdamW state + activations.",
             "Examples/s and tokens/s are steady state (warm-up steps excluded), tokens without padding.",
             "MFU: model FLOPs per token (harness/measure/flops.py) × tokens/s over the device's dense 16-bit peak; "
             "— where the peak is unknown (every CPU)."]
    return Report("memory_speed", "Memory and speed: method × batch size × precision", reproduction_header(rows),
                  grids, notes, details=run_settings(rows))
