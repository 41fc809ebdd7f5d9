"""One benchmark cell, as one straight function:
resolve config -> load data -> load model -> apply method -> train -> evaluate -> measure -> row.

Runs inside its own process (harness.cell), so memory readings belong to this run alone.
Every failure ends in a row with a `status`; partial measurements are kept.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from harness.errors import status_of
from harness.measure import latency, params as P, predicted_memory
from harness.measure.memory import PeakMemory, peak_rss_bytes
from harness.measure.throughput import StepTimer
from harness.methods import MethodContext, args_json, get_method, parse_args
from harness.models import loading
from harness.models.architecture import head_module_names
from harness.record.environment import environment_columns
from harness.tasks import get_task
from harness.tasks.batching import encode
from harness.tasks.glue import load_glue
from harness.training import autocast_for, schedule_steps, train
from harness import evaluation

log = logging.getLogger(__name__)


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def method_label(method: str, args: dict) -> str:
    keys = {"lora": "r", "adalora": "target_r", "freeze": "trainable_layers", "prompt_tuning": "num_virtual_tokens",
            "prefix_tuning": "num_virtual_tokens", "p_tuning": "num_virtual_tokens"}
    short = {"r": "r", "target_r": "r", "trainable_layers": "l", "num_virtual_tokens": "p"}
    key = keys.get(method)
    return f"{method} {short[key]}={args[key]}" if key and key in args else method


def _model_source(model_cfg) -> str | None:
    try:
        return loading.resolve_path(model_cfg)
    except Exception:  # an unresolvable source is recorded as the run's error, not here
        return model_cfg.get("name_or_path")


def identity_columns(cfg, spec: dict) -> dict:
    method_args = {k: v for k, v in cfg.method.items() if k not in ("name", "variant")}
    return {
        "run_id": spec["run_id"], "config_hash": spec["config_hash"],
        "timestamp_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "sweep_dir": spec.get("sweep_dir"), "sweep_job_num": spec.get("sweep_job_num"),
        "mode": cfg.mode, "model": cfg.model.name,
        "model_name_or_path": _model_source(cfg.model),
        "random_init": bool(cfg.model.random_init), "method": cfg.method.name,
        "method_args": json.dumps(method_args, sort_keys=True), "method_label": method_label(cfg.method.name, method_args),
        "task": cfg.task.name, "precision": cfg.precision.name,
        "batch_size": cfg.train.batch_size, "grad_accum_steps": cfg.train.grad_accum_steps, "lr": cfg.train.lr,
        "epochs": cfg.train.epochs, "max_steps": cfg.train.max_steps, "max_seq_length": cfg.train.max_seq_length,
        "seed": cfg.train.seed, "max_train_samples": cfg.data.max_train_samples,
        "max_eval_samples": cfg.data.max_eval_samples,
    }


def parameter_columns(model, base: P.BaseModelParams, head_modules: list[str]) -> dict:
    trainable = P.count(P.unique_parameters(model, trainable_only=True).values())
    added = P.count(P.added_parameters(model, base).values())
    return {"params_total": base.total, "params_trainable": trainable, "params_trainable_initial": trainable,
            "params_added": added, "params_head": P.trainable_head_parameters(model, head_modules),
            "pct_trainable": 100 * trainable / base.total, "pct_added": 100 * added / base.total}


def changed_columns(changed: P.ChangedCount, total: int) -> dict:
    return {"params_changed": changed.changed, "params_changed_source": changed.source,
            "pct_changed": 100 * changed.changed / total, **changed.rank_summary()}


def count_only(cfg, row: dict) -> None:
    """Count mode: the architecture on the meta device, the method applied, parameters counted."""
    task, method = get_task(cfg.task.name), get_method(cfg.method.name)
    args = parse_args(method, cfg.method)
    model = loading.build_meta_model(cfg.model, task.num_labels, task.is_regression)
    row["model_type"] = model.config.model_type
    base = P.BaseModelParams.of(model)
    heads = head_module_names(model)
    with torch.device("meta"):
        model = method.apply(model, args, MethodContext(model.config.model_type, heads, total_steps=1000))
    row.update(parameter_columns(model, base, heads))
    structural = P.count_changed_structural(model, base, method.mergeable, row["params_added"])
    row.update(changed_columns(structural, base.total))


def adapter_size_bytes(model) -> int:
    """Bytes on disk of the trainable weights saved as safetensors (what a user would ship)."""
    from safetensors.torch import save_file

    tensors = {n: p.detach().to("cpu").contiguous() for n, p in P.unique_parameters(model, True).items()}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trainable.safetensors"
        save_file(tensors, str(path))
        return path.stat().st_size


def train_and_measure(cfg, row: dict) -> None:
    task, method = get_task(cfg.task.name), get_method(cfg.method.name)
    args = parse_args(method, cfg.method)
    device = torch.device(resolve_device(cfg.device))
    if cfg.train.num_threads:
        torch.set_num_threads(int(cfg.train.num_threads))
    autocast = autocast_for(cfg.precision.name, device)  # unsupported combinations fail here, before work

    log.info("data: %s", cfg.task.name)
    data = load_glue(task, cfg.data.glue_dir, cfg.data.glue_hub_id, cfg.data.max_train_samples,
                     cfg.data.max_eval_samples)
    tokenizer = loading.load_tokenizer(cfg.model)
    train_enc = encode(tokenizer, data.train, cfg.train.max_seq_length)
    eval_encs = {s: encode(tokenizer, e, cfg.train.max_seq_length) for s, e in data.evals.items()}
    row.update(train_examples=len(data.train), train_examples_full=data.train_size_full,
               eval_examples=sum(len(e) for e in data.evals.values()))
    total_steps = schedule_steps(len(data.train), cfg.train)

    log.info("model: %s (%s)", cfg.model.name, cfg.precision.name)
    model = loading.load_model(cfg.model, task.num_labels, task.is_regression, cfg.precision.name, str(device))
    row["model_type"] = model.config.model_type
    base = P.BaseModelParams.of(model)
    heads = head_module_names(model)
    if cfg.precision.name in ("int8", "int4"):
        from peft import prepare_model_for_kbit_training
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    log.info("method: %s %s", method.name, args_json(args))
    model = method.apply(model, args, MethodContext(model.config.model_type, heads, total_steps)).to(device)
    row.update(parameter_columns(model, base, heads))
    log.info("params: total %d, trainable %d (%.3f%%), added %d", row["params_total"], row["params_trainable"],
             row["pct_trainable"], row["params_added"])
    quantised = cfg.precision.name in ("int8", "int4")
    before = P.snapshot_trainable_base(model, base) if cfg.measure.count_changed and not quantised else {}

    pad_id = tokenizer.pad_token_id
    evaluate = lambda: evaluation.evaluate(model, task, eval_encs, cfg.train.batch_size, pad_id, device, autocast)  # noqa: E731
    timer = StepTimer(device, cfg.measure.warmup_steps)
    memory = PeakMemory(str(device), cfg.measure.nvml_interval_s)
    with memory:
        result = train(model, train_enc, cfg.train, cfg.precision.name, device, timer, pad_id, task.is_regression,
                       total_steps, method.after_step, evaluate, "score")
    row.update(memory.columns())
    row.update(timer.columns())
    row.update(train_wall_s=result.wall_s, train_steps=result.steps, first_train_loss=result.first_loss,
               final_train_loss=result.final_loss)
    if row["train_examples_per_s"]:
        row["train_hours_per_epoch"] = data.train_size_full / row["train_examples_per_s"] / 3600
        row["train_hours_per_epoch_extrapolated"] = result.steps * cfg.train.batch_size * cfg.train.grad_accum_steps \
            < data.train_size_full
    row.update(predicted_memory.predict(model, heads, cfg.precision.name, cfg.train.batch_size,
                                        result.mean_padded_length))

    log.info("evaluating on %s", ", ".join(f"{s} ({len(e.labels)})" for s, e in eval_encs.items()))
    scores = evaluate()
    if result.best_eval and (result.best_eval["score"] or -1e9) > (scores["score"] or -1e9):
        scores = result.best_eval
    row.update(scores)
    log.info("%s = %.4f", scores["score_name"], scores["score"])

    budget = P.adalora_final_budget(model)
    if budget is not None:
        row["params_adapter_budget_final"] = budget
    row["adapter_size_bytes"] = adapter_size_bytes(model)
    row.update(latency.measure_latency(model, model.config.vocab_size, cfg.measure.latency_batch_size,
                                       min(cfg.measure.latency_seq_len, cfg.train.max_seq_length),
                                       cfg.measure.latency_repeats, device, method.mergeable and not quantised))
    if cfg.measure.count_changed:
        changed = (P.count_changed_structural(model, base, method.mergeable, row["params_added"]) if quantised
                   else P.count_changed(model, base, before, method.mergeable, row["params_added"]))
        row.update(changed_columns(changed, base.total))


def run_cell(cfg, spec: dict) -> dict:
    """Run one cell; always returns a row (status ok or the failure's status)."""
    t0 = time.perf_counter()
    row = identity_columns(cfg, spec)
    try:
        (count_only if cfg.mode == "count" else train_and_measure)(cfg, row)
        row["status"] = "ok"
    except Exception as exc:  # every failure is a row, never a lost sweep
        row["status"] = status_of(exc)
        row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        log.error("run failed (%s): %s", row["status"], row["error"],
                  exc_info=row["status"] == "error")
    row["run_wall_s"] = time.perf_counter() - t0
    row.setdefault("peak_cpu_rss_bytes", peak_rss_bytes())
    row.update(environment_columns(resolve_device(cfg.device)))
    return row
