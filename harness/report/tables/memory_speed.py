"""Table 3: peak memory and speed by method x batch size x precision (the ChatGLM
hardware table's layout), beside the published ChatGLM-6B numbers."""

from __future__ import annotations

import pandas as pd

from harness.report import references
from harness.report.cells import collapse_missing, number, reproduction_header, train_rows, why_missing
from harness.report.render import MISSING, Grid, Report

GB = 1e9


def peak_reading(row) -> tuple[float | None, str]:
    """The memory figure to show and which reading it is: NVML (device's view) when sampled,
    else torch's reserved, else the CPU peak RSS of training alone, else the process's."""
    for col, name in [("peak_gpu_mem_nvml_bytes", "GPU, NVML"), ("peak_gpu_mem_reserved_bytes", "GPU, reserved"),
                      ("peak_cpu_rss_train_bytes", "CPU peak RSS, training"),
                      ("peak_cpu_rss_bytes", "CPU peak RSS, process")]:
        if pd.notna(row.get(col)):
            return row[col] / GB, name
    return None, ""


def _mfu(ok: pd.DataFrame) -> str:
    values = ok["mfu"].dropna()
    return f"{100 * values.mean():.1f} %" if not values.empty else MISSING


def build(df: pd.DataFrame) -> Report:
    rows = train_rows(df)
    body, missing = [], []
    keys = ["model", "task", "method_label", "batch_size", "precision"]
    for key, group in rows.groupby(keys, sort=True, dropna=False):
        ok = group[group["status"] == "ok"]
        if ok.empty:
            missing.append(((f"{key[2]} × batch {key[3]} × {key[4]}", f"{key[0]}, {key[1]}"), group))
            continue
        mem = [peak_reading(r) for _, r in ok.iterrows()]
        values = [m for m, _ in mem if m is not None]
        body.append([*map(str, key), number(sum(values) / len(values)) if values else why_missing(group),
                     mem[0][1], number(ok["predicted_mem_total_bytes"].mean() / GB),
                     number(ok["train_examples_per_s"].mean(), 1), number(ok["train_tokens_per_s"].mean(), 0),
                     _mfu(ok), ok["device_name"].iloc[-1]])
    columns = ["Model", "Task", "Method", "Batch", "Precision", "Peak memory (GB)", "Reading",
               "Predicted (GB)", "Examples/s", "Tokens/s", "MFU", "Device"]
    published = references.load("chatglm_memory_speed")
    pub_body = [[r["method"], r["method_arg"], str(r["batch_size"]), r["precision"], f"{r['gpu_memory_gb']:g}",
                 f"{r['examples_per_s']:g}"] for _, r in published.iterrows()]
    grids = [Grid("Reproduced", columns, body, footnotes=collapse_missing(missing)),
             Grid("Published (ChatGLM-6B)", ["Method", "Arg", "Batch", "Precision", "GPU memory (GB)", "Examples/s"],
                  pub_body)]
    notes = ["Published: ChatGLM-Efficient-Tuning README, hardware requirements (ChatGLM-6B, GPU).",
             "Peak memory: on GPU the device's own view through NVML (includes the CUDA context); on CPU the run "
             "process's peak resident set size (includes the Python runtime and libraries).",
             "Predicted: weights + gradients + AdamW state + activations (harness/measure/predicted_memory.py).",
             "Examples/s and tokens/s are steady state (warm-up steps excluded), tokens without padding.",
             "MFU: model FLOPs per token (harness/measure/flops.py) × tokens/s over the device's dense 16-bit peak; "
             "— where the peak is unknown (every CPU)."]
    return Report("memory_speed", "Memory and speed: method × batch size × precision", reproduction_header(rows),
                  grids, notes)
