"""How long a whole sweep will take on this machine, from a short probe of every cell (a
benchmark, not a test).

Runs the sweep with `train.max_steps=N` into a scratch results folder, then projects each cell
to its full schedule from what the probe measured: start-up, data and model build, the median
optimizer-step time times the schedule's steps, one dev evaluation per epoch (when the recipe
evaluates every epoch; else one), and the measurement passes. Cells run `--parallel` at a time
(the joblib launcher's n_jobs), longest first. Prints the projection per task and in all, with
the CPU kind it came from.

    python benchmarks/sweep_projection.py [--steps 30] [--parallel 2] [--repeat 1] [-- +sweep=glue_lora]
    python benchmarks/sweep_projection.py --repeat 3 -- +sweep=glue_lora train.seed=1   # one seed stands for three
"""

from __future__ import annotations

import argparse
import heapq
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.precision import cpu_native_bf16  # noqa: E402
from harness.record.environment import cpu_name  # noqa: E402
from harness.record.store import load_results  # noqa: E402


def full_cell_s(row) -> float:
    """Seconds the cell would take with its whole schedule (the row's `epochs`, which the probe's
    max_steps cut short), from its probe row. A recipe that evaluates every epoch records
    score_selection=best_epoch."""
    per_epoch = math.ceil(math.ceil(row["train_examples"] / row["batch_size"]) / row["grad_accum_steps"])
    steps = math.ceil(per_epoch * row["epochs"])
    evaluations = math.ceil(row["epochs"]) if row["score_selection"] == "best_epoch" else 1
    fixed = sum(row[c] or 0 for c in ("time_startup_s", "time_data_s", "time_model_build_s", "time_measure_s"))
    return fixed + steps * row["step_time_median_s"] + evaluations * (row["eval_wall_s"] or 0)


def schedule(durations: list[float], parallel: int) -> float:
    """Wall time of running these cells `parallel` at a time, longest first."""
    slots = [0.0] * parallel
    for d in sorted(durations, reverse=True):
        heapq.heappush(slots, heapq.heappop(slots) + d)
    return max(slots)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1, help="cells each probed cell stands for (e.g. seeds left out)")
    ap.add_argument("overrides", nargs="*", default=["+sweep=glue_lora"])
    args = ap.parse_args()
    print(f"cpu: {cpu_name()} x {os.cpu_count()} cores, native bf16: {cpu_native_bf16()}")
    with tempfile.TemporaryDirectory() as scratch:
        # the probe: every cell, its first N steps, evaluated once
        probe = [*args.overrides, f"train.max_steps={args.steps}", f"results_dir={scratch}"]
        print(f"probe: python -m harness {' '.join(probe)}", flush=True)
        start = time.time()
        subprocess.run([sys.executable, "-m", "harness", *probe], cwd=REPO, check=True)
        print(f"probe took {(time.time() - start) / 60:.1f} min")
        rows = load_results(scratch)
    ok = rows[rows["status"] == "ok"]
    projected = [(row["task"], row["precision"], full_cell_s(row), row["train_examples_per_s"])
                 for _, row in ok.iterrows()] * args.repeat
    print(f"precision: {', '.join(sorted(set(ok['precision'])))}; other statuses: "
          f"{rows[rows['status'] != 'ok']['status'].value_counts().to_dict()}")
    for task, _, seconds, rate in projected[:len(ok)]:
        print(f"  {task}: {seconds / 60:.1f} min per cell ({rate:.1f} examples/s per cell in the probe)")
    total = schedule([s for _, _, s, _ in projected], args.parallel)
    print(f"projected sweep: {total / 60:.1f} min on the clock ({args.parallel} cells at a time, longest first); "
          f"cells' own time {sum(s for _, _, s, _ in projected) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
