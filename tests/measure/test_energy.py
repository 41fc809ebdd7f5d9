"""Energy comes from counters or not at all: NVML's total-energy counter on a GPU (here a fake
NVML), RAPL on a CPU where readable, and otherwise null with the reason, never a guess."""

import sys
import types

from harness.measure import energy


def test_gpu_energy_is_the_nvml_counters_difference(monkeypatch):
    readings = iter([1_000_000, 1_250_500])  # millijoules
    fake = types.SimpleNamespace(nvmlInit=lambda: None, nvmlDeviceGetHandleByIndex=lambda i: "h",
                                 nvmlDeviceGetTotalEnergyConsumption=lambda h: 0)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    meter = energy.EnergyMeter("cuda:0")
    fake.nvmlDeviceGetTotalEnergyConsumption = lambda h: next(readings)
    with meter:
        pass
    cols = meter.columns(train_tokens=5_000)
    assert cols["gpu_energy_j"] == 250.5 and cols["energy_j_per_1k_train_tokens"] == 50.1
    assert cols["energy_note"] is None


def test_cpu_without_rapl_is_null_with_the_reason(monkeypatch, tmp_path):
    monkeypatch.setattr(energy, "RAPL", tmp_path / "no_powercap")
    with energy.EnergyMeter("cpu") as meter:
        pass
    cols = meter.columns(train_tokens=1000)
    assert cols["cpu_energy_j"] is None and cols["energy_j_per_1k_train_tokens"] is None
    assert "no readable RAPL counter" in cols["energy_note"]


def test_cpu_rapl_counters_are_summed_across_a_wrap(monkeypatch, tmp_path):
    zone = tmp_path / "intel-rapl:0"
    zone.mkdir()
    (zone / "max_energy_range_uj").write_text("1000000\n")
    (zone / "energy_uj").write_text("999000\n")
    monkeypatch.setattr(energy, "RAPL", tmp_path)
    meter = energy.EnergyMeter("cpu").__enter__()
    (zone / "energy_uj").write_text("4000\n")  # wrapped: 1,000 + 4,000 uJ
    meter.__exit__(None, None, None)
    assert meter.columns(train_tokens=None)["cpu_energy_j"] == 0.005
