"""One benchmark cell, as one straight function:
resolve config -> load data -> load model -> apply method -> train -> evaluate -> measure -> row.

Runs inside its own process (harness.cell), so memory readings belong to this run alone.
Every failure ends in a row with a `status`; partial measurements are kept.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from pathlib import Path

import torch
from transformers import set_seed

from harness import distributed
from harness.errors import NoLearningError
from harness.cell_setup import changed_columns, general_text, load_data, method_context, parameter_columns
from harness.measure import flops, latency, params as P
from harness.measure.cpu_sharing import CpuSharing
from harness.measure.energy import EnergyMeter
from harness.measure.memory import PeakMemory
from harness.measure.throughput import StepTimer
from harness.methods import args_json, get_method, parse_args
from harness.models import loading
from harness.models.architecture import enable_checkpointing
from harness.precision import QUANTISED, autocast_for, keep_trainable_in_fp32
from harness.record.identity import resolve_device
from harness.tasks import get_task
from harness.training import schedule_steps, train
from harness import evaluation, learning_curve

log = logging.getLogger(__name__)


def adapter_size_bytes(model) -> int:
    """Bytes on disk of the trainable weights saved as safetensors (what a user would ship)."""
    from safetensors.torch import save_file

    tensors = {n: p.detach().to("cpu").contiguous() for n, p in P.unique_parameters(model, True).items()}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trainable.safetensors"
        save_file(tensors, str(path))
        return path.stat().st_size


def build_model(cfg, task, method, args, precision: str, device: torch.device, total_steps: int,
                on_base=None):
    """The base model with the method applied, on `device`; also its base-parameter census and
    head names. Seeded, so the new head's and the adapters' initial weights repeat. `on_base(model)`
    sees the loaded model before the method touches it (the forgetting measurement's "before")."""
    set_seed(cfg.train.seed)
    model = loading.load_model(cfg.model, task, precision, str(device), method.keep_unquantised(args))
    if on_base is not None:
        on_base(model if precision in QUANTISED else model.to(device))
    base = P.BaseModelParams.of(model)
    heads, ctx = method_context(model, task, total_steps)
    if precision in QUANTISED:
        from peft import prepare_model_for_kbit_training
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model = keep_trainable_in_fp32(method.apply(model, args, ctx))
    if cfg.train.get("gradient_checkpointing"):
        enable_checkpointing(model)
    if precision not in QUANTISED:
        model = model.to(device)
    return model, base, heads


def forgetting_columns(before: float | None, after: float | None, enc) -> dict:
    if before is None:
        return {}
    return {"general_loss_before": before, "general_loss_after": after, "forgetting_loss_delta": after - before,
            "general_text_tokens": sum(len(s) - 1 for s in enc.input_ids)}


def evaluate_untrained(cfg, row: dict) -> None:
    """Eval mode: the pretrained model as loaded, no method and no training, scored and measured
    exactly as a trained run is (the baseline row every instruction comparison starts from)."""
    task = get_task(cfg.task.name)
    device = torch.device(resolve_device(cfg.device))
    precision = cfg.precision.name
    if cfg.train.num_threads:
        torch.set_num_threads(int(cfg.train.num_threads))
    autocast = autocast_for(precision, device)
    row.update(method="none", method_label="untrained", method_args="{}")
    t0 = time.perf_counter()
    tokenizer = loading.load_tokenizer(cfg.model)
    _, eval_data, _, _, n_eval = load_data(cfg, task, tokenizer)
    general = general_text(cfg, task, tokenizer)
    row.update(eval_examples=n_eval, time_data_s=time.perf_counter() - t0)
    t0 = time.perf_counter()
    set_seed(cfg.train.seed)
    model = loading.load_model(cfg.model, task, precision, str(device))
    if precision not in QUANTISED:
        model = model.to(device)
    row["time_model_build_s"] = time.perf_counter() - t0
    row["model_type"] = model.config.model_type
    base = P.BaseModelParams.of(model)
    row.update(params_total=base.total, params_trainable=0, params_added=0, pct_trainable=0.0, pct_added=0.0)
    if task.kind == "causal_lm":
        scores = evaluation.evaluate_instruct(model, tokenizer, task, cfg.task, eval_data, cfg.train.batch_size,
                                              device, autocast, cfg.train.max_seq_length)
        loss = evaluation.general_text_loss(model, general, tokenizer.pad_token_id, device, autocast)
        row.update(forgetting_columns(loss, loss, general))
    else:
        scores = evaluation.evaluate(model, task, eval_data, cfg.train.batch_size, tokenizer.pad_token_id, device,
                                     autocast)
    row.update(scores, score_selection="final")
    log.info("%s = %s (untrained)", scores["score_name"], scores["score"])


def train_and_measure(cfg, row: dict, trackers=None) -> None:
    task, method = get_task(cfg.task.name), get_method(cfg.method.name)
    args = parse_args(method, cfg.method)
    device = torch.device(resolve_device(cfg.device))
    precision = cfg.precision.name
    quantised = precision in QUANTISED
    if cfg.train.num_threads:
        torch.set_num_threads(int(cfg.train.num_threads))
    autocast = autocast_for(precision, device)  # unsupported combinations fail here, before work

    log.info("data: %s", cfg.task.name)
    t0 = time.perf_counter()
    tokenizer = loading.load_tokenizer(cfg.model)
    train_enc, eval_data, n_train, n_train_full, n_eval = load_data(cfg, task, tokenizer)
    general = general_text(cfg, task, tokenizer)
    row.update(train_examples=n_train, train_examples_full=n_train_full, eval_examples=n_eval,
               time_data_s=time.perf_counter() - t0)
    distributed.check_shardable(cfg.train, quantised, method.after_step is not None)
    accelerator = distributed.accelerator_for(cfg.train, device)
    world = accelerator.num_processes if accelerator else 1
    if accelerator:
        device = accelerator.device
    sharded = distributed.is_sharded(cfg.train, accelerator)
    row["world_size"] = world
    total_steps = schedule_steps(math.ceil(len(train_enc.input_ids) / world), cfg.train)

    log.info("model: %s (%s), method: %s %s", cfg.model.name, precision, method.name, args_json(args))
    t0 = time.perf_counter()
    loss_before = {}

    def read_general_loss(base_model):
        loss_before["value"] = evaluation.general_text_loss(base_model, general, tokenizer.pad_token_id, device,
                                                            autocast)

    model, base, heads = build_model(cfg, task, method, args, precision, device, total_steps,
                                     read_general_loss if general is not None else None)
    row["time_model_build_s"] = time.perf_counter() - t0
    row["model_type"] = model.config.model_type
    row.update(parameter_columns(model, base, heads))
    row.update(base_param_dtype=P.storage_dtypes(model, trainable=False),
               trainable_param_dtype=P.storage_dtypes(model, trainable=True))
    log.info("params: total %d, trainable %d (%.3f%%), added %d; storage: frozen %s, trainable %s",
             row["params_total"], row["params_trainable"], row["pct_trainable"], row["params_added"],
             row["base_param_dtype"], row["trainable_param_dtype"])
    if not row["params_trainable"]:
        raise NoLearningError(f"method {method.name!r} left no trainable parameter in the model "
                              f"(check method.target_modules)")
    before = P.snapshot_trainable_base(model, base) if cfg.measure.count_changed and not quantised else {}
    fingerprint = P.trainable_fingerprint(model)

    pad_id = tokenizer.pad_token_id
    if task.kind == "causal_lm":
        evaluate = lambda: evaluation.evaluate_instruct(model, tokenizer, task, cfg.task, eval_data,  # noqa: E731
                                                        cfg.train.batch_size, device, autocast,
                                                        cfg.train.max_seq_length)
    else:
        evaluate = lambda: evaluation.evaluate(model, task, eval_data, cfg.train.batch_size, pad_id,  # noqa: E731
                                               device, autocast)
    timer = StepTimer(device, cfg.measure.warmup_steps)
    memory = PeakMemory(str(device), cfg.measure.nvml_interval_s)
    energy = EnergyMeter(str(device))
    sharing = CpuSharing()
    with memory, energy, sharing:
        result = train(model, train_enc, cfg.train, precision, device, timer, pad_id, task.is_regression,
                       total_steps, method.after_step, evaluate, "score", accelerator,
                       trackers.log if trackers is not None else None)
    row.update(memory.columns())
    row.update(timer.columns())
    row.update(energy.columns(sum(timer.step_tokens)))
    row.update(sharing.columns())
    if world > 1:
        for col in ("train_examples_per_s", "train_tokens_per_s"):  # all ranks together
            row[col] = row[col] * world if row[col] else row[col]
        trained = distributed.full_state_dict(model) if sharded else None
        if accelerator.process_index != 0:
            return  # the main process evaluates, measures and records
        if trained is not None:  # fsdp: measure an unsharded copy holding the trained weights
            model, _, _ = build_model(cfg, task, method, args, precision, device, total_steps)
            model.load_state_dict(trained)

    row.update(train_wall_s=result.wall_s, train_steps=result.steps, first_train_loss=result.first_loss,
               final_train_loss=result.final_loss)
    row.update(flops.columns(model, heads, result.mean_padded_length, row["train_padded_tokens_per_s"],
                             torch.cuda.get_device_name(device) if device.type == "cuda" else None))
    if torch.equal(P.trainable_fingerprint(model), fingerprint):
        raise NoLearningError(f"no trainable parameter changed in {result.steps} steps (lr={cfg.train.lr}): "
                              f"the model after training is the model before it")
    if row["train_examples_per_s"]:
        row["train_hours_per_epoch"] = n_train_full / row["train_examples_per_s"] / 3600
        row["train_hours_per_epoch_extrapolated"] = \
            result.steps * cfg.train.batch_size * cfg.train.grad_accum_steps < n_train_full

    log.info("evaluating on %d examples", n_eval)
    scores = evaluate()
    curve = [*result.curve, scores.get("score")]
    row.update(score_selection="best_epoch" if cfg.train.eval_every_epoch else "final", score_epoch=result.epochs_run)
    if result.best_eval and learning_curve.better(result.best_eval["score"], scores["score"]):
        scores = result.best_eval
        row["score_epoch"] = result.best_epoch
    row.update(scores)
    if general is not None:
        after = evaluation.general_text_loss(model, general, tokenizer.pad_token_id, device, autocast)
        row.update(forgetting_columns(loss_before.get("value"), after, general))
    row.update(eval_curve=learning_curve.encode(curve), plateaued=learning_curve.plateaued(curve))
    if row["plateaued"] is False:
        row["warnings"] = "; ".join(filter(None, [row.get("warnings"), "not plateaued: the dev score was still rising "
                                                  f"in the last epoch ({learning_curve.encode(curve)})"]))
    log.info("%s = %s", scores["score_name"], scores["score"])

    t_measure = time.perf_counter()  # the measurement passes after evaluation
    budget = P.adalora_final_budget(model)
    if budget is not None:
        row["params_adapter_budget_final"] = budget
    row["adapter_size_bytes"] = adapter_size_bytes(model)
    row.update(latency.measure_latency(model, model.config.vocab_size, cfg.measure.latency_batch_size,
                                       min(cfg.measure.latency_seq_len, cfg.train.max_seq_length),
                                       cfg.measure.latency_repeats, device, method.mergeable and not quantised,
                                       autocast))
    if cfg.measure.count_changed:
        changed = (P.count_changed_structural(model, base, method.mergeable, row["params_added"]) if quantised
                   else P.count_changed(model, base, before, method.mergeable, row["params_added"]))
        row.update(changed_columns(changed, base.total))
    row["time_measure_s"] = time.perf_counter() - t_measure
