"""The GPU calibration run works end to end before a GPU is lent: its dry mode runs tiny shapes
on the CPU and writes the profile, the environment and rows of measured and predicted steps."""

import json
import subprocess
import sys

import pytest

from harness.predict.cpu_profile import STEADY_ALLOCATOR
from tests.conftest import REPO


@pytest.mark.slow
def test_the_calibration_script_runs_dry_on_the_cpu(tmp_path):
    import os

    proc = subprocess.run([sys.executable, "benchmarks/gpu_calibration.py", "--dry", "--out", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=900, env={**os.environ, **STEADY_ALLOCATOR})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "profile.json").read_text())["launch_s"] > 0
    assert json.loads((tmp_path / "environment.json").read_text())["device"] == "cpu"
    rows = [json.loads(line) for line in (tmp_path / "steps.jsonl").read_text().splitlines()]
    # the AdaLoRA memory probe (MiniLM on MRPC, random weights) first, then the LLaMA-shape cells
    assert [(r["model"], r["method"]) for r in rows] == [("minilm_l6", "lora"), ("minilm_l6", "adalora"),
                                                         ("llama_ladder_xs", "lora"), ("llama_ladder_xs", "full_ft")]
    assert all(r["status"] == "ok" and r["measured_step_s"] > 0 and r["predicted_step_s"] > 0 for r in rows), rows
