"""Never lose a result: SIGKILL mid-sweep then resume, concurrent writers, compaction,
per-run timeouts, unwritable results folders."""

import multiprocessing
import os
import signal
import subprocess
import sys
import time

import pytest

from harness.compact import compact
from harness.record.store import load_results, result_files, write_row
from tests.conftest import REPO, run_cli

TINY = ["data.max_train_samples=32", "data.max_eval_samples=16", "train.batch_size=16",
        "measure.latency_repeats=0", "train.num_threads=1"]


@pytest.mark.slow
def test_sigkill_mid_sweep_then_resume_gives_one_ok_row_per_cell(tmp_path, glue_dir):
    args = [sys.executable, "-m", "harness", "-m", "method=lora,bitfit,ia3", f"data.glue_dir={glue_dir}",
            f"results_dir={tmp_path}", *TINY]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 240
    while not result_files(tmp_path) and time.time() < deadline:
        time.sleep(0.5)
    time.sleep(2)  # well into the next cell
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 1 <= len(load_results(tmp_path)) < 3
    again = subprocess.run(args, cwd=REPO, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    rows = load_results(tmp_path)
    ok = rows[rows["status"] == "ok"]
    assert sorted(ok["method"]) == ["bitfit", "ia3", "lora"]
    assert ok["config_hash"].is_unique


def _writer(results_dir: str, worker: int) -> None:
    for i in range(20):
        write_row({"run_id": f"w{worker}-{i}", "config_hash": "h", "status": "ok", "params_total": i}, results_dir)


def test_eight_concurrent_writers_lose_nothing(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    rows = load_results(tmp_path)
    assert len(rows) == 160 and rows["run_id"].is_unique


def test_compaction_keeps_every_row_once(tmp_path):
    for i in range(5):
        write_row({"run_id": f"a{i}", "status": "ok", "sweep_dir": "sweeps/2026-01-01_00-00-00"}, tmp_path)
    for i in range(3):
        write_row({"run_id": f"b{i}", "status": "ok"}, tmp_path)
    before = sorted(load_results(tmp_path)["run_id"])
    written = compact(tmp_path)
    assert {p.parent.name for p in written} == {"sweep=2026-01-01_00-00-00", "sweep=single"}
    assert not list((tmp_path / "runs").glob("*.parquet"))
    assert sorted(load_results(tmp_path)["run_id"]) == before
    # a compaction cut short (files left behind) still counts each run once
    write_row({"run_id": "a0", "status": "ok"}, tmp_path)
    assert sorted(load_results(tmp_path)["run_id"]) == before


@pytest.mark.slow
def test_timeout_ends_the_cell_with_status_timeout(tmp_path, glue_dir):
    proc = run_cli(f"data.glue_dir={glue_dir}", f"results_dir={tmp_path}", "train.max_wall_s=3", *TINY)
    assert proc.returncode == 0
    rows = load_results(tmp_path)
    assert rows["status"].tolist() == ["timeout"] and "max_wall_s=3" in rows["error"].iloc[0]


def test_unwritable_results_dir_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_cli(f"results_dir={blocker}/sub")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: results_dir={blocker}/sub: not writable (Not a directory)"]


def test_model_path_that_is_not_a_model(tmp_path):
    proc = run_cli("model.package=null", f"model.name_or_path={tmp_path}", f"results_dir={tmp_path / 'r'}")
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: model.name_or_path={tmp_path}: not a model folder (no config.json there)"
