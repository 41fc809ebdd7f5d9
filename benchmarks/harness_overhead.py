"""Overhead of the harness's training loop against a bare PyTorch loop (a benchmark, not a test).

Same model (by default MiniLM-L6 + LoRA r=8; any conf/model config with --model, e.g. the
TinyLlama-1.1B shape in bf16 on a GPU), same batches (SST-2, length-grouped, padded per batch),
same optimizer and schedule, same number of steps; the two loops alternate in one process so
both see the same machine state. Prints, per round and as medians, two ratios:
- steady state: examples/s after the warm-up steps, each loop timed per step around the same
  work (collate, forward, backward, clip, optimizer and scheduler step, loss read);
- end to end: the whole call timed from outside by this script (warm-up, logging and the
  harness's NaN checks included), so nothing the harness does escapes the clock.

    python benchmarks/harness_overhead.py [--rounds 3] [--steps 40] [--batch-size 32]
        [--glue-dir ../shared/data/glue] [--device cpu|cuda] [--model minilm_l6] [--precision fp32]
    python benchmarks/harness_overhead.py --device cuda --model tinyllama_1b_shape --precision bf16
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch
from transformers import get_linear_schedule_with_warmup

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.training_setup import DEFAULT_GLUE_DIR, prepared  # noqa: E402
from harness.measure.throughput import StepTimer, synchronize  # noqa: E402
from harness.precision import autocast_for  # noqa: E402
from harness.tasks.batching import collate, length_grouped_batches  # noqa: E402
from harness.training import train  # noqa: E402

WARMUP = 3


def bare_loop(model, enc, pad_id, batch_size, steps, lr, seed, device, autocast) -> float:
    """The loop a user would write by hand; returns steady-state examples/s."""
    torch.manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr)
    sched = get_linear_schedule_with_warmup(opt, int(0.06 * steps), steps)
    batches = length_grouped_batches([len(x) for x in enc.input_ids], batch_size, seed)[:steps]
    model.train()
    times, examples = [], []
    for indices in batches:
        synchronize(device)
        t0 = time.perf_counter()
        batch = {k: v.to(device) for k, v in collate(enc, indices, pad_id, False).items()}
        with autocast():
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        loss.item()
        synchronize(device)
        times.append(time.perf_counter() - t0)
        examples.append(len(indices))
    return sum(examples[WARMUP:]) / sum(times[WARMUP:])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--glue-dir", type=Path, default=DEFAULT_GLUE_DIR)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default="minilm_l6", help="a conf/model config name")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    setup = prepared([f"model={args.model}", "method=lora", f"train.batch_size={args.batch_size}",
                      f"train.max_steps={args.steps}", "train.warmup_ratio=0.06", f"precision={args.precision}"],
                     "glue/sst2", args.glue_dir, max_train=args.batch_size * args.steps, device=str(device),
                     total_steps=args.steps)
    cfg, model, enc, pad_id = setup.cfg, setup.model, setup.enc, setup.pad_id
    autocast = autocast_for(args.precision, device)
    steady, end_to_end = [], []
    for r in range(args.rounds):
        m = copy.deepcopy(model)
        timer = StepTimer(device, WARMUP)
        synchronize(device)
        t0 = time.perf_counter()
        train(m, enc, cfg.train, args.precision, device, timer, pad_id, False, args.steps)
        synchronize(device)
        harness_wall = time.perf_counter() - t0
        harness_rate = timer.columns()["train_examples_per_s"]
        del m
        m = copy.deepcopy(model)
        synchronize(device)
        t0 = time.perf_counter()
        bare_rate = bare_loop(m, enc, pad_id, args.batch_size, args.steps, cfg.train.lr, cfg.train.seed,
                              device, autocast)
        synchronize(device)
        bare_wall = time.perf_counter() - t0
        del m
        steady.append(harness_rate / bare_rate)
        end_to_end.append(bare_wall / harness_wall)
        print(f"round {r + 1}: steady state harness {harness_rate:.1f} ex/s, bare {bare_rate:.1f} ex/s "
              f"(ratio {steady[-1]:.3f}); end to end harness {harness_wall:.2f} s, bare {bare_wall:.2f} s "
              f"(ratio {end_to_end[-1]:.3f})")
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} threads"
    print(f"median ratio harness / bare loop ({args.model} {args.precision} on {where}, torch {torch.__version__}, "
          f"{args.rounds} rounds x {args.steps} steps, "
          f"batch {args.batch_size}): steady state {statistics.median(steady):.3f}, "
          f"end to end {statistics.median(end_to_end):.3f} (target >= 0.98)")


if __name__ == "__main__":
    main()
