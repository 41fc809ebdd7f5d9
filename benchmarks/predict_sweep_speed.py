"""How long `mode=predict` takes over a whole sweep on this machine (a benchmark, not a test).

Runs the memory table's sweep (3 methods x 3 batch sizes x 3 precisions) in predict mode for
several GPUs at once, into a scratch results folder, and prints the wall time, cells and the
CPU it ran on. Predictions run in the sweep's own process and share their traces: a trace
depends on the model, method, precision, batch and length, not on the GPU.

    python benchmarks/predict_sweep_speed.py [-- extra overrides]
"""

from __future__ import annotations

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

GPUS = "A100-80GB,H100,RTX4090,L4"


def main() -> int:
    extra = sys.argv[2:] if len(sys.argv) > 1 and sys.argv[1] == "--" else sys.argv[1:]
    print(f"cpu: {cpu_name()} x {os.cpu_count()} cores, native bf16: {cpu_native_bf16()}")
    with tempfile.TemporaryDirectory() as scratch:
        cmd = [sys.executable, "-m", "harness", "+sweep=memory_table", "mode=predict", f"predict.gpu={GPUS}",
               "precision=fp16,int8,int4", f"results_dir={scratch}", *extra]
        print("command:", " ".join(cmd[1:]), flush=True)
        start = time.time()
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        wall = time.time() - start
        rows = load_results(scratch)
    if proc.returncode:
        print(proc.stderr[-3000:])
        return proc.returncode
    print(f"{len(rows)} cells ({rows['status'].value_counts().to_dict()}) predicted in {wall:.1f} s "
          f"({wall / max(len(rows), 1):.2f} s per cell, start-up included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
