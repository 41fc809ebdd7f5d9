"""Energy of the training phase, from the hardware's own counters, never estimated.

GPU: NVML's total-energy counter (`nvmlDeviceGetTotalEnergyConsumption`, millijoules since the
driver loaded; Volta and newer), read before and after training, as optimum-benchmark reads it.
It counts the whole device, so a shared GPU's figure includes the other processes' work (the row
says so in `gpu_other_processes`). CPU: the RAPL package counters under /sys/class/powercap where
the kernel exposes them readable; elsewhere (VMs, containers, AMD without the driver) the columns
stay null and `energy_note` says why.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

RAPL = Path("/sys/class/powercap")


def _rapl_packages() -> list[Path]:
    """The readable package-level RAPL energy counters (intel-rapl:N/energy_uj), not their subzones."""
    found = []
    for zone in sorted(RAPL.glob("intel-rapl:*")):
        counter = zone / "energy_uj"
        if zone.name.count(":") == 1 and counter.is_file():
            try:
                int(counter.read_text())
                found.append(counter)
            except (OSError, ValueError):  # root-only since CVE-2020-8694, or not a number
                continue
    return found


class EnergyMeter:
    """Context manager around the training phase; `columns(train_tokens)` gives the row's columns."""

    def __init__(self, device: str, nvml_handle=None):
        self.cuda = device.startswith("cuda")
        self._nvml, self._handle = None, None
        self._gpu_mj: list[int] = []
        self._cpu_uj: list[list[int]] = []
        self.note: str | None = None
        if self.cuda:
            try:
                import pynvml

                pynvml.nvmlInit()
                self._nvml = pynvml
                index = int(device.split(":")[1]) if ":" in device else 0
                self._handle = nvml_handle or pynvml.nvmlDeviceGetHandleByIndex(index)
                pynvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)
            except Exception as exc:  # no NVML, or a GPU older than Volta
                self._handle = None
                self.note = f"gpu energy: NVML total-energy counter not readable ({type(exc).__name__})"
        self._rapl = [] if self.cuda else _rapl_packages()
        if not self.cuda and not self._rapl:
            self.note = ("cpu energy: no readable RAPL counter under /sys/class/powercap (a VM or container, "
                         "or root-only access); not estimated")

    def _read(self) -> None:
        if self._handle is not None:
            self._gpu_mj.append(int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)))
        if self._rapl:
            self._cpu_uj.append([int(c.read_text()) for c in self._rapl])

    def __enter__(self):
        self._read()
        return self

    def __exit__(self, *exc):
        self._read()

    def columns(self, train_tokens: int | None) -> dict:
        gpu_j = (self._gpu_mj[-1] - self._gpu_mj[0]) / 1e3 if len(self._gpu_mj) == 2 else None
        cpu_j = None
        if len(self._cpu_uj) == 2:  # a counter wraps at max_energy_range_uj: a negative difference is one wrap
            deltas = []
            for counter, before, after in zip(self._rapl, *self._cpu_uj):
                wrap = int((counter.parent / "max_energy_range_uj").read_text()) if after < before else 0
                deltas.append(after - before + wrap)
            cpu_j = sum(deltas) / 1e6
        energy = gpu_j if self.cuda else cpu_j
        per_1k = energy / train_tokens * 1e3 if energy is not None and train_tokens else None
        return {"gpu_energy_j": gpu_j, "cpu_energy_j": cpu_j, "energy_j_per_1k_train_tokens": per_1k,
                "energy_note": self.note}
