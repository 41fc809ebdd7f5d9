"""The training loop: AdamW, linear schedule with warmup, gradient accumulation, autocast.

Plain PyTorch, read top to bottom. Per optimizer step the clock is read around the whole
step (data collation included, as a user's loop would pay it).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch
from transformers import get_linear_schedule_with_warmup

from harness import distributed, learning_curve
from harness.errors import NanLossError
from harness.precision import autocast_for, get_precision
from harness.measure.throughput import StepTimer
from harness.progress import Progress
from harness.tasks.batching import Encoded, collate, length_grouped_batches

log = logging.getLogger(__name__)


def schedule_steps(n_examples: int, train_cfg) -> int:
    """Optimizer steps of the whole schedule (AdaLoRA's total_step comes from here)."""
    micro = math.ceil(n_examples / train_cfg.batch_size)
    per_epoch = max(1, math.ceil(micro / train_cfg.grad_accum_steps))
    if train_cfg.max_steps:
        return int(train_cfg.max_steps)
    return max(1, math.ceil(per_epoch * train_cfg.epochs))


@dataclass
class TrainResult:
    steps: int = 0
    wall_s: float = 0.0
    first_loss: Optional[float] = None
    losses: list[float] = field(default_factory=list)
    max_padded_length: int = 0  # the widest batch, which sets the activation peak
    padded_tokens: int = 0  # sequence positions computed, padding included
    sequences: int = 0
    best_eval: Optional[dict] = None  # the best end-of-epoch evaluation (train.eval_every_epoch)
    best_epoch: Optional[int] = None
    epochs_run: int = 0
    curve: list = field(default_factory=list)  # dev score after each epoch but the last (train.eval_every_epoch)

    @property
    def mean_padded_length(self) -> float | None:
        return self.padded_tokens / self.sequences if self.sequences else None

    @property
    def final_loss(self) -> Optional[float]:
        tail = self.losses[-10:]
        return sum(tail) / len(tail) if tail else None


def train(model, enc: Encoded, train_cfg, precision: str, device: torch.device, timer: StepTimer,
          pad_id: int, regression: bool, total_steps: int,
          after_step: Optional[Callable] = None, evaluate: Optional[Callable[[], dict]] = None,
          score_key: str = "score", accelerator=None,
          on_log: Optional[Callable[[dict, int], None]] = None) -> TrainResult:
    """Train for `total_steps` optimizer steps. With an `accelerator` (data-parallel run), the
    model is wrapped for gradient all-reduce (ddp) or sharded in place (fsdp, see
    harness.distributed) and each process takes every world-th batch; with ddp `model` itself
    stays the unwrapped module."""
    torch.manual_seed(train_cfg.seed)
    unwrapped = model
    sharded = distributed.is_sharded(train_cfg, accelerator)
    if sharded:  # FSDP2 swaps the parameters for sharded ones: the optimizer must see those
        model = unwrapped = distributed.shard(model, device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    # the trackers' curves (harness/trackers.py), after each step's timing has stopped
    on_log = on_log or (lambda metrics, step: None)
    optimizer = torch.optim.AdamW(trainable, lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    rank, world = 0, 1
    if accelerator is not None:
        if not sharded:
            model, optimizer = accelerator.prepare(model, optimizer)
        rank, world = accelerator.process_index, accelerator.num_processes
    warmup = train_cfg.get("warmup_steps")
    warmup = min(int(warmup), total_steps) if warmup is not None else int(train_cfg.warmup_ratio * total_steps)
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup, total_steps)
    autocast = autocast_for(precision, device)
    forward = model
    if train_cfg.get("compile"):  # compiled forward; parameters, optimizer and measurement stay the model's
        log.info("compiling the model (torch.compile); the first steps include compilation")
        forward = torch.compile(model)
    scaler = torch.amp.GradScaler("cuda") if get_precision(precision).loss_scaling else None
    lengths = [len(x) for x in enc.input_ids]
    accum = train_cfg.grad_accum_steps
    result = TrainResult()
    progress = Progress("step", total_steps, log)
    model.train()
    t_start = time.perf_counter()
    epoch = 0
    while result.steps < total_steps:
        batches = length_grouped_batches(lengths, train_cfg.batch_size, seed=train_cfg.seed + epoch)
        batches = batches[rank::world][:len(batches) // world] if world > 1 else batches  # equal share per rank
        usable = len(batches) - len(batches) % accum if len(batches) >= accum else len(batches)
        for first in range(0, usable, accum):
            group = batches[first:first + accum]
            timer.start()
            examples = tokens = padded = 0
            for indices in group:
                batch = {k: v.to(device) for k, v in collate(enc, indices, pad_id, regression).items()}
                with autocast():
                    loss = forward(**batch).loss / len(group)
                if not torch.isfinite(loss):
                    raise NanLossError(f"training loss is {loss.item()} at step {result.steps + 1}")
                if accelerator is not None and not sharded:
                    accelerator.backward(loss)
                else:
                    (scaler.scale(loss) if scaler else loss).backward()
                value = loss.item() * len(group)
                result.first_loss = value if result.first_loss is None else result.first_loss
                result.losses.append(value)
                examples += len(indices)
                tokens += int(batch["attention_mask"].sum())
                result.max_padded_length = max(result.max_padded_length, batch["input_ids"].shape[1])
                padded += batch["input_ids"].numel()
            if scaler:
                scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(trainable, train_cfg.max_grad_norm)
            if scaler:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            scheduler.step()
            result.steps += 1
            if after_step:
                after_step(unwrapped, result.steps)
            optimizer.zero_grad(set_to_none=True)
            timer.stop(examples, tokens, padded)
            result.padded_tokens += padded
            result.sequences += examples
            progress.update(result.steps, f"loss {result.final_loss:.4f} | {examples / timer.step_s[-1]:.1f} ex/s")
            on_log({"train/loss": sum(result.losses[-len(group):]) / len(group),
                    "train/lr": scheduler.get_last_lr()[0],
                    "train/examples_per_s": examples / timer.step_s[-1]}, result.steps)
            if result.steps >= total_steps:
                break
        epoch += 1
        if evaluate and train_cfg.eval_every_epoch and result.steps < total_steps:
            scores = evaluate()
            log.info("epoch %d eval: %s", epoch, scores)
            result.curve.append(scores.get(score_key))
            if scores.get(score_key) is not None:
                on_log({"eval/score": scores[score_key], "train/epoch": epoch}, result.steps)
            if result.best_eval is None or learning_curve.better(scores.get(score_key), result.best_eval.get(score_key)):
                result.best_eval, result.best_epoch = scores, epoch
            model.train()
    result.wall_s = time.perf_counter() - t_start
    result.epochs_run = epoch
    return result
