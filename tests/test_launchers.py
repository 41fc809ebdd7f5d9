"""Hydra launchers: parallel local cells through joblib, each still in its own process."""

import pytest

from harness.record.store import load_results
from tests.conftest import run_cli

TINY = ["data.max_train_samples=32", "data.max_eval_samples=16", "train.batch_size=16",
        "measure.latency_repeats=0", "train.num_threads=1"]


@pytest.mark.slow
def test_joblib_sweep_of_four_cells_with_two_workers(tmp_path, glue_dir):
    proc = run_cli("-m", "hydra/launcher=joblib_local", "hydra.launcher.n_jobs=2", "method=lora,bitfit,ia3,full_ft",
                   f"data.glue_dir={glue_dir}", f"results_dir={tmp_path}", *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Joblib" in proc.stdout + proc.stderr
    rows = load_results(tmp_path)
    assert sorted(rows["method"]) == ["bitfit", "full_ft", "ia3", "lora"]
    assert (rows["status"] == "ok").all()
    assert sorted(rows["sweep_job_num"]) == [0, 1, 2, 3]


@pytest.mark.slow
def test_two_process_gloo_ddp_run(tmp_path, glue_dir):
    proc = run_cli("train.distributed=ddp", "train.nproc_per_node=2", "method=lora", f"data.glue_dir={glue_dir}",
                   f"results_dir={tmp_path}", "data.max_train_samples=64", "data.max_eval_samples=16",
                   "train.batch_size=16", "measure.latency_repeats=0", "train.num_threads=1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = load_results(tmp_path)
    assert len(rows) == 1, rows[["status", "error"]]  # the main process records, once
    row = rows.iloc[0]
    assert row["status"] == "ok", row["error"]
    assert row["world_size"] == 2
    assert row["train_steps"] == 2  # 4 batches shared by 2 processes
    assert row["score"] is not None
