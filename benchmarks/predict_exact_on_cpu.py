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

from harness.methods import get_method, parse_args  # noqa: E402
from harness.precision import cpu_native_bf16  # noqa: E402
from harness.predict import memory  # noqa: E402
from harness.predict.trace import trace  # noqa: E402
from harness.record.environment import cpu_name  # noqa: E402
from harness.tasks import get_task  # noqa: E402
from tests.conftest import GLUE_DIR, make_cfg  # noqa: E402
from tests.predict.test_exact_on_cpu import CELLS, MODELS, real_peak  # noqa: E402


def main() -> int:
    print(f"cpu: {cpu_name()} x {os.cpu_count()} cores, native bf16: {cpu_native_bf16()}")
    for cell in CELLS:
        family, method, precision, batch, checkpointed = (*cell, False)[:5]
        model, task, seq = MODELS[family]
        cfg = make_cfg(f"model={model}", f"task={task}", f"method={method}", f"precision={precision}",
                       f"train.batch_size={batch}", f"train.max_seq_length={seq}", "data.max_train_samples=64",
                       "train.max_steps=2", "train.num_threads=1", f"data.glue_dir={GLUE_DIR}",
                       f"train.gradient_checkpointing={str(checkpointed).lower()}")
        real, _ = real_peak(cfg)
        m = get_method(cfg.method.name)
        step = trace(cfg.model, get_task(task), m, parse_args(m, cfg.method), precision, batch, seq, foreach=None,
                     gradient_checkpointing=checkpointed)
        predicted = memory.columns(step, precision, gpu=None)["predicted_mem_total_bytes"]
        print(f"{family} {method} {precision} batch {batch}{' checkpointed' if checkpointed else ''}: "
              f"real {real / 1e6:.2f} MB, traced {predicted / 1e6:.2f} MB ({100 * (predicted / real - 1):+.2f} %)",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
