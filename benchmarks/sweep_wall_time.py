"""Wall time of a whole sweep on this machine (a benchmark, not a test).

Runs `python -m harness <args>` (default: the main job, `+sweep=glue_lora`), times it on the
clock, then summarises the rows that sweep wrote: cells per status, the precision `auto`
resolved to and why, the cells' own time per task, and which CPU kind ran it (native bf16 or
not), so a figure is never quoted without the hardware it came from.

    python benchmarks/sweep_wall_time.py [--results results/] [-- harness overrides ...]
    python benchmarks/sweep_wall_time.py -- +sweep=glue_lora | tee benchmarks/results/glue_lora_wall_$(hostname).txt
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.precision import cpu_native_bf16  # noqa: E402
from harness.record.environment import cpu_name  # noqa: E402
from harness.record.store import load_results  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results")
    ap.add_argument("overrides", nargs="*", default=["+sweep=glue_lora"])
    args = ap.parse_args()
    overrides = [*args.overrides, f"results_dir={args.results}"]
    before = set(load_results(args.results, columns=["run_id"])["run_id"])
    print(f"cpu: {cpu_name()} x {os.cpu_count()} cores, native bf16: {cpu_native_bf16()}; "
          f"python {platform.python_version()}")
    print(f"command: python -m harness {' '.join(overrides)}", flush=True)
    start = time.time()
    rc = subprocess.run([sys.executable, "-m", "harness", *overrides], cwd=REPO).returncode
    wall = time.time() - start
    rows = load_results(args.results)
    rows = rows[~rows["run_id"].isin(before)]
    print(f"\nexit code {rc}; wall time {wall / 60:.1f} min on the clock; {len(rows)} new row(s)")
    if rows.empty:
        return rc
    print("status: " + ", ".join(f"{s} {n}" for s, n in rows["status"].value_counts().items()))
    for (requested, precision, reason), n in rows.groupby(["precision_requested", "precision", "precision_reason"],
                                                          dropna=False).size().items():
        print(f"precision {requested} -> {precision} ({n} cells): {reason}")
    ok = rows[rows["status"] == "ok"]
    per_task = ok.groupby("task").agg(cells=("run_wall_s", "size"), cell_minutes=("run_wall_s", "sum"),
                                      examples_per_s=("train_examples_per_s", "median"), score=("score", "mean"))
    per_task["cell_minutes"] /= 60
    print(f"cells' own time: {ok['run_wall_s'].sum() / 60:.1f} min in all\n{per_task.round(3).to_string()}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
