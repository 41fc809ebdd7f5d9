"""A GPU trace applies CUDA's autocast rules, checked op by op against torch's own CUDA autocast
(run on fake CUDA tensors, which a CPU-only build can create for these ops but cannot slice, so
the harness's traces emulate the rules instead)."""

import pytest
import torch
import torch.nn.functional as F
from torch._subclasses.fake_tensor import FakeTensorMode

from harness.predict.trace import gpu_kernels

BF16 = torch.bfloat16
OPS = {
    "layer_norm": lambda x, w: F.layer_norm(x, (8,)),
    "group_norm": lambda x, w: F.group_norm(x, 2),
    "softmax": lambda x, w: F.softmax(x, -1),
    "log_softmax": lambda x, w: x.log_softmax(-1),
    "exp": lambda x, w: torch.exp(x),
    "pow": lambda x, w: x.pow(2),
    "rsqrt": lambda x, w: x.rsqrt(),
    "linear_fp32_input": lambda x, w: F.linear(x.float(), w),
    "matmul": lambda x, w: x @ w.T,
    "gelu": lambda x, w: F.gelu(x),
    "add": lambda x, w: x + 1,
    "cross_entropy": lambda x, w: F.cross_entropy(x, target(x)),
}


def target(x: torch.Tensor) -> torch.Tensor:
    """Class 0 for every row (left unfilled on fake CUDA tensors, where only the dtype matters)."""
    t = torch.empty(x.shape[0], dtype=torch.long, device=x.device)
    return t if x.device.type == "cuda" else t.zero_()


def cuda_dtype(op) -> torch.dtype:
    with FakeTensorMode(allow_non_fake_inputs=True):
        x = torch.empty(4, 8, dtype=BF16, device="cuda")
        w = torch.empty(8, 8, dtype=BF16, device="cuda")
        enabled, previous = torch.is_autocast_enabled("cuda"), torch.get_autocast_dtype("cuda")
        torch.set_autocast_enabled("cuda", True)
        torch.set_autocast_dtype("cuda", BF16)
        try:
            return op(x, w).dtype
        finally:
            torch.set_autocast_enabled("cuda", enabled)
            torch.set_autocast_dtype("cuda", previous)


@pytest.mark.parametrize("name", sorted(OPS))
def test_the_gpu_traces_autocast_gives_each_op_cudas_dtype(name):
    try:
        expected = cuda_dtype(OPS[name])
    except RuntimeError as e:  # a build whose fake CUDA tensors cannot run the op
        pytest.skip(f"torch's CUDA autocast cannot run here: {e}")
    x, w = torch.randn(4, 8, dtype=BF16), torch.randn(8, 8, dtype=BF16)
    with gpu_kernels(), torch.autocast("cpu", dtype=BF16):
        assert OPS[name](x, w).dtype == expected


def test_the_cpu_keeps_normalisations_in_16_bits_where_cuda_does_not():
    x, w = torch.randn(4, 8, dtype=BF16), torch.randn(8, dtype=BF16)
    with torch.autocast("cpu", dtype=BF16):
        assert F.layer_norm(x, (8,), w, w).dtype == BF16 and F.softmax(x, -1).dtype == BF16
    with gpu_kernels(), torch.autocast("cpu", dtype=BF16):
        assert F.layer_norm(x, (8,), w, w).dtype == torch.float32 and F.softmax(x, -1).dtype == torch.float32


def test_a_checkpointed_layernorm_model_traces_under_cudas_rules():
    """Checkpointing recomputes each layer in backward under the autocast state it saved; the
    rules must hold there too, or the recomputed LayerNorm outputs differ from the forward's."""
    from harness.predict import cell as predict_cell
    from tests.conftest import make_cfg

    rows = {}
    for checkpointed in (False, True):
        cfg = make_cfg("mode=predict", "model=minilm_l6", "task=glue/rte", "method=lora", "precision=bf16",
                       "predict.seq_len=64", "train.batch_size=8", "predict.gpu=H100",
                       f"train.gradient_checkpointing={str(checkpointed).lower()}")
        rows[checkpointed] = {}
        predict_cell.predict_cell(cfg, rows[checkpointed])
    assert 0 < rows[True]["predicted_mem_activations_bytes"] < rows[False]["predicted_mem_activations_bytes"]
