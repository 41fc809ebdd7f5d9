"""The GPUs a prediction can be made for: memory, dense 16-bit tensor peak, memory bandwidth and
the interconnect between GPUs of one machine.

Figures are the vendors' datasheets (dense, no structured sparsity; GeForce cards at FP32
accumulate, which is what PyTorch's matmuls use). `memory_mib` is the total nvidia-smi reports
for the part, which is what the CUDA context and the allocator share. `interconnect_gbps` is the
bandwidth one GPU has to its peers per direction: NVLink (A100 300, H100/H200 450), else PCIe
(Gen3 x16 16, Gen4 32, Gen5 64). Cards without native bf16 (V100, T4) run 16-bit as fp16.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.errors import ConfigError

MIB = 1024**2


@dataclass(frozen=True)
class GPU:
    name: str  # the short name `predict.gpu` takes
    device_names: tuple[str, ...]  # substrings of torch.cuda.get_device_name(), lower case
    memory_mib: int
    peak_16bit_tflops: float
    bandwidth_gbps: float  # memory bandwidth, GB/s
    interconnect_gbps: float  # to a peer GPU, per direction, GB/s
    interconnect: str
    bf16: bool = True

    @property
    def memory_bytes(self) -> int:
        return self.memory_mib * MIB

    @property
    def peak_flops(self) -> float:
        return self.peak_16bit_tflops * 1e12


GPUS: tuple[GPU, ...] = (
    GPU("H100", ("h100 80gb hbm3", "h100-sxm", "h100 sxm"), 81559, 989.4, 3350, 450, "NVLink 4"),
    GPU("H100-PCIe", ("h100 pcie",), 81559, 756.0, 2000, 64, "PCIe Gen5"),
    GPU("H100-NVL", ("h100 nvl",), 95830, 835.0, 3900, 300, "NVLink bridge"),
    GPU("H200", ("h200",), 143771, 989.4, 4800, 450, "NVLink 4"),
    GPU("A100-80GB-PCIe", ("a100 80gb pcie", "a100-pcie-80gb"), 81920, 312.0, 1935, 32, "PCIe Gen4"),
    GPU("A100-40GB-PCIe", ("a100-pcie-40gb", "a100 40gb pcie"), 40960, 312.0, 1555, 32, "PCIe Gen4"),
    GPU("A100-80GB", ("a100-sxm4-80gb", "a100 80gb", "a100-sxm-80gb", "a100 sxm4 80gb"), 81920, 312.0, 2039, 300,
        "NVLink 3"),
    GPU("A100-40GB", ("a100-sxm4-40gb", "a100 40gb", "a100-sxm-40gb", "a100 sxm4 40gb"), 40960, 312.0, 1555, 300,
        "NVLink 3"),
    GPU("L40S", ("l40s",), 46068, 362.1, 864, 32, "PCIe Gen4"),
    GPU("L4", ("nvidia l4",), 23034, 121.0, 300, 32, "PCIe Gen4"),
    GPU("A10G", ("a10g",), 23028, 70.0, 600, 32, "PCIe Gen4"),
    GPU("A10", ("nvidia a10",), 23028, 125.0, 600, 32, "PCIe Gen4"),
    GPU("RTX4090", ("rtx 4090",), 24564, 165.2, 1008, 32, "PCIe Gen4"),
    GPU("RTX3090", ("rtx 3090",), 24576, 71.0, 936, 32, "PCIe Gen4"),
    GPU("V100-32GB", ("v100-sxm2-32gb", "v100-32gb", "v100s"), 32768, 125.0, 900, 150, "NVLink 2", bf16=False),
    GPU("V100", ("v100",), 16384, 125.0, 900, 150, "NVLink 2", bf16=False),
    GPU("T4", ("tesla t4", "nvidia t4"), 15360, 65.0, 320, 16, "PCIe Gen3", bf16=False),
)


def _norm(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").split())


def find_gpu(name: str) -> GPU | None:
    """The GPU a short name (`A100-80GB`, case-insensitive) or a device name as
    torch.cuda.get_device_name() returns it (`NVIDIA A100-SXM4-80GB`) stands for; None if unknown.
    Device names are matched most specific first (an H100 PCIe is not an H100 SXM)."""
    key = _norm(name)
    for gpu in GPUS:
        if key == _norm(gpu.name) or key == _norm(gpu.name).replace("-", " ") or key.replace(" ", "-") == _norm(
                gpu.name):
            return gpu
    for gpu in GPUS:
        if any(re.search(r"(?<![0-9a-z])" + re.escape(pattern) + r"(?![0-9a-z])", key) for pattern in gpu.device_names):
            return gpu
    return None


def gpu(name: str) -> GPU:
    """`find_gpu`, or a one-line error naming the known GPUs."""
    found = find_gpu(name)
    if found is None:
        raise ConfigError(f"predict.gpu={name!r} is not a known GPU; known: {', '.join(g.name for g in GPUS)} "
                          f"(or a name as torch.cuda.get_device_name() gives it)")
    return found
