"""Where a training step's time goes on a CPU (a benchmark, not a test): MiniLM-L6 on MRPC batches
(length-grouped, batch 32), one thread, the harness's precision handling; tokens/s over timed steps
after warm-up, the operators that take the most time (torch.profiler), and with --compile the same
step through torch.compile (its compilation timed apart).

    python benchmarks/cpu_step_profile.py [--methods full_ft lora] [--precision bf16] [--steps 20]
        [--compile] [--glue-dir ../shared/data/glue]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.training_setup import DEFAULT_GLUE_DIR, prepared  # noqa: E402
from harness.precision import autocast_for, cpu_native_bf16  # noqa: E402
from harness.record.environment import cpu_name  # noqa: E402
from harness.tasks.batching import collate, length_grouped_batches  # noqa: E402

WARMUP = 3


def stepper(model, forward, enc, pad_id, precision):
    autocast = autocast_for(precision, torch.device("cpu"))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    model.train()

    def step(indices) -> int:
        batch = collate(enc, indices, pad_id, False)
        with autocast():
            loss = forward(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return int(batch["attention_mask"].sum())
    return step


def timed(step, batches) -> float:
    """Tokens/s over `batches`."""
    t0, tokens = time.perf_counter(), 0
    for indices in batches:
        tokens += step(indices)
    return tokens / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--methods", nargs="+", default=["full_ft", "lora"])
    ap.add_argument("--precision", default="bf16")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--glue-dir", type=Path, default=DEFAULT_GLUE_DIR)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"{cpu_name()}, native bf16: {cpu_native_bf16()}, 1 thread, "
          f"torch {torch.__version__}, precision {args.precision}")
    for name in args.methods:
        setup = prepared([f"method={name}", f"precision={args.precision}"], "glue/mrpc", args.glue_dir,
                         max_train=32 * (args.steps + WARMUP + 5))
        model, enc, pad_id = setup.model, setup.enc, setup.pad_id
        batches = length_grouped_batches([len(x) for x in enc.input_ids], 32, 1)
        warm, measured = batches[:WARMUP], batches[WARMUP:WARMUP + args.steps]
        step = stepper(model, model, enc, pad_id, args.precision)
        for indices in warm:
            step(indices)
        print(f"{name}: {timed(step, measured):,.0f} tokens/s eager")
        with torch.profiler.profile() as prof:
            for indices in measured[:5]:
                step(indices)
        ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
        total = sum(e.self_cpu_time_total for e in ops)
        print("  " + ", ".join(f"{e.key} {e.self_cpu_time_total / total:.0%}" for e in ops[:6]))
        if args.compile:
            step = stepper(model, torch.compile(model, dynamic=True), enc, pad_id, args.precision)
            t0 = time.perf_counter()
            for indices in warm:
                step(indices)
            print(f"{name}: {timed(step, measured):,.0f} tokens/s compiled "
                  f"(warm-up with compilation {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
