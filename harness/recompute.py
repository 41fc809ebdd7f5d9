"""Recompute the predicted_* columns of recorded training rows from their recorded cells, with
the current predictor (a prediction needs no GPU): each row's identity columns (model, task,
method and its arguments, precision, batch, length, data cap, seed, accumulation,
checkpointing) give back its config, its step is traced, and memory and time are predicted for
the device the row ran on. GPU rows get both; a CPU row gets memory (the live tensor bytes do not
depend on the CPU) and time only when it ran on this CPU model (the profile is this machine's),
predicted at the thread count the row ran with. Each row is rewritten in place with
`predictor_version`; nothing else in it changes. A row that cannot be predicted here (a method
whose library is not installed) keeps its columns; `--stale` then recomputes, in the
environment that has it, only the rows the current predictor has not made.

    python -m harness.recompute [--results results] [--device cuda|cpu|all] [--stale]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)
PREDICTED = ("predictor_version", "predicted_device", "predicted_mem_weights_bytes", "predicted_mem_grads_bytes",
             "predicted_mem_optimizer_bytes", "predicted_mem_activations_bytes", "predicted_mem_total_bytes",
             "predicted_mem_logits_bytes", "predicted_mem_workspace_bytes", "predicted_mem_reserved_bytes",
             "predicted_mem_cuda_context_bytes", "predicted_fits", "predicted_seq_len", "predicted_mean_seq_len",
             "predicted_seq_len_source", "predicted_attention", "predicted_step_flops", "predicted_step_s",
             "predicted_comm_s", "predicted_train_examples_per_s", "predicted_train_tokens_per_s", "predicted_mfu",
             "predicted_matmul_s", "predicted_attention_s", "predicted_elementwise_s", "predicted_copy_s",
             "predicted_optimizer_s", "predicted_host_bound_s", "predicted_step_ops")


def overrides_of(row: pd.Series) -> list[str]:
    """The overrides that give back a row's cell."""
    out = [f"model={row['model']}", f"task={row['task']}", f"method={row['method']}",
           f"precision={row['precision']}", f"train.batch_size={int(row['batch_size'])}",
           f"train.max_seq_length={int(row['max_seq_length'])}", f"train.seed={int(row['seed'])}",
           f"train.grad_accum_steps={int(row['grad_accum_steps'])}",
           f"train.gradient_checkpointing={str(bool(row['train_gradient_checkpointing'])).lower()}"]
    if pd.notna(row.get("max_train_samples")):
        out.append(f"data.max_train_samples={int(row['max_train_samples'])}")
    for key, value in json.loads(row["method_args"] or "{}").items():
        out.append(f"method.{key}={json.dumps(value) if not isinstance(value, str) else value}")
    return out


def recompute(path: Path, device: str, cpu: str, stale: bool = False) -> str:
    import os

    import torch

    from harness.cli import compose_config
    from harness.predict.cell import training_prediction
    from harness.predict.step_time import VERSION
    from harness.record.store import read_table, write_frame

    df = read_table(path)
    row = df.iloc[0]
    if row["mode"] != "train" or row["status"] != "ok":
        return "skipped (not an ok training row)"
    if device != "all" and row.get("device") != device:
        return f"skipped (device {row.get('device')})"
    if stale and row.get("predictor_version") == VERSION:
        return f"skipped (already {VERSION})"
    cfg = compose_config([*overrides_of(row), "mode=train"])
    new: dict = {"device": row.get("device"), "device_name": row.get("device_name"),
                 "world_size": row.get("world_size"), "params_trainable": row.get("params_trainable")}
    threads = int(row.get("cpu_threads") or 0)
    this_cpu = row.get("device_name") == cpu and 0 < threads <= (os.cpu_count() or 1)
    before = torch.get_num_threads()
    if this_cpu:
        torch.set_num_threads(threads)  # the profile at the row's thread count
    try:
        training_prediction(cfg, new, time_for_this_cpu=row.get("device") == "cuda" or this_cpu)
    finally:
        torch.set_num_threads(before)
    for key in PREDICTED:
        df.loc[df.index[0], key] = new.get(key)
    write_frame(df, path)
    return f"{new.get('predicted_mem_total_bytes', 0) / 1e9:.3f} GB predicted, " \
           f"{(row.get('peak_gpu_mem_allocated_bytes') or 0) / 1e9:.3f} GB measured"


def main(argv=None) -> int:
    from harness.record.environment import cpu_name
    from harness.record.store import result_files

    ap = argparse.ArgumentParser(prog="python -m harness.recompute", description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=Path("results"))
    ap.add_argument("--device", choices=("cuda", "cpu", "all"), default="all")
    ap.add_argument("--stale", action="store_true", help="only rows the current predictor has not made")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    files = [f for f in result_files(args.results) if "baselines" not in f.parts]
    start = time.time()
    for i, path in enumerate(files, 1):
        try:
            outcome = recompute(path, args.device, cpu_name(), args.stale)
        except Exception as exc:  # one row that cannot be predicted leaves its columns as they were
            outcome = f"not recomputed: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
        if not outcome.startswith("skipped"):
            print(f"[{i}/{len(files)}, {time.time() - start:.0f} s] {path.name}: {outcome}", flush=True)
    for line in accuracy(files):
        print(line)
    return 0


def accuracy(files: list[Path]) -> list[str]:
    """Predicted against measured step time of the ok training rows that carry both, per device
    and thread count: the measured mean step is batch x accumulation x processes over the
    measured examples/s, as the prediction is a mean step."""
    from harness.record.store import read_table

    rows = [read_table(path).iloc[0] for path in files]
    df = pd.DataFrame([r for r in rows if r["mode"] == "train" and r["status"] == "ok"
                       and pd.notna(r.get("predicted_train_examples_per_s")) and r.get("train_examples_per_s")])
    df = df.reset_index(drop=True)
    if df.empty:
        return ["no training row carries both a measured and a predicted step time"]
    df["error"] = df["train_examples_per_s"] / df["predicted_train_examples_per_s"] - 1  # predicted / measured step
    lines = []
    keys = ["device", "device_name", "cpu_threads", "predictor_version"]
    for (device, name, threads, version), group in df.groupby(keys, dropna=False):
        e = group["error"]
        worst = e.loc[e.abs().idxmax()]
        where = f"{name}, {threads:g} thread(s)" if device == "cpu" else name
        lines.append(f"{where}, {version}: {len(e)} rows, step time median |error| "
                     f"{100 * e.abs().median():.1f} %, worst {100 * worst:+.0f} %, within 20 %: "
                     f"{100 * (e.abs() <= 0.2).mean():.0f} %; by method (median error): " + ", ".join(
                         f"{m} {100 * v:+.0f} %" for m, v in group.groupby("method")["error"].median().items()))
    return lines


if __name__ == "__main__":
    sys.exit(main())
