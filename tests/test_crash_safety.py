"""Never lose a result: SIGKILL mid-sweep then resume, concurrent writers, compaction,
per-run timeouts, unwritable results folders."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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
    # plain processes, not multiprocessing's: its resource tracker would live as long as pytest
    code = "import sys; from tests.test_crash_safety import _writer; _writer(sys.argv[1], int(sys.argv[2]))"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), str(w)], cwd=REPO) for w in range(8)]
    for p in procs:
        assert p.wait(timeout=300) == 0
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
    assert proc.returncode == 3
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


def _children_of(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
    except OSError:
        return f"pid {pid} (gone)"


def _cells_under(pid: int) -> list[int]:
    """Cell processes (`python -m harness.cell`) anywhere below `pid`: its children under the
    basic launcher, a pool worker's children under joblib."""
    cells, frontier = [], [pid]
    while frontier:
        children = [c for p in frontier for c in _children_of(p)]
        for child in children:
            try:
                if b"harness.cell" in Path(f"/proc/{child}/cmdline").read_bytes():
                    cells.append(child)
            except OSError:
                pass
        frontier = children
    return cells


def _descendants(pid: int) -> list[int]:
    out, frontier = [], [pid]
    while frontier:
        frontier = [c for p in frontier for c in _children_of(p)]
        out += frontier
    return out


def _gone(pid: int, within_s: float) -> bool:
    deadline = time.time() + within_s
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        stat = Path(f"/proc/{pid}/stat")
        if stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return True  # a zombie has finished; only its exit status is left
        time.sleep(0.1)
    return False


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=joblib_local", "hydra.launcher.n_jobs=2"]],
                         ids=["basic", "joblib"])
def test_kill_9_of_the_sweep_process_alone_takes_its_running_cell_down(tmp_path, glue_dir, launcher):
    """What a user, a scheduler or the OOM killer does: SIGKILL to the sweep's own pid, not its
    group. The running cell must not survive to write a row the resumed sweep writes again,
    also when a pool worker (joblib), not the sweep, is the cell's parent."""
    args = [sys.executable, "-m", "harness", "-m", "method=lora,bitfit", f"data.glue_dir={glue_dir}",
            f"results_dir={tmp_path}", *TINY, *launcher]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, cells = time.time() + 120, []
    while not cells and time.time() < deadline:
        cells = _cells_under(proc.pid)
        time.sleep(0.2)
    assert cells, "the sweep started no cell process"
    assert list((tmp_path / "claims").glob("*.json")), "the running cell holds no claim"
    everything = _descendants(proc.pid)  # cells, and under joblib its pool workers and resource tracker
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert all(_gone(c, within_s=10) for c in cells), "a cell outlived its sweep"
    left = [p for p in everything if not _gone(p, within_s=15)]
    assert not left, f"processes outlived the killed sweep: {[_cmdline(p) for p in left]}"
    time.sleep(2)  # a pool worker left behind, had it recorded the stopped cell, would write now
    assert (load_results(tmp_path)["status"] == "ok").all(), "a killed sweep's cell left a status row"
    again = subprocess.run(args, cwd=REPO, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    time.sleep(2)  # an orphan, had one survived, would write now
    rows = load_results(tmp_path)
    ok = rows[rows["status"] == "ok"]
    assert sorted(ok["method"]) == ["bitfit", "lora"] and ok["config_hash"].is_unique
    assert not list((tmp_path / "claims").glob("*.json"))


def test_a_live_claim_blocks_a_second_runner_and_a_stale_one_is_taken_over(tmp_path):
    from harness import claims

    mine, held = claims.take(tmp_path, "abc")
    assert mine is not None and held is None
    other, held = claims.take(tmp_path, "abc")  # this process is alive: the claim is live
    assert other is None and str(os.getpid()) in held.describe()
    mine.release()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "claims" / "abc.json").write_text(
        '{"host": "%s", "pids": {"%d": null}}' % (__import__("socket").gethostname(), dead.pid))
    again, held = claims.take(tmp_path, "abc")
    assert again is not None and held is None
    again.release()
    (tmp_path / "claims" / "abc.json").write_text('{"host": "another-host", "pids": {"1": null}}')
    assert claims.take(tmp_path, "abc")[0] is None  # cannot be checked from here: honoured


@pytest.mark.slow
def test_sigterm_of_a_parallel_sweep_leaves_no_shared_memory_behind(tmp_path, glue_dir):
    args = [sys.executable, "-m", "harness", "-m", "method=lora,bitfit", "hydra/launcher=joblib_local",
            f"data.glue_dir={glue_dir}", f"results_dir={tmp_path}", *TINY]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    shm = Path("/dev/shm")
    mine = lambda: list(shm.glob(f"joblib_memmapping_folder_{proc.pid}_*"))  # noqa: E731
    deadline = time.time() + 120
    while not mine() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert mine(), "the pool created no memory-mapping folder to test with"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted (signal 15)" in err and "leaked" not in err and "Traceback" not in err
    assert not mine() and not list(shm.glob(f"sem.loky-{proc.pid}-*"))
