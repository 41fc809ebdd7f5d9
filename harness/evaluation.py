"""Evaluation on the task's dev split(s): predictions, then the task's GLUE metrics."""

from __future__ import annotations

import time

import torch

from harness.tasks.batching import Encoded, collate
from harness.tasks.glue import GlueTask

# dev split -> suffix of its metric columns (MNLI reports matched and mismatched)
_SPLIT_SUFFIX = {"dev": "", "dev_matched": "", "dev_mismatched": "_mm"}


@torch.inference_mode()
def predict(model, enc: Encoded, batch_size: int, pad_id: int, regression: bool, device, autocast) -> list:
    model.eval()
    order = sorted(range(len(enc.input_ids)), key=lambda i: len(enc.input_ids[i]))
    preds = [None] * len(order)
    for start in range(0, len(order), batch_size):
        indices = order[start:start + batch_size]
        batch = {k: v.to(device) for k, v in collate(enc, indices, pad_id, regression).items() if k != "labels"}
        with autocast():
            logits = model(**batch).logits.float()
        values = logits.squeeze(-1).tolist() if regression else logits.argmax(-1).tolist()
        for i, v in zip(indices, values if isinstance(values, list) else [values]):
            preds[i] = v
    return preds


def evaluate(model, task: GlueTask, evals: dict[str, Encoded], batch_size: int, pad_id: int, device,
             autocast) -> dict:
    """Metric columns (`metric_*`, `score`, `score_name`) plus eval timing."""
    cols: dict = {}
    t0 = time.perf_counter()
    n = 0
    for split, enc in evals.items():
        preds = predict(model, enc, batch_size, pad_id, task.is_regression, device, autocast)
        n += len(preds)
        for metric, value in task.metric(preds, enc.labels).items():
            cols[f"metric_{metric}{_SPLIT_SUFFIX[split]}"] = value
    wall = time.perf_counter() - t0
    cols["score"] = cols.get(f"metric_{task.score_name}")
    cols["score_name"] = task.score_name
    cols["eval_wall_s"] = wall
    cols["eval_examples_per_s"] = n / wall if wall > 0 else None
    cols["eval_examples"] = n
    return cols
