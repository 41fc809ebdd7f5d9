"""Other processes' work on the run's cores, from the kernel's counters (harness/measure/cpu_sharing.py)."""

import subprocess
import sys
import time

import pytest

from harness.measure import cpu_sharing
from harness.measure.cpu_sharing import CpuSharing


@pytest.mark.skipif(cpu_sharing.busy_seconds(None) is None, reason="needs Linux's /proc/stat")
def test_another_process_spinning_on_the_cores_counts_as_sharing():
    spin = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 3: pass"])
    try:
        time.sleep(0.3)  # the spinner is running
        with CpuSharing() as sharing:
            t = time.perf_counter()
            while time.perf_counter() - t < 1.5:  # this process spins too: its own, not other work
                pass
    finally:
        spin.wait()
    assert sharing.others is not None and sharing.others >= 0.6, sharing.others  # about one core's worth


def test_this_processs_own_cpu_time_is_not_other_work(monkeypatch):
    """Busy time of the cores less the process's own, per second of wall time."""
    clocks = {"busy": iter([100.0, 104.0]), "own": iter([10.0, 13.0]), "wall": iter([50.0, 52.0])}
    monkeypatch.setattr(cpu_sharing, "busy_seconds", lambda cores: next(clocks["busy"]))
    monkeypatch.setattr(cpu_sharing.time, "process_time", lambda: next(clocks["own"]))
    monkeypatch.setattr(cpu_sharing.time, "perf_counter", lambda: next(clocks["wall"]))
    with CpuSharing() as sharing:
        pass
    assert sharing.others == pytest.approx(0.5)  # 4 s busy, 3 of them ours, over 2 s


def test_without_the_kernels_counters_the_column_is_null(monkeypatch, tmp_path):
    monkeypatch.setattr(cpu_sharing, "STAT", tmp_path / "absent")
    with CpuSharing() as sharing:
        pass
    assert sharing.columns() == {"cpu_others_busy_cores": None}
