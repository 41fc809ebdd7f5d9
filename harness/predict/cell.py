"""`mode=predict`: one row of what training this cell would cost on a named GPU, without one.

config -> the model with its method on fake tensors -> one traced step (harness/predict/trace.py)
-> memory on the GPU (memory.py) -> time (speed.py) -> predicted_* columns. Parameter counts are
count mode's (meta device), so a predict row also says what trains.
"""

from __future__ import annotations

import logging

from harness.errors import UnsupportedError
from harness.methods import get_method, parse_args
from harness.precision import get_precision
from harness.predict import memory, speed
from harness.predict.gpus import GPU, gpu
from harness.predict.trace import trace
from harness.tasks import get_task

log = logging.getLogger(__name__)
CUDA_ALLOCATOR_ROUNDING = 512


def sequence_lengths(cfg, task) -> tuple[int, float, str, int | None]:
    """(widest padded length, mean padded length, where they came from, training examples of an
    epoch or None). From `predict.seq_len`, else the task's data batched as the harness batches
    it (length-grouped, padded to the longest member), else train.max_seq_length."""
    fixed = cfg.predict.seq_len
    examples = cfg.predict.train_examples
    if fixed:
        return int(fixed), float(fixed), "predict.seq_len", examples
    from omegaconf import OmegaConf

    key = OmegaConf.to_yaml({"model": cfg.model, "task": cfg.task, "data": cfg.data,
                             "train": {k: cfg.train[k] for k in ("max_seq_length", "batch_size", "seed")}})
    if key not in _LENGTHS:
        _LENGTHS[key] = _data_lengths(cfg, task)
    widest, mean, source, n_full = _LENGTHS[key]
    return widest, mean, source, examples or n_full


_LENGTHS: dict = {}  # a sweep of predictions tokenizes each task's data once


def _data_lengths(cfg, task) -> tuple[int, float, str, int | None]:
    from harness.tasks.batching import length_grouped_batches

    try:
        from harness.models import loading
        from harness.cell_setup import load_data

        tokenizer = loading.load_tokenizer(cfg.model)
        train_enc, _, _, n_full, _ = load_data(cfg, task, tokenizer)
    except Exception as exc:  # no tokenizer or data offline: say so in the row
        why = f"train.max_seq_length ({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})"
        return int(cfg.train.max_seq_length), float(cfg.train.max_seq_length), why, None
    lengths = [len(x) for x in train_enc.input_ids]
    batches = length_grouped_batches(lengths, cfg.train.batch_size, seed=cfg.train.seed)
    widths = [max(lengths[i] for i in b) for b in batches]
    mean = sum(w * len(b) for w, b in zip(widths, batches)) / sum(len(b) for b in batches)
    return max(widths), mean, "the task's data with the harness's batching", n_full


_TRACES: dict = {}  # a sweep of predictions traces each step once, whatever the GPU


def _trace_for(cfg, batch_size: int, seq_len: int):
    from omegaconf import OmegaConf

    # what the trace depends on (not the GPU, its count, the MFU or the epoch size)
    key = (OmegaConf.to_yaml({k: cfg[k] for k in ("model", "method", "task", "precision")}
                             | {"attention": cfg.predict.attention,
                                "train": {"gc": bool(cfg.train.get("gradient_checkpointing")),
                                          "clip": float(cfg.train.max_grad_norm)}}), batch_size, seq_len)
    if key not in _TRACES:
        task, method = get_task(cfg.task.name), get_method(cfg.method.name)
        _TRACES[key] = trace(cfg.model, task, method, parse_args(method, cfg.method), cfg.precision.name, batch_size,
                             seq_len, attention=cfg.predict.attention,
                             gradient_checkpointing=bool(cfg.train.get("gradient_checkpointing")), foreach=True,
                             max_grad_norm=float(cfg.train.max_grad_norm), round_to=CUDA_ALLOCATOR_ROUNDING)
    return _TRACES[key]


def per_gpu(cols: dict, distributed: str | None, gpus: int, target: GPU, grad_bytes: int) -> tuple[dict, int]:
    """Memory of one of `gpus` GPUs, and the bytes each step communicates (`grad_bytes`: the
    gradients of every trainable parameter, fp32): DDP keeps a flat copy of the gradients in its
    all-reduce buckets for the whole run and all-reduces them; FSDP shards what is live at the
    peak of weights, gradients and optimizer state, all-gathers the weights twice (forward,
    backward) and reduce-scatters the gradients."""
    if gpus == 1:
        return cols, 0
    weights, optim = cols["predicted_mem_weights_bytes"], cols["predicted_mem_optimizer_bytes"]
    if distributed == "ddp":
        extra, comm = grad_bytes, grad_bytes
    else:
        sharded = weights + cols["predicted_mem_grads_bytes"] + optim
        extra, comm = -sharded * (gpus - 1) // gpus, 2 * weights + grad_bytes
    total = cols["predicted_mem_total_bytes"] + extra
    return {**cols, "predicted_mem_total_bytes": total, **memory.reserved_and_fits(total, target)}, comm


def _fits(cfg, target: GPU, batch_size: int, seq_len: int, grad_bytes: int = 0) -> bool:
    cols = memory.columns(_trace_for(cfg, batch_size, seq_len), cfg.precision.name, target)
    return per_gpu(cols, cfg.train.get("distributed"), int(cfg.predict.gpus), target, grad_bytes)[0]["predicted_fits"]


def max_batch_size(cfg, target: GPU, seq_len: int, grad_bytes: int = 0, limit: int = 4096) -> int:
    """The largest batch whose step fits: doubling, then bisection (one trace per probe)."""
    if not _fits(cfg, target, 1, seq_len, grad_bytes):
        return 0
    low, high = 1, 2
    while high <= limit and _fits(cfg, target, high, seq_len, grad_bytes):
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if _fits(cfg, target, mid, seq_len, grad_bytes) else (low, mid)
    return low


def predict_cell(cfg, row: dict) -> None:
    from harness.cell_setup import count_only

    target = gpu(cfg.predict.gpu)
    precision = cfg.precision.name
    p = get_precision(precision)
    if p.autocast == "bfloat16" and not target.bf16:
        raise UnsupportedError(f"precision={precision}: {target.name} has no bf16; use fp16 or amp_fp16")
    task = get_task(cfg.task.name)
    gpus, distributed = int(cfg.predict.gpus), cfg.train.get("distributed")  # checked together by harness.validate
    count_only(cfg, row)  # parameter columns, as count mode gives them
    seq_len, mean_len, source, examples = sequence_lengths(cfg, task)
    batch = int(cfg.train.batch_size)
    log.info("predict: %s x %d, %s, batch %d, seq %d (%s)", target.name, gpus, precision, batch, seq_len, source)
    step = _trace_for(cfg, batch, seq_len)
    grad_bytes = 4 * int(row["params_trainable"])  # trainable parameters are fp32 (harness/precision.py)
    cols, comm_bytes = per_gpu(memory.columns(step, precision, target), distributed, gpus, target, grad_bytes)
    row.update(cols)
    # time of an optimizer step (grad_accum_steps micro-batches) at the mean padded length: FLOPs
    # scale with tokens (the attention term is small at these lengths)
    accum = int(cfg.train.grad_accum_steps)
    flops = step.flops * accum * mean_len / seq_len
    weight_bytes = cols["predicted_mem_weights_bytes"]
    t = speed.step_time(flops, weight_bytes, batch * mean_len, target, cfg.method.name, precision, cfg.predict.mfu,
                        comm_bytes, gpus, int(row["params_trainable"]) // (gpus if distributed == "fsdp" else 1))
    examples_per_s = gpus * batch * accum / t.step_s
    row.update(predicted_gpu=target.name, predicted_gpus=gpus, predicted_seq_len=seq_len,
               predicted_mean_seq_len=mean_len, predicted_seq_len_source=source,
               predicted_attention=cfg.predict.attention, predicted_step_flops=float(step.flops),
               predicted_step_s=t.step_s, predicted_comm_s=t.comm_s, predicted_train_examples_per_s=examples_per_s,
               predicted_train_tokens_per_s=examples_per_s * mean_len, predicted_mfu=t.mfu,
               predicted_mfu_source=t.mfu_source, predicted_train_examples=examples,
               predicted_reference=cfg.predict.get("reference"),
               predicted_hours_per_epoch=examples / examples_per_s / 3600 if examples else None)
    if cfg.predict.max_batch:
        row["predicted_max_batch_size"] = max_batch_size(cfg, target, seq_len, grad_bytes)
    log.info("predicted on %s: allocated %.2f GB, reserved %.2f GB, fits %s; %.3f s/step, %.1f examples/s",
             target.name, cols["predicted_mem_total_bytes"] / 1e9, cols["predicted_mem_reserved_bytes"] / 1e9,
             cols["predicted_fits"], t.step_s, examples_per_s)
