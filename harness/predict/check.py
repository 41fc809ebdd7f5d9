"""A prediction checked against the step it predicts, on the device at hand: the model as the
harness trains it (random weights), real steps timed, and the same step traced on fake tensors
and costed on the device's profile. The CPU check (tests/predict/test_step_time_on_cpu.py,
benchmarks/predict_step_time_cpu.py) and the GPU calibration run (benchmarks/gpu_calibration.py)
both use it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from harness.methods import get_method, parse_args
from harness.precision import autocast_for
from harness.predict import memory
from harness.predict.profile import Profile
from harness.predict.step_time import step_time
from harness.predict.trace import build_model, fake_batch, trace
from harness.tasks import get_task


@dataclass
class Check:
    predicted_s: float
    measured_s: float
    predicted_mem_bytes: int
    measured_mem_bytes: int | None
    by_class: dict[str, float]
    ops: int

    @property
    def ratio(self) -> float:
        return self.predicted_s / self.measured_s


def measure_steps(model, batch: dict, autocast, device: torch.device, steps: int = 5, warmup: int = 2,
                  foreach: bool | None = None, max_grad_norm: float = 1.0) -> float:
    """Seconds of the fastest of `steps` real optimizer steps (after `warmup`), as
    harness/training.py runs them: the machine's undisturbed speed, as the profile's
    microbenchmarks take the best of their rounds (a shared machine only ever slows a step)."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-5, foreach=foreach)
    model.train()
    times = []
    for i in range(warmup + steps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        with autocast():
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, max_grad_norm, foreach=foreach)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return min(times)


def check_step(model_cfg, task_name: str, method_cfg, precision: str, batch_size: int, seq_len: int,
               profile: Profile, device: str = "cpu", steps: int = 5, gpu=None) -> Check:
    """Predict one step of this cell on `profile`, then build it on `device` and time real steps."""
    task, method = get_task(task_name), get_method(method_cfg.name)
    args = parse_args(method, method_cfg)
    foreach = True if device.startswith("cuda") else None
    traced = trace(model_cfg, task, method, args, precision, batch_size, seq_len, foreach=foreach,
                   round_to=512 if gpu is not None else 1, gpu=gpu is not None)
    predicted = step_time(traced.ops, profile)
    predicted_mem = memory.columns(traced, precision, gpu)["predicted_mem_total_bytes"]
    dev = torch.device(device)
    torch.manual_seed(0)
    model, _, _ = build_model(model_cfg, task, method, args, precision, device="cpu")
    model.to(dev)
    batch = fake_batch(task, model.config, batch_size, seq_len, device=dev)
    batch["input_ids"] = torch.randint(0, model.config.vocab_size, (batch_size, seq_len), device=dev)
    if task.kind == "causal_lm":
        batch["labels"] = batch["input_ids"].clone()
    measured_mem = None
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    measured = measure_steps(model, batch, autocast_for(precision, dev), dev, steps=steps, foreach=foreach)
    if dev.type == "cuda":
        measured_mem = torch.cuda.max_memory_allocated(dev)
    return Check(predicted.seconds, measured, predicted_mem, measured_mem, predicted.by_class, len(traced.ops))
