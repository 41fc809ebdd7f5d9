"""Peak memory of the measured phase.

- CPU: peak resident set size of this process (getrusage; each run has its own process), and
  on Linux also the peak of the measured phase alone: the kernel's high-water mark is reset
  when the phase starts (`/proc/self/clear_refs`), as torch's CUDA peak is. The process peak
  includes model loading and tokenisation; the phase peak is what training needs and what the
  predicted memory columns estimate.
- GPU: torch's max allocated / max reserved, reset when the phase starts, and the device's
  own view from NVML, sampled by a background thread: this process's memory as the driver
  counts it (the CUDA context included, which torch does not see) where NVML lists the
  process, else the device's used memory while no other process is on it. Cells side by side
  on one GPU: a device reading would count the others' memory, so it is null unless NVML names
  this process. No driver, no NVML: null.
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import threading

import torch

log = logging.getLogger(__name__)


_peak_before_reset = 0  # the process peak seen before the kernel's high-water mark was last reset


def _rusage_peak_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # Linux reports KiB


def peak_rss_bytes() -> int:
    """Peak resident set size of this process since it started, in bytes."""
    return max(_peak_before_reset, _rusage_peak_bytes())


def _proc_status_bytes(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def current_rss_bytes() -> int | None:
    """Resident set size now (Linux), else None."""
    return _proc_status_bytes("VmRSS")


def phase_peak_rss_bytes() -> int | None:
    """The address space's RSS high-water mark (Linux VmHWM): since the last reset_peak_rss().
    Read directly, not through getrusage, which also folds in the peaks of exited threads."""
    return _proc_status_bytes("VmHWM")


def reset_peak_rss() -> bool:
    """Restart the kernel's RSS high-water mark from the current RSS (Linux >= 4.0), so
    phase_peak_rss_bytes() reads the peak since now; peak_rss_bytes() keeps the earlier peak.
    False where the platform cannot."""
    global _peak_before_reset
    before = peak_rss_bytes()
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    _peak_before_reset = before
    return True


class NvmlSampler:
    """Samples, every `interval_s` in a daemon thread, this process's GPU memory as NVML lists it,
    or the device's used memory where it lists no process but this one; `peak_bytes` is None
    when another process shared the device and NVML did not name this one. `other_processes` is the
    most processes besides this one NVML listed at a sample (None where it lists none at all: a
    sandbox, an old driver), so a shared device's speed is never read as the run's own."""

    def __init__(self, device_index: int, interval_s: float = 0.01):
        self.interval_s = interval_s
        self._peak: int | None = None
        self.shared = False
        self.other_processes: int | None = None
        self._stop = threading.Event()
        self._handle = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(device_index)
        except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...: normal without a GPU
            log.debug("NVML unavailable: %s", exc)
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def available(self) -> bool:
        return self._handle is not None

    @property
    def peak_bytes(self) -> int | None:
        return None if self.shared else self._peak

    def _used(self) -> int | None:
        try:
            procs = self._nvml.nvmlDeviceGetComputeRunningProcesses(self._handle)
        except Exception:  # an old driver or a sandbox without the process list: the device view
            procs = []
        others = sum(1 for p in procs if p.pid != os.getpid())
        if procs:
            self.other_processes = max(self.other_processes or 0, others)
        mine = [p.usedGpuMemory for p in procs if p.pid == os.getpid() and p.usedGpuMemory is not None]
        if mine:
            return int(sum(mine))
        if len(procs) > 1:  # others on the device, and this process not among those named
            self.shared = True
            return None
        return int(self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used)

    def _read(self) -> None:
        used = self._used()
        if used is not None:
            self._peak = max(self._peak or 0, used)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._read()
            self._stop.wait(self.interval_s)

    def __enter__(self):
        if self.available:
            self._read()
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.available:
            self._stop.set()
            self._thread.join()
            self._read()


class PeakMemory:
    """Context manager around the measured phase; `columns()` gives the row's memory columns."""

    def __init__(self, device: str, nvml_interval_s: float = 0.01):
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        index = self.device.index if self.device.index is not None else (torch.cuda.current_device() if self.cuda else 0)
        self.nvml = NvmlSampler(index, nvml_interval_s) if self.cuda else None

    def __enter__(self):
        if self.cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.nvml.__enter__()
        self.rss_start = current_rss_bytes()
        self.rss_reset = reset_peak_rss()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            torch.cuda.synchronize(self.device)
            self.nvml.__exit__(*exc)

    def columns(self) -> dict:
        cols = {"peak_cpu_rss_bytes": peak_rss_bytes(), "cpu_rss_train_start_bytes": self.rss_start,
                "peak_cpu_rss_train_bytes": phase_peak_rss_bytes() if self.rss_reset else None,
                "peak_gpu_mem_allocated_bytes": None, "peak_gpu_mem_reserved_bytes": None,
                "peak_gpu_mem_nvml_bytes": None, "gpu_other_processes": None}
        if self.cuda:
            cols["peak_gpu_mem_allocated_bytes"] = int(torch.cuda.max_memory_allocated(self.device))
            cols["peak_gpu_mem_reserved_bytes"] = int(torch.cuda.max_memory_reserved(self.device))
            cols["peak_gpu_mem_nvml_bytes"] = self.nvml.peak_bytes
            cols["gpu_other_processes"] = self.nvml.other_processes
        return cols
