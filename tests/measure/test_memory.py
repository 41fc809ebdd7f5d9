"""Peak memory readings: the measured phase's own CPU peak, the process peak, NVML absent."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from harness.measure.memory import NvmlSampler, PeakMemory

MB = 1024 * 1024


def run_python(code: str) -> str:
    """Run in a fresh process: RSS high-water marks are per process."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the phase peak needs /proc/self/clear_refs")
def test_phase_peak_excludes_what_came_before_and_process_peak_keeps_it():
    out = run_python("""
        import json
        from harness.measure.memory import PeakMemory, peak_rss_bytes
        MB = 1024 * 1024
        big = bytearray(1500 * MB); big[::4096] = b"x" * len(big[::4096]); del big   # loading-time peak
        with PeakMemory("cpu") as mem:
            small = bytearray(100 * MB); small[::4096] = b"x" * len(small[::4096])    # the phase's own peak
        cols = mem.columns()
        cols["after"] = peak_rss_bytes()
        print(json.dumps(cols))
    """)
    cols = json.loads(out)
    start, phase, process = cols["cpu_rss_train_start_bytes"], cols["peak_cpu_rss_train_bytes"], cols["peak_cpu_rss_bytes"]
    assert start < 1000 * MB  # the big buffer was freed before the phase
    assert phase >= start + 95 * MB  # the phase saw its own 100 MB
    assert phase < start + 700 * MB  # ...and not the earlier 1500 MB (slack for allocator noise)
    assert process >= 1500 * MB  # the process peak survives the reset
    assert cols["after"] == process


def test_cpu_run_has_no_gpu_readings():
    with PeakMemory("cpu") as mem:
        torch.ones(10).sum()
    cols = mem.columns()
    assert cols["peak_gpu_mem_allocated_bytes"] is None and cols["peak_gpu_mem_nvml_bytes"] is None
    assert cols["gpu_other_processes"] is None
    assert cols["peak_cpu_rss_bytes"] > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU driver")
def test_nvml_absent_is_normal_not_an_error():
    with NvmlSampler(0) as sampler:
        pass
    assert not sampler.available and sampler.peak_bytes is None


class _FakeNvml:
    """pynvml's calls the sampler makes, answering with the given process list and device total."""

    def __init__(self, procs, device_used):
        from types import SimpleNamespace

        self.procs = [SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in procs]
        self.device_used = SimpleNamespace(used=device_used)

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        return self.procs

    def nvmlDeviceGetMemoryInfo(self, handle):
        return self.device_used


@pytest.mark.parametrize("procs, expected, others", [
    ([("me", 3_000), (1, 50_000)], 3_000, 1),  # NVML names this process: its own memory, not the device's
    ([], 90_000, None),  # no process list (a sandbox): the device's used memory, sharing unknown
    ([("me", None)], 90_000, 0),  # listed without a figure: the device's; alone on it
    ([(1, 40_000), (2, 50_000)], None, 2),  # others on the device and this process not named: no reading
])
def test_nvml_reads_this_process_and_never_counts_another_cells_memory(procs, expected, others):
    import os

    sampler = NvmlSampler.__new__(NvmlSampler)
    sampler._peak, sampler.shared, sampler.other_processes, sampler._handle = None, False, None, object()
    sampler._nvml = _FakeNvml([(os.getpid() if pid == "me" else pid, used) for pid, used in procs], 90_000)
    sampler._read()
    sampler._read()
    assert sampler.peak_bytes == expected
    assert sampler.other_processes == others


def test_the_most_other_processes_seen_is_recorded_not_the_last():
    import os

    sampler = NvmlSampler.__new__(NvmlSampler)
    sampler._peak, sampler.shared, sampler.other_processes, sampler._handle = None, False, None, object()
    sampler._nvml = _FakeNvml([(os.getpid(), 1_000), (7, 2_000), (8, 2_000)], 90_000)
    sampler._read()
    sampler._nvml = _FakeNvml([(os.getpid(), 1_500)], 90_000)  # the other cells finished
    sampler._read()
    assert sampler.other_processes == 2 and sampler.peak_bytes == 1_500
