"""Predicted beside published: every published GPU training measurement the project carries
(harness/report/references/gpu_training_measurements.csv) next to the `mode=predict` row made
for it (`python -m harness.predict.published`), with the ratio and the error statistics.

Memory: where a source states its reading as torch.cuda.max_memory_allocated (litgpt's
tables), the predicted allocated peak is compared with it; where it says only "GPU memory",
the reserved peak (what a user sees for a training process, nvidia-smi less the CUDA context).
Time: tokens per second of all GPUs, from the published step time or examples per second where
the source gives those. The two fitted GPU constants (harness/predict/profile.py) come from
`python -m harness.calibration` on the rows marked `role=fit`; its leave-one-source-out file
(references/gpu_time_fit.csv) gives each point's prediction with its own source left out of
the fit, so in-sample and out-of-sample errors are reported apart. Rows marked `held back`
(peft's method_comparison) are in no fit.
"""

from __future__ import annotations

import statistics

import pandas as pd

from harness.report import references
from harness.report.cells import hardware, number
from harness.report.render import MISSING, Grid, Report

GB = 1e9


def predict_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Ok `mode=predict` rows made for a published measurement, the newest per reference."""
    rows = df[(df["mode"] == "predict") & (df["status"] == "ok") & df["predicted_reference"].notna()]
    return rows.sort_values("timestamp_utc").groupby("predicted_reference").tail(1).set_index("predicted_reference")


def published_tokens_per_s(ref) -> float | None:
    if pd.notna(ref.get("tokens_per_s")):
        return float(ref["tokens_per_s"])
    if pd.notna(ref.get("examples_per_s")):
        return float(ref["examples_per_s"]) * float(ref["seq_len"])
    return None


def _time_fit() -> pd.DataFrame:
    """The calibration's in-sample and leave-one-source-out predictions, by reference id."""
    path = references.REFERENCE_DIR / "gpu_time_fit.csv"
    return pd.read_csv(path).set_index("id") if path.exists() else pd.DataFrame()


def _states_allocated(ref) -> bool:
    return "max_memory_allocated" in str(ref.get("memory_kind", ""))


def comparisons(predicted: pd.DataFrame) -> pd.DataFrame:
    """One row per published measurement: published and predicted memory (GB) and tokens/s, from
    the predictions made for them (predict_rows)."""
    refs = references.load("gpu_training_measurements")
    fit = _time_fit()
    out = []
    for _, ref in refs.iterrows():
        row = predicted.loc[ref["id"]] if ref["id"] in predicted.index else None
        folds = fit.loc[ref["id"]] if ref["id"] in fit.index else None
        out.append({
            "id": ref["id"], "source": ref["source"], "model": ref["model"], "method": ref["method"],
            "batch": int(ref["batch_size"]), "seq": int(ref["seq_len"]), "precision": ref["precision"],
            "checkpointing": str(ref["gradient_checkpointing"]) == "True", "attention": ref["attention"],
            "gpu": ref["gpu"], "published_gb": ref["memory_gb"] if pd.notna(ref["memory_gb"]) else None,
            "published_tps": published_tokens_per_s(ref),
            "allocated_gb": row["predicted_mem_total_bytes"] / GB if row is not None else None,
            "reserved_gb": row["predicted_mem_reserved_bytes"] / GB if row is not None else None,
            "predicted_tps": row["predicted_train_tokens_per_s"] if row is not None else None,
            "fits": row["predicted_fits"] if row is not None else None,
            "role": ref.get("role", "fit"), "allocated_reading": _states_allocated(ref),
            "out_of_sample_tps": folds["out_of_sample_tokens_per_s"] if folds is not None else None,
            "not_modelled": ref["not_modelled"] if pd.notna(ref.get("not_modelled")) and ref["not_modelled"] else None,
        })
    return pd.DataFrame(out)


def _ratio(predicted, published) -> float | None:
    if predicted is None or published is None or pd.isna(predicted) or pd.isna(published) or not published:
        return None
    return float(predicted) / float(published)


def error_summary(ratios: list[float]) -> str:
    """'median |error| x %, worst y % (n)' of predicted/published ratios."""
    ratios = [r for r in ratios if r is not None]
    if not ratios:
        return "no prediction yet"
    errors = [abs(r - 1) for r in ratios]
    worst = max(ratios, key=lambda r: abs(r - 1))
    return f"median |error| {100 * statistics.median(errors):.1f} %, worst {100 * (worst - 1):+.1f} % ({len(errors)} points)"


def build(df: pd.DataFrame) -> Report:
    made = predict_rows(df)
    table = comparisons(made)
    body, unmodelled = [], []
    mem_stated, mem_other, tps_in, tps_out, held_mem, held_tps = [], [], [], [], [], []
    for _, r in table.iterrows():
        compared_gb = r["allocated_gb"] if r["allocated_reading"] else r["reserved_gb"]
        mem, tps = _ratio(compared_gb, r["published_gb"]), _ratio(r["predicted_tps"], r["published_tps"])
        out = _ratio(r["out_of_sample_tps"], r["published_tps"])
        mark = ""
        if pd.notna(r["not_modelled"]):
            unmodelled.append(f"† {r['id']}: {r['not_modelled']}")
            mark = " †"
        elif r["role"] == "held back":
            held_mem.append(mem)
            held_tps.append(tps)
            mark = " ‡"
        else:
            (mem_stated if r["allocated_reading"] else mem_other).append(mem)
            tps_in.append(tps)
            tps_out.append(out)
        setting = (f"{r['model']} {r['method']}, {r['batch']} × {r['seq']}, {r['precision']}"
                   f"{', checkpointing' if r['checkpointing'] else ''}, {r['attention']}")
        predicted_gb = (f"{number(r['allocated_gb'], 1)} / {number(r['reserved_gb'], 1)}"
                        if r["reserved_gb"] is not None and pd.notna(r["reserved_gb"]) else MISSING)
        body.append([r["id"] + mark, setting, r["gpu"],
                     number(r["published_gb"], 1) if r["published_gb"] is not None else MISSING, predicted_gb,
                     (number(mem, 2) + (" (alloc.)" if r["allocated_reading"] else "")) if mem is not None else MISSING,
                     number(r["published_tps"], 0) if r["published_tps"] is not None else MISSING,
                     number(r["predicted_tps"], 0) if r["predicted_tps"] is not None else MISSING,
                     number(tps, 2) if tps is not None else MISSING,
                     number(out, 2) if out is not None else MISSING])
    predicted = table["reserved_gb"].notna().sum()
    sources = sorted(set(table["source"]))
    header = [f"Predictions: `mode=predict` (one training step traced on fake tensors, no GPU; step time from "
              f"each traced op's roofline) for the named GPU; {predicted} of {len(table)} published measurements "
              f"predicted, from {len(sources)} sources",
              f"Memory, where the source states torch.cuda.max_memory_allocated and the length (allocated vs "
              f"published): {error_summary(mem_stated)}",
              f"Memory, where the reading is unstated (reserved vs published): {error_summary(mem_other)}",
              f"Throughput, in-sample (GPU constants fitted on every fit point): {error_summary(tps_in)}",
              f"Throughput, out-of-sample (each source predicted with constants fitted on the others): "
              f"{error_summary(tps_out)}",
              f"Held back from every fit (‡, peft's method_comparison): memory {error_summary(held_mem)}; "
              f"throughput {error_summary(held_tps)}",
              f"Left out of all of these ({len(unmodelled)}, marked †): settings the harness does not model, each "
              f"with why under the table",
              f"Sources: {', '.join(sources)}",
              "Hardware: none measured here; predictions for the named GPUs"
              + (f", computed on {hardware(made.reset_index())}, predictor "
                 f"{', '.join(sorted(made['predictor_version'].dropna().unique()))}" if not made.empty else "")]
    grid = Grid("Predicted (for the named GPU) beside published GPU measurements",
                ["Reference", "Setting (batch × length)", "GPU", "Published (GB)", "Predicted alloc. / reserved (GB)",
                 "Memory ratio", "Published tokens/s", "Predicted tokens/s", "Ratio (in-sample)",
                 "Ratio (out of sample)"], body,
                footnotes=unmodelled)
    notes = ["Every row is a prediction for a GPU this project did not use; none is a measurement.",
             "Memory: the allocated prediction where the source names torch.cuda.max_memory_allocated (marked "
             "alloc.), else the reserved peak (torch's caching pool, what nvidia-smi shows less the CUDA context). "
             "Ratios are predicted / published.",
             "Predicted tokens/s count every position of the padded batches. Time is the sum over the traced ops of "
             "each one's roofline on the GPU's datasheet peak and bandwidth (harness/predict/step_time.py); two "
             "constants shared by all GPUs, the large-matmul efficiency and the host's cost per kernel, are fitted "
             "by `python -m harness.calibration` (harness/predict/profile.py names them and their sources). The "
             "out-of-sample column is the leave-one-source-out check (references/gpu_time_fit.csv).",
             "Settings behind each row (sequence lengths assumed where a source gives none, GPTQ predicted as NF4, "
             "fused projections as separate ones, DeepSpeed ZeRO-3 as FSDP): "
             "harness/report/references/gpu_training_measurements.csv, columns notes and overrides."]
    return Report("predicted_vs_published", "Predicted vs published GPU training cost", header, [grid], notes)
