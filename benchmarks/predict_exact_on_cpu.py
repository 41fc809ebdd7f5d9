"""The traced (fake-tensor) peak of live tensor bytes beside the real one, per cell of
tests/predict/test_exact_on_cpu.py, with the difference in percent (a benchmark's record of
what the test asserts within 3 %).

    python benchmarks/predict_exact_on_cpu.py | tee benchmarks/results/predict_exact_on_cpu.txt
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.precision import cpu_native_bf16  # noqa: E402
from harness.record.environment import cpu_name  # noqa: E402
from tests.predict.test_exact_on_cpu import CELLS, cell_config, real_peak, traced_peak  # noqa: E402


def main() -> int:
    print(f"cpu: {cpu_name()} x {os.cpu_count()} cores, native bf16: {cpu_native_bf16()}")
    for cell in CELLS:
        cfg, checkpointed = cell_config(cell)
        real, _ = real_peak(cfg)
        predicted = traced_peak(cfg, checkpointed)
        print(f"{cfg.model.name} {cfg.method.name} {cfg.precision.name} batch {cfg.train.batch_size}"
              f"{' checkpointed' if checkpointed else ''}: real {real / 1e6:.2f} MB, traced {predicted / 1e6:.2f} MB "
              f"({100 * (predicted / real - 1):+.2f} %)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
