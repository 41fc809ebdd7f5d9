"""Step time on a GPU from the traced step's FLOPs: FLOPs / (the GPU's dense 16-bit peak x an
efficiency), never faster than reading the weights from memory, plus the communication of a
data-parallel step.

The efficiency (model FLOPs utilisation, MFU) is what trainers of this kind reach; it depends
on the regime more than on the model. `MFU` holds one figure per regime with where it came
from; `predict.mfu=<x>` overrides it for a run (and the row says so). Until published GPU
measurements calibrate them (harness/report/references/, the predicted-vs-published table),
the figures are the ones commonly reported for PyTorch/transformers training without fused
kernels, and rows say `assumed`.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.predict.gpus import GPU

# regime -> (MFU, source)
MFU: dict[str, tuple[float, str]] = {
    "full": (0.40, "assumed: transformers + AdamW, bf16, no fused kernels"),
    "peft": (0.35, "assumed: frozen base, adapters' small matmuls and launches"),
    "int8": (0.10, "assumed: bitsandbytes LLM.int8 (outlier decomposition, int8 matmuls)"),
    "int4": (0.25, "assumed: bitsandbytes NF4, dequantise before each matmul"),
    "fp32": (0.05, "assumed: fp32 matmuls on TF32-less paths, against the 16-bit peak"),
}
SMALL_STEP_TOKENS = 2048  # below this many tokens a step is launch-bound: efficiency falls with them


@dataclass
class Speed:
    step_s: float
    mfu: float
    mfu_source: str
    comm_s: float


def regime(method: str, precision: str) -> str:
    if precision in ("int8", "int4", "fp32"):
        return precision
    return "full" if method == "full_ft" else "peft"


def step_time(flops: float, weight_bytes: int, tokens: int, gpu: GPU, method: str, precision: str,
              mfu: float | None = None, comm_bytes: int = 0, gpus: int = 1) -> Speed:
    """Seconds per optimizer step on one GPU (the slower of compute and reading the weights
    three times: forward, backward, optimizer), plus the step's communication between `gpus`
    GPUs (ring all-reduce / all-gather + reduce-scatter move 2 (n-1)/n of the bytes)."""
    if mfu is None:
        mfu, source = MFU[regime(method, precision)]
        if tokens < SMALL_STEP_TOKENS:
            mfu *= tokens / SMALL_STEP_TOKENS
            source += f"; x {tokens}/{SMALL_STEP_TOKENS} tokens per step (launch-bound)"
    else:
        source = "predict.mfu"
    compute = flops / (gpu.peak_flops * mfu)
    memory = 3 * weight_bytes / (gpu.bandwidth_gbps * 1e9)
    comm = 2 * (gpus - 1) / gpus * comm_bytes / (gpu.interconnect_gbps * 1e9) if gpus > 1 else 0.0
    return Speed(max(compute, memory) + comm, mfu, source, comm)
