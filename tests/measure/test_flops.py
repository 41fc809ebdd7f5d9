"""Model FLOPs per token: PaLM's 6N + 12LdT for full fine-tuning, less weight-gradient work for
PEFT, and MFU only where the device's peak is known."""

import pytest

from harness.measure.flops import columns, flops_per_token, matmul_params, peak_flops
from tests.measure.test_backprop_depth import H, LAYERS, adapted


def test_full_fine_tuning_is_palms_six_n_plus_twelve_l_d_t():
    model, heads = adapted("full_ft")
    n, n_trainable = matmul_params(model)
    assert n == n_trainable
    assert flops_per_token(model, seq_len=32, backprop_fraction=1.0) == 6 * n + 12 * LAYERS * H * 32


def test_lora_pays_the_activation_gradients_but_only_its_own_weight_gradients():
    model, heads = adapted("lora", "method.dropout=0")
    n, n_trainable = matmul_params(model)
    assert 0 < n_trainable < n / 4  # adapters and head (large at hidden 64)
    assert flops_per_token(model, 32, 1.0) == 4 * n + 12 * LAYERS * H * 32 + 2 * n_trainable


def test_mfu_needs_a_known_peak():
    assert peak_flops("NVIDIA H100 80GB HBM3") == pytest.approx(989.4e12)
    assert peak_flops("NVIDIA H100 PCIe") == pytest.approx(756e12)
    assert peak_flops("Intel(R) Xeon(R) Processor") is None
    model, heads = adapted("lora")
    cols = columns(model, heads, 32.0, 1000.0, None)
    assert cols["model_flops_per_token"] > 0 and cols["mfu"] is None
