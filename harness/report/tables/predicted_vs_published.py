"""Predicted beside published: every published GPU training measurement the project carries
(harness/report/references/gpu_training_measurements.csv) next to the `mode=predict` row made
for it (`python -m harness.predict.published`), with the ratio and the error statistics.

Memory: the sources say "GPU memory" without saying which reading; what a user sees for a
training process (nvidia-smi, or torch's reserved pool) is the reserved peak, so the reserved
prediction is compared. Time: tokens per second of all GPUs, from the published step time or
examples per second where the source gives those.
"""

from __future__ import annotations

import statistics

import pandas as pd

from harness.report import references
from harness.report.cells import number
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


def comparisons(df: pd.DataFrame) -> pd.DataFrame:
    """One row per published measurement: published and predicted memory (GB) and tokens/s."""
    refs = references.load("gpu_training_measurements")
    predicted = predict_rows(df)
    out = []
    for _, ref in refs.iterrows():
        row = predicted.loc[ref["id"]] if ref["id"] in predicted.index else None
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
    table = comparisons(df)
    body, mem_ratios, tps_ratios, unmodelled = [], [], [], []
    for _, r in table.iterrows():
        mem, tps = _ratio(r["reserved_gb"], r["published_gb"]), _ratio(r["predicted_tps"], r["published_tps"])
        mark = ""
        if pd.notna(r["not_modelled"]):
            unmodelled.append(f"† {r['id']}: {r['not_modelled']}")
            mark = " †"
        else:
            mem_ratios.append(mem)
            tps_ratios.append(tps)
        setting = (f"{r['model']} {r['method']}, {r['batch']} × {r['seq']}, {r['precision']}"
                   f"{', checkpointing' if r['checkpointing'] else ''}, {r['attention']}")
        predicted_gb = (f"{number(r['allocated_gb'], 1)} / {number(r['reserved_gb'], 1)}"
                        if r["reserved_gb"] is not None and pd.notna(r["reserved_gb"]) else MISSING)
        body.append([r["id"] + mark, setting, r["gpu"],
                     number(r["published_gb"], 1) if r["published_gb"] is not None else MISSING, predicted_gb,
                     number(mem, 2) if mem is not None else MISSING,
                     number(r["published_tps"], 0) if r["published_tps"] is not None else MISSING,
                     number(r["predicted_tps"], 0) if r["predicted_tps"] is not None else MISSING,
                     number(tps, 2) if tps is not None else MISSING])
    predicted = table["reserved_gb"].notna().sum()
    header = [f"Predictions: `mode=predict` (one training step traced on fake tensors, no GPU) for the named GPU; "
              f"{predicted} of {len(table)} published measurements predicted",
              f"Memory, predicted reserved / published: {error_summary(mem_ratios)}",
              f"Throughput, predicted / published tokens/s: {error_summary(tps_ratios)}",
              f"Left out of both ({len(unmodelled)}, marked †): settings the harness does not model, each with why "
              f"under the table",
              f"Sources: {', '.join(sorted(set(table['source'])))}"]
    grid = Grid("Predicted (for the named GPU) beside published GPU measurements",
                ["Reference", "Setting (batch × length)", "GPU", "Published (GB)", "Predicted allocated / reserved (GB)",
                 "Reserved / published", "Published tokens/s", "Predicted tokens/s", "Predicted / published"], body,
                footnotes=unmodelled)
    notes = ["Every row is a prediction for a GPU this project did not use; none is a measurement.",
             "Published memory: the sources say \"GPU memory\" without naming the reading; the predicted reserved "
             "peak (torch's caching pool, what nvidia-smi shows less the CUDA context) is compared with it.",
             "Predicted tokens/s count every position of the padded batches. The efficiency per regime "
             "(harness/predict/speed.py) is fitted to the Qwen README's LoRA and Q-LoRA rows and peft's full "
             "fine-tuning row, so those are in-sample; the others test it.",
             "Settings behind each row (sequence lengths assumed where a source gives none, GPTQ predicted as NF4, "
             "fused projections as separate ones): harness/report/references/gpu_training_measurements.csv, "
             "columns notes and overrides."]
    return Report("predicted_vs_published", "Predicted vs published GPU training cost", header, [grid], notes)
