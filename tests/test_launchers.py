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
def test_ray_sweep_of_two_cells_on_a_local_ray(tmp_path, glue_dir):
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="needs the [ray] extra")
    proc = run_cli("-m", "hydra/launcher=ray_cluster", "hydra.launcher.ray.init.address=null",
                   "+hydra.launcher.ray.init.num_cpus=2",
                   "hydra.launcher.ray.remote.num_gpus=0",
                   "hydra.launcher.ray.remote.num_cpus=1", "method=lora,bitfit", f"data.glue_dir={glue_dir}",
                   f"results_dir={tmp_path}", *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = load_results(tmp_path)
    assert sorted(rows["method"]) == ["bitfit", "lora"] and (rows["status"] == "ok").all()


DATA_PARALLEL = ["train.nproc_per_node=2", "data.max_train_samples=64", "data.max_eval_samples=16",
                 "train.batch_size=16", "measure.latency_repeats=0", "train.num_threads=1"]


@pytest.mark.slow
def test_two_process_gloo_ddp_and_fsdp_runs_train_alike(tmp_path, glue_dir):
    rows = {}
    for mode in ("ddp", "fsdp"):
        proc = run_cli(f"train.distributed={mode}", "method=lora", f"data.glue_dir={glue_dir}",
                       f"results_dir={tmp_path / mode}", "measure.predict=true", *DATA_PARALLEL)
        assert proc.returncode == 0, proc.stderr[-3000:]
        found = load_results(tmp_path / mode)
        assert len(found) == 1, found[["status", "error"]]  # the main process records, once
        rows[mode] = found.iloc[0]
        assert rows[mode]["status"] == "ok", rows[mode]["error"]
        assert rows[mode]["distributed"] == mode and rows[mode]["world_size"] == 2
        assert rows[mode]["train_steps"] == 2  # 4 batches shared by 2 processes
    assert "fsdp: 7 blocks (BertEmbeddings, BertLayer) and the root sharded over 2 processes" in proc.stderr
    ddp, fsdp = rows["ddp"], rows["fsdp"]
    # same batches, same averaged gradients: sharding changes where the numbers live, not what they are
    assert fsdp["final_train_loss"] == pytest.approx(ddp["final_train_loss"], abs=1e-5)
    assert fsdp["score"] == ddp["score"] is not None
    # rank 0 measured the gathered, trained weights: the merged LoRA deltas touch the same entries
    assert fsdp["params_changed"] == ddp["params_changed"] > fsdp["params_added"]
    # each FSDP process holds half the weights, gradients and optimizer state
    assert fsdp["predicted_mem_weights_bytes"] == pytest.approx(ddp["predicted_mem_weights_bytes"] / 2, abs=1)


@pytest.mark.slow
def test_fsdp_refuses_adalora_with_an_unsupported_row(tmp_path, glue_dir):
    proc = run_cli("train.distributed=fsdp", "method=adalora", f"data.glue_dir={glue_dir}",
                   f"results_dir={tmp_path}", *DATA_PARALLEL)
    assert proc.returncode == 3, proc.stderr[-3000:]  # a cell that did not end ok
    row = load_results(tmp_path).iloc[0]
    assert row["status"] == "unsupported" and "AdaLoRA" in row["error"]
