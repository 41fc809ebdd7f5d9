"""From a traced step's live tensor bytes to what a GPU would report.

The trace gives the peak of live tensor bytes and its split (weights, gradients, optimizer
state, activations; harness/predict/live_bytes.py). Added here, each a column of the row:

- quantised storage: int8/int4 runs are traced with the linear layers bitsandbytes would
  quantise in its compute dtype (int4: bf16; int8: the harness's fp32), then those weights are replaced by what
  bitsandbytes stores (0.50): LLM.int8 = 1 byte per entry + one fp32 scale per output row;
  NF4 with double quantisation (QLoRA) = 0.5 byte per entry + one 8-bit absmax per 64-entry block
  + one fp32 scale per 256 blocks. Plus one dequantised 16-bit copy of the largest such layer,
  live inside its matmul (forward and backward dequantise the weight they multiply by).
- allocator rounding: torch's CUDA caching allocator rounds every allocation up to 512 bytes
  (c10/cuda/CUDACachingAllocator.cpp, kMinBlockSize); the trace applies it per tensor.
- cuBLAS workspaces: allocated through the caching allocator, so inside
  torch.cuda.max_memory_allocated(): 4096 KiB x 2 + 16 KiB x 8 before Hopper, 32 MiB from
  Hopper on (PyTorch's default workspace sizes, aten/src/ATen/cuda/CublasHandlePool.cpp), one
  per (cuBLAS handle, stream). Handles are per thread, and autograd runs the backward on its
  own device thread, so a training step holds two: the forward's and the backward's. The 57
  H200 rows agree (every method was short by 45-76 MiB with one); benchmarks/gpu_calibration.py
  measures it directly the next time a GPU is lent.
- reserved: the caching allocator keeps freed blocks for reuse, so its reserved peak exceeds
  the allocated one. Assumed 8 % above allocated, rounded up to its 2 MiB segments: an
  assumption to be calibrated against measured rows (`measure` and `predict` in one sweep).
- CUDA context: not in torch's counters, in NVML's: ~500 MiB for CUDA 12 with lazy module
  loading on Ampere/Hopper (what nvidia-smi shows for a process that has only initialised
  CUDA and cuBLAS). Counted against the GPU's memory when judging whether a run fits.
"""

from __future__ import annotations

import math

from harness.predict.gpus import GPU
from harness.predict.trace import StepTrace

MIB = 1024**2
RESERVED_OVER_ALLOCATED = 1.08
CUDA_CONTEXT_BYTES = 500 * MIB
HOPPER_AND_LATER = ("H100", "H200")


def quantised_bytes(precision: str, shapes: list[tuple[int, int]]) -> int:
    """What bitsandbytes stores for these (out_features, in_features) weights."""
    if precision == "int8":
        return sum(o * i + 4 * o for o, i in shapes)
    if precision == "int4":
        total = 0
        for o, i in shapes:
            n = o * i
            blocks = math.ceil(n / 64)
            total += math.ceil(n / 2) + blocks + 4 * math.ceil(blocks / 256)
        return total
    return 0


# threads that run matmuls in a training step, each with its own cuBLAS handle and workspace:
# the caller's (forward, optimizer) and autograd's device thread (backward)
CUBLAS_HANDLES_IN_A_STEP = 2


def cublas_workspace_bytes(gpu: GPU) -> int:
    """One cuBLAS workspace (one handle on one stream) on `gpu`."""
    return 32 * MIB if gpu.name.split("-")[0] in HOPPER_AND_LATER else 4096 * 1024 * 2 + 16 * 1024 * 8


def reserved_and_fits(allocated: int, gpu: GPU) -> dict:
    """The reserved pool over an allocated peak (rounded up to the allocator's 2 MiB segments)
    and whether it fits on `gpu` beside the CUDA context."""
    reserved = math.ceil(allocated * RESERVED_OVER_ALLOCATED / (2 * MIB)) * 2 * MIB
    return {"predicted_mem_reserved_bytes": reserved, "predicted_mem_cuda_context_bytes": CUDA_CONTEXT_BYTES,
            "predicted_fits": reserved + CUDA_CONTEXT_BYTES <= gpu.memory_bytes}


def columns(step: StepTrace, precision: str, gpu: GPU | None) -> dict:
    """The predicted_mem_* columns of a traced step, for `gpu` (None: the live tensor bytes of
    the device the step ran on, as the CPU check compares them)."""
    peak, split = step.timeline.peak()
    quantised = quantised_bytes(precision, step.quantised_shapes)
    if step.quantised_shapes:
        traced = sum(o * i for o, i in step.quantised_shapes) * step.traced_weight_element_size
        largest = max(o * i for o, i in step.quantised_shapes)
        dequantised = 2 * largest
        split["weights"] += quantised - traced
        peak += quantised - traced + dequantised
        split["activations"] += dequantised
    fixed = CUBLAS_HANDLES_IN_A_STEP * cublas_workspace_bytes(gpu) if gpu else 0
    allocated = peak + fixed
    cols = {
        "predicted_mem_weights_bytes": split["weights"], "predicted_mem_grads_bytes": split["gradients"],
        "predicted_mem_optimizer_bytes": split["optimizer"], "predicted_mem_activations_bytes": split["activations"],
        "predicted_mem_logits_bytes": step.logits_bytes_at_peak,
        "predicted_mem_workspace_bytes": fixed, "predicted_mem_total_bytes": allocated,
    }
    if gpu:
        cols.update(reserved_and_fits(allocated, gpu))
    return cols
