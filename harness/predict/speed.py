"""Step time on a GPU from the traced step's FLOPs: FLOPs / (the GPU's dense 16-bit peak x an
efficiency), never faster than reading the weights from memory, plus AdamW's update (memory-
bound: it reads parameter, gradient and both moments and writes three of them, fp32, 28 bytes
per trainable parameter) and the communication of a data-parallel step.

The efficiency is the fraction of the peak the step's traced FLOPs run at (recomputation under
checkpointing included: hardware FLOPs, not model FLOPs). It depends on the regime and on how
many tokens one micro-batch holds: small micro-batches are launch-bound. Per regime,

    efficiency(t) = top x t / (t + half)       t = tokens of one micro-batch

with `top` and `half` fitted to published GPU measurements (the rows named in `source`, from
harness/report/references/gpu_training_measurements.csv); the predicted-vs-published report
therefore shows these points in-sample. Regimes without published points say `assumed`.
`predict.mfu=<x>` overrides it for a run (and the row says so).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.predict.gpus import GPU

# regime -> (top, half, source)
EFFICIENCY: dict[str, tuple[float, float, str]] = {
    "peft": (0.60, 400, "fitted: Qwen-7B LoRA r=64, A100, 256-8192 tokens (Qwen README, 6 points)"),
    "full": (0.25, 400, "fitted: Llama-3.2-3B full fine-tuning, L40S (peft method_comparison, 1 point); "
                        "the half point is the LoRA fit's"),
    "int4": (0.55, 1100, "fitted: Qwen-7B Q-LoRA (GPTQ int4), A100, 256-8192 tokens (Qwen README, 3 points)"),
    "int8": (0.20, 1100, "assumed: half of int4's (bitsandbytes LLM.int8's outlier decomposition); no published point"),
    "fp32": (0.10, 400, "assumed: fp32 matmuls (TF32 at best) against the 16-bit peak; no published point"),
}


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


def efficiency(method: str, precision: str, micro_batch_tokens: float) -> tuple[float, str]:
    top, half, source = EFFICIENCY[regime(method, precision)]
    return top * micro_batch_tokens / (micro_batch_tokens + half), source


ADAMW_BYTES_PER_PARAMETER = 28  # fp32: read p, g, m, v; write p, m, v


def step_time(flops: float, weight_bytes: int, micro_batch_tokens: float, gpu: GPU, method: str, precision: str,
              mfu: float | None = None, comm_bytes: int = 0, gpus: int = 1, trainable: int = 0) -> Speed:
    """Seconds per optimizer step on one GPU (the slower of compute and reading the weights
    three times: forward, backward, optimizer), AdamW's update of the `trainable` parameters this GPU holds, and the
    step's communication between `gpus` GPUs (ring all-reduce / all-gather + reduce-scatter move
    2 (n-1)/n of the bytes)."""
    if mfu is None:
        mfu, source = efficiency(method, precision, micro_batch_tokens)
    else:
        source = "predict.mfu"
    compute = flops / (gpu.peak_flops * mfu)
    memory = 3 * weight_bytes / (gpu.bandwidth_gbps * 1e9)
    update = ADAMW_BYTES_PER_PARAMETER * trainable / (gpu.bandwidth_gbps * 1e9)
    comm = 2 * (gpus - 1) / gpus * comm_bytes / (gpu.interconnect_gbps * 1e9) if gpus > 1 else 0.0
    return Speed(max(compute, memory) + update + comm, mfu, source, comm)
