"""Table 5: the survey's qualitative method properties, filled with measured numbers.

Storage: bytes of the trainable weights. Memory: peak vs full fine-tuning. Backprop: median
train-step time vs full fine-tuning. Inference overhead: forward latency vs the base model,
adapters unmerged and merged. Ratios are taken within the same model, task, batch size,
precision and hardware.
"""

from __future__ import annotations

import pandas as pd

from harness.report import references
from harness.report.cells import number, ok_train_rows, reproduction_header, run_settings, shared
from harness.report.render import MISSING, Grid, Report
from harness.report.tables.memory_speed import peak_reading
from harness.report.tables.param_accounting import SURVEY_NAME

SURVEY_ROW = {**SURVEY_NAME, "p_tuning": "Prompt Tuning"}


def _ratio(a, b) -> str:
    return MISSING if a is None or b is None or pd.isna(a) or pd.isna(b) or b == 0 else f"{a / b:.2f}×"


def build(df: pd.DataFrame) -> Report:
    rows = ok_train_rows(df)
    survey = references.load("survey_method_properties").set_index("method")
    body = []
    keys = ["model", "task", "batch_size", "precision", "device_name"]
    for key, group in rows.groupby(keys, sort=True, dropna=False):
        full = group[group["method"] == "full_ft"]
        full_mem = peak_reading(full.iloc[-1])[0] if not full.empty else None
        full_step = full["step_time_median_s"].median() if not full.empty else None
        for label, m in group.groupby("method_label", sort=True):
            r = m.iloc[-1]
            s = survey.loc[SURVEY_ROW[r["method"]]] if SURVEY_ROW.get(r["method"]) in survey.index else None
            body.append([str(key[0]), str(key[1]), f"{key[4]}, {key[3]}{shared(m)}", label,
                         number(r["adapter_size_bytes"] / 1e6 if pd.notna(r["adapter_size_bytes"]) else None, 2),
                         _ratio(peak_reading(r)[0], full_mem), _ratio(m["step_time_median_s"].median(), full_step),
                         number(r["latency_ratio_adapted"], 2), number(r["latency_ratio_merged"], 2),
                         s["type"] if s is not None else MISSING,
                         s["inference_overhead"] if s is not None else MISSING])
    columns = ["Model", "Task", "Hardware, precision", "Method", "Storage (MB)", "Peak memory vs full FT", "Step time vs full FT",
               "Latency unmerged / base", "Latency merged / base", "Survey type", "Survey inference overhead"]
    notes = ["Survey: Lialin et al. 2023, Table 1 (A additive, S selective, R reparametrisation).",
             "Latency: median forward time at a fixed batch and length (measure.latency_*), after training.",
             "A GPU shared with other processes (NVML's process list, `gpu_other_processes`) or CPU cores other "
             "work kept busy (`cpu_others_busy_cores`) are named in the hardware column: those step times are not "
             "the method's alone.",
             "On CPU, peak memory is the training phase's peak RSS, which includes the runtime and the loaded "
             "model; ratios understate savings."]
    return Report("method_properties", "Method properties, measured (survey Table 1, filled in)",
                  reproduction_header(rows), [Grid("Measured", columns, body)], notes,
                  details=run_settings(rows))
