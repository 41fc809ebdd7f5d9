"""The GPU table: short names and torch's device names, case-insensitively; an unknown name is
one line listing the known ones."""

import pytest

from harness.errors import ConfigError
from harness.predict.gpus import GPUS, find_gpu, gpu


@pytest.mark.parametrize(("name", "expected"), [
    ("H100", "H100"), ("h100", "H100"), ("NVIDIA H100 80GB HBM3", "H100"), ("NVIDIA H100 PCIe", "H100-PCIe"),
    ("A100-80GB", "A100-80GB"), ("a100-80gb", "A100-80GB"), ("NVIDIA A100-SXM4-80GB", "A100-80GB"),
    ("NVIDIA A100-SXM4-40GB", "A100-40GB"), ("NVIDIA A100 80GB PCIe", "A100-80GB-PCIe"), ("NVIDIA H200", "H200"),
    ("NVIDIA L40S", "L40S"), ("NVIDIA L4", "L4"), ("NVIDIA A10G", "A10G"), ("NVIDIA A10", "A10"),
    ("NVIDIA GeForce RTX 4090", "RTX4090"), ("rtx4090", "RTX4090"), ("NVIDIA GeForce RTX 3090", "RTX3090"),
    ("Tesla V100-SXM2-32GB", "V100-32GB"), ("Tesla V100-SXM2-16GB", "V100"), ("Tesla T4", "T4"),
])
def test_short_and_device_names(name, expected):
    assert find_gpu(name).name == expected


def test_a_longer_name_is_not_mistaken_for_a_shorter_one():
    assert find_gpu("NVIDIA L40") is None  # not an L4
    assert find_gpu("NVIDIA GH200 480GB") is None  # not an H200


def test_every_gpu_has_memory_peak_bandwidth_and_interconnect():
    for g in GPUS:
        assert g.memory_bytes > 10 * 1024**3 and g.peak_flops > 50e12 and g.bandwidth_gbps > 250
        assert g.interconnect_gbps > 0 and g.interconnect


def test_unknown_gpu_is_one_line_naming_the_known_ones():
    with pytest.raises(ConfigError) as exc:
        gpu("B300")
    message = str(exc.value)
    assert "\n" not in message and "predict.gpu='B300'" in message and "A100-80GB" in message and "RTX4090" in message
