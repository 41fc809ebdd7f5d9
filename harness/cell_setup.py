"""Setting up a cell, shared by every mode (train, eval, count, predict): its data, the task
head's names and what the method needs to know, and count mode's census of a model with the
method applied on the meta device. `harness.run` (training) and `harness.predict` (prediction)
both build on this module; neither imports the other.
"""

from __future__ import annotations

import torch

from harness.measure import params as P
from harness.methods import MethodContext, get_method, parse_args
from harness.models import loading
from harness.models.architecture import head_module_names
from harness.tasks import get_task
from harness.tasks.batching import encode
from harness.tasks.glue import load_glue
from harness.tasks.instruct import encode_sft, load_instruct


def parameter_columns(model, base: P.BaseModelParams, head_modules: list[str]) -> dict:
    trainable = P.count(P.unique_parameters(model, trainable_only=True).values())
    added = P.count(P.added_parameters(model, base).values())
    return {"params_total": base.total, "params_trainable": trainable, "params_trainable_initial": trainable,
            "params_added": added, "params_head": P.trainable_head_parameters(model, head_modules),
            "pct_trainable": 100 * trainable / base.total, "pct_added": 100 * added / base.total}


def changed_columns(changed: P.ChangedCount, total: int) -> dict:
    return {"params_changed": changed.changed, "params_changed_source": changed.source,
            "pct_changed": 100 * changed.changed / total, **changed.rank_summary()}


def method_context(model, task, total_steps: int) -> tuple[list[str], MethodContext]:
    """The task head's module names (new, so every method trains them; a causal LM's head is
    pretrained) and what the method needs to know."""
    causal = task.kind == "causal_lm"
    heads = [] if causal else head_module_names(model)
    return heads, MethodContext(model.config.model_type, heads, total_steps, "CAUSAL_LM" if causal else "SEQ_CLS")


def count_only(cfg, row: dict) -> None:
    """Count mode: the architecture on the meta device, the method applied, parameters counted."""
    task, method = get_task(cfg.task.name), get_method(cfg.method.name)
    args = parse_args(method, cfg.method)
    model = loading.build_meta_model(cfg.model, task)
    row["model_type"] = model.config.model_type
    base = P.BaseModelParams.of(model)
    heads, ctx = method_context(model, task, total_steps=1000)
    with torch.device("meta"):
        model = method.apply(model, args, ctx)
    row.update(parameter_columns(model, base, heads))
    structural = P.count_changed_structural(model, base, method.mergeable, row["params_added"])
    row.update(changed_columns(structural, base.total))


def load_data(cfg, task, tokenizer):
    """Training encodings and the evaluation set: GLUE dev splits, or instruction records."""
    if task.kind == "causal_lm":
        data = load_instruct(cfg.task, cfg.data.max_train_samples, cfg.data.max_eval_samples)
        train_enc = encode_sft(tokenizer, data.train, cfg.train.max_seq_length, bool(cfg.task.get("packing")))
        return train_enc, data.eval, len(data.train), data.train_size_full, len(data.eval)
    data = load_glue(task, cfg.data.glue_dir, cfg.data.glue_hub_id, cfg.data.max_train_samples,
                     cfg.data.max_eval_samples)
    evals = {s: encode(tokenizer, e, cfg.train.max_seq_length) for s, e in data.evals.items()}
    return (encode(tokenizer, data.train, cfg.train.max_seq_length), evals, len(data.train), data.train_size_full,
            sum(len(e) for e in data.evals.values()))


def general_text(cfg, task, tokenizer):
    """The held-out general text of the forgetting measurement, encoded; None for GLUE tasks or
    when measure.forgetting.path is null."""
    from harness.tasks.general_text import encode_texts, read_texts

    spec = cfg.measure.get("forgetting") or {}
    if task.kind != "causal_lm" or not spec.get("path"):
        return None
    return encode_texts(tokenizer, read_texts(spec.path, spec.column, int(spec.max_texts)), cfg.train.max_seq_length)
