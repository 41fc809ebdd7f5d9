"""The step-time model checked on the CPU, as memory is: real training steps of the harness's
models are timed, and the same steps traced on fake tensors and costed on this CPU's measured
profile (harness/predict/cpu_profile.py) land near them: the median cell within 15 %, every
cell within 30 %. The aim is 20 % for every cell, which the benchmark nearly reaches alone (Intel
Xeon, native bf16, trace-roofline-4: 79 of 80 cells of one and two threads within 20 %, median
7.2-9.3 %); in the suite the other worker shares the machine while the profile is measured
beside the steps, so the bounds keep a margin. A
BERT-style (MiniLM) and a LLaMA-style model, full fine-tuning, LoRA, (IA)3, prompt tuning and
P-tuning v2, fp32 and bf16, batch 4 and 16: the benchmark's test set (each value at least
twice), in its own process with one thread, its profile measured afresh beside the steps (the
suite's other workers load the machine, and the profile must see the machine the steps see)."""

import re
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_predicted_step_time_lands_near_real_cpu_steps():
    proc = subprocess.run([sys.executable, "benchmarks/predict_step_time_cpu.py", "--cells", "test", "--threads", "1",
                           "--fresh-profile"],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    errors = {line.split(":")[0]: float(m.group(1)) for line in proc.stdout.splitlines()
              if (m := re.search(r"error ([+-][0-9.]+) %", line))}
    assert len(errors) == 10, proc.stdout
    outside = {cell: e for cell, e in errors.items() if abs(e) > 30}
    assert not outside, f"outside 30 %: {outside}\n{proc.stdout}"
    median = sorted(abs(e) for e in errors.values())[len(errors) // 2 - 1:len(errors) // 2 + 1]
    assert sum(median) / 2 <= 15, proc.stdout
