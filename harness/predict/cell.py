"""`mode=predict`: one row of what training this cell would cost on a named GPU, without one;
and the same prediction for a training row, for the device it ran on (`training_prediction`),
so that every measured row checks the predictor.

config -> the model with its method on fake tensors -> one traced step (harness/predict/trace.py)
-> memory on the device (memory.py) -> time from the traced ops on the device's profile
(step_time.py, profile.py, cpu_profile.py) -> predicted_* columns. Parameter counts are count
mode's (meta device), so a predict row also says what trains.
"""

from __future__ import annotations

import logging

from harness.errors import UnsupportedError
from harness.methods import get_method, parse_args
from harness.precision import get_precision
from harness.predict import memory
from harness.predict.gpus import GPU, find_gpu, gpu
from harness.predict.profile import Profile, gpu_profile
from harness.predict.step_time import VERSION, step_time
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


def _trace_for(cfg, batch_size: int, seq_len: int, on_gpu: bool = True):
    """The traced step, as a GPU runs it (foreach optimizer, the CUDA allocator's rounding) or a
    CPU (torch's CPU defaults, no rounding)."""
    from omegaconf import OmegaConf

    # what the trace depends on (not the GPU, its count or the epoch size)
    key = (OmegaConf.to_yaml({k: cfg[k] for k in ("model", "method", "task", "precision")}
                             | {"attention": cfg.predict.attention,
                                "train": {"gc": bool(cfg.train.get("gradient_checkpointing")),
                                          "clip": float(cfg.train.max_grad_norm)}}), batch_size, seq_len, on_gpu)
    if key not in _TRACES:
        task, method = get_task(cfg.task.name), get_method(cfg.method.name)
        _TRACES[key] = trace(cfg.model, task, method, parse_args(method, cfg.method), cfg.precision.name, batch_size,
                             seq_len, attention=cfg.predict.attention,
                             gradient_checkpointing=bool(cfg.train.get("gradient_checkpointing")),
                             foreach=True if on_gpu else None, max_grad_norm=float(cfg.train.max_grad_norm),
                             round_to=CUDA_ALLOCATOR_ROUNDING if on_gpu else 1, gpu=on_gpu)
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
    fits = memory.reserved_and_fits(total, target) if target is not None else {}
    sharded_weights = {"predicted_mem_weights_bytes": weights // gpus, "predicted_mem_optimizer_bytes": optim // gpus,
                       "predicted_mem_grads_bytes": cols["predicted_mem_grads_bytes"] // gpus} \
        if distributed == "fsdp" else {}
    return {**cols, **sharded_weights, "predicted_mem_total_bytes": total, **fits}, comm


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


def _time_columns(step, cfg, profile: Profile, peak_flops: float | None, batch: int, seq_len: int,
                  mean_len: float, comm_bytes: int, gpus: int, interconnect_gbps: float | None) -> dict:
    """Time of an optimizer step (grad_accum_steps micro-batches) at the mean padded length: the
    traced ops of the widest batch scaled to the mean one."""
    accum = int(cfg.train.grad_accum_steps)
    t = step_time(step.ops.scaled(mean_len / seq_len), profile, accum, comm_bytes, gpus, interconnect_gbps)
    flops = step.flops * accum * mean_len / seq_len
    examples_per_s = gpus * batch * accum / t.seconds
    return {"predictor_version": VERSION, "predicted_device": profile.name, "predicted_seq_len": seq_len,
            "predicted_mean_seq_len": mean_len, "predicted_attention": cfg.predict.attention,
            "predicted_step_flops": float(step.flops), "predicted_step_s": t.seconds, "predicted_comm_s": t.comm_s,
            "predicted_train_examples_per_s": examples_per_s,
            "predicted_train_tokens_per_s": examples_per_s * mean_len,
            "predicted_mfu": flops / (t.seconds * peak_flops) if peak_flops else None,
            **{f"predicted_{name}_s": t.by_class[name] for name in
               ("matmul", "attention", "elementwise", "copy", "optimizer")},
            "predicted_host_bound_s": t.host_bound_s, "predicted_step_ops": len(step.ops)}


def training_prediction(cfg, row: dict, time_for_this_cpu: bool = True) -> None:
    """The traced prediction for the device a training row ran on, written into the row beside
    what was measured: a GPU of gpus.py by its device name, or this CPU's measured profile at the
    run's thread count. Under DDP / FSDP, per process, as predict mode gives it. A device the
    predictor does not know leaves the columns null, with a warning. Memory only on a CPU row
    whose CPU is not this one (`time_for_this_cpu=False`: this machine's profile does not say),
    or whose profile is not cached and may not be measured now (PEFT_BENCH_CPU_PROFILE=cached)."""
    import os

    from harness.predict.cpu_profile import cached_cpu_profile, cpu_profile

    task = get_task(cfg.task.name)
    seq_len, mean_len, source, _ = sequence_lengths(cfg, task)
    batch = int(cfg.train.batch_size)
    on_gpu = row.get("device") == "cuda"
    target = find_gpu(row.get("device_name") or "") if on_gpu else None
    if on_gpu and target is None:
        log.warning("no prediction for this row: %r is not a GPU the predictor knows (harness/predict/gpus.py)",
                    row.get("device_name"))
        return
    step = _trace_for(cfg, batch, seq_len, on_gpu=on_gpu)
    gpus, distributed = int(row.get("world_size") or 1), cfg.train.get("distributed")
    grad_bytes = 4 * int(row.get("params_trainable") or 0)
    cols, comm_bytes = per_gpu(memory.columns(step, cfg.precision.name, target), distributed, gpus, target,
                               grad_bytes)
    row.update(cols)
    row.update(predictor_version=VERSION, predicted_seq_len=seq_len, predicted_mean_seq_len=mean_len,
               predicted_seq_len_source=source)
    if on_gpu:
        profile = gpu_profile(target)
    elif not time_for_this_cpu:
        row["predicted_device"] = f"{row.get('device_name')} (memory only: time needs that CPU's profile)"
        return
    elif os.environ.get("PEFT_BENCH_CPU_PROFILE") == "cached":
        profile = cached_cpu_profile()
    else:
        profile = cpu_profile()
    if profile is None:
        row["predicted_device"] = f"{row.get('device_name')} (memory only: no CPU profile cached)"
        return
    row.update(_time_columns(step, cfg, profile, target.peak_flops if target else None, batch, seq_len, mean_len,
                             comm_bytes, gpus, target.interconnect_gbps if target else None))
    # the prediction is a mean step (at the mean padded length): beside it the measured mean step,
    # not the median, which varying lengths put far below the mean
    measured = row.get("train_examples_per_s")
    measured = batch * int(cfg.train.grad_accum_steps) * gpus / measured if measured else None
    log.info("predicted for %s: %.3f s/step (measured mean %s), %.2f GB allocated (measured %s)", profile.name,
             row["predicted_step_s"], f"{measured:.3f}" if measured else None,
             cols["predicted_mem_total_bytes"] / 1e9, row.get("peak_gpu_mem_allocated_bytes"))


def comm_bytes_of(cfg, row: dict) -> int:
    """The bytes a predict row's step communicates between its GPUs (per_gpu's)."""
    target = gpu(cfg.predict.gpu)
    step = _trace_for(cfg, int(cfg.train.batch_size), int(row["predicted_seq_len"]))
    return per_gpu(memory.columns(step, cfg.precision.name, target), cfg.train.get("distributed"),
                   int(cfg.predict.gpus), target, 4 * int(row["params_trainable"]))[1]


def tokens_per_s_with(cfg, row: dict, comm_bytes: int, constants: dict[str, float]) -> float:
    """A predict row's tokens/s again, with other GPU constants (the calibration's fits): the
    traced step comes from this process's cache, `comm_bytes` from comm_bytes_of."""
    target = gpu(cfg.predict.gpu)
    step = _trace_for(cfg, int(cfg.train.batch_size), int(row["predicted_seq_len"]))
    cols = _time_columns(step, cfg, gpu_profile(target, constants), target.peak_flops, int(cfg.train.batch_size),
                         int(row["predicted_seq_len"]), float(row["predicted_mean_seq_len"]), comm_bytes,
                         int(cfg.predict.gpus), target.interconnect_gbps)
    return cols["predicted_train_tokens_per_s"]


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
    profile = gpu_profile(target, {"matmul_top": cfg.predict.mfu} if cfg.predict.mfu else None)
    row.update(_time_columns(step, cfg, profile, target.peak_flops, batch, seq_len, mean_len, comm_bytes, gpus,
                             target.interconnect_gbps))
    examples_per_s = row["predicted_train_examples_per_s"]
    row.update(predicted_gpu=target.name, predicted_gpus=gpus, predicted_seq_len_source=source,
               predicted_train_examples=examples, predicted_reference=cfg.predict.get("reference"),
               predicted_hours_per_epoch=examples / examples_per_s / 3600 if examples else None)
    if cfg.predict.max_batch:
        row["predicted_max_batch_size"] = max_batch_size(cfg, target, seq_len, grad_bytes)
    log.info("predicted on %s: allocated %.2f GB, reserved %.2f GB, fits %s; %.3f s/step, %.1f examples/s",
             target.name, cols["predicted_mem_total_bytes"] / 1e9, cols["predicted_mem_reserved_bytes"] / 1e9,
             cols["predicted_fits"], row["predicted_step_s"], examples_per_s)
