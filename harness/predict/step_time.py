"""Step time from the traced ops: a roofline per op, summed.

For each op of the traced step (harness/predict/op_costs.py), on a device's profile
(harness/predict/profile.py):

  work  = max(FLOPs / matmul rate at the op's FLOPs,      (attention at a fraction of it)
              bytes / bandwidth rate at the op's bytes)
  CPU:  time = the per-op dispatch cost + work x the profile's work factor of the op's group
               (every op waits for the one before; two groups, matmuls and all other ops: each
               factor is what that group's ops took, timed one by one in a reference step of a
               model none of the checks uses, over what the microbenchmarks predict for them:
               cold caches, broadcasts, strided operands. The fused attention kernel, which the
               reference step does not run, is taken at its microbenchmark: factor 1; a step in
               bf16 takes the factors measured under bf16 autocast for every op, fp32 or not)
  GPU:  time = max(work, launches x the host's cost per kernel launch)
               (the host runs ahead, so a kernel shorter than the host's cost per op leaves the
               GPU waiting; views launch nothing)

The step is the sum over the micro-batches' ops and the optimizer's, plus the communication of
a data-parallel step over the GPUs' interconnect (ring all-reduce / all-gather + reduce-scatter
move 2 (n-1)/n of the bytes). This is the roofline approach of the field's analytical models
(e.g. LLM-Viewer, Calculon, the roofline analysis of Williams et al. 2009) at the level of the
ops the step really runs, so the narrow matmuls of a LoRA branch, DoRA's norms and AdaLoRA's
extra products cost what they cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.predict.op_costs import ATTENTION, CLASSES, FOREACH_TENSORS_PER_LAUNCH, MATMUL, OPTIMIZER, VIEW, OpTable
from harness.predict.profile import Profile

FACTOR_GROUPS = ("matmul", "other")  # a CPU's work factor per group; fused attention and views: none


def factor_groups(ops: OpTable) -> np.ndarray:
    """Each op's index into FACTOR_GROUPS, -1 for the ops taken as their microbenchmark says
    (the fused attention kernel) or free (views)."""
    group = np.full(len(ops), 1, dtype=np.int8)
    group[ops.cls == MATMUL] = 0
    group[(ops.cls == ATTENTION) | (ops.cls == VIEW)] = -1
    return group


VERSION = "trace-roofline-4"  # the predictor's version, recorded in every row it predicts
# 4: CPU only (a GPU's predictions are those of 3): a work factor per group (matmuls, other ops)
#    from a reference step's ops timed one by one, not one factor from the whole step's time;
#    the fused attention kernel at its microbenchmark; the matmul grid measured up to 2e10 FLOPs
# 3: CPU costs (dropout's in-place masks at their bytes, _safe_softmax as its passes); a GPU step
#    holds two cuBLAS workspaces (forward's and backward's threads), not one


@dataclass
class StepTime:
    seconds: float  # one optimizer step
    by_class: dict[str, float]  # seconds per op class, communication apart
    host_bound_s: float  # gpu: seconds the GPU waits on the host; cpu: the dispatch cost of every op
    comm_s: float


def op_seconds(ops: OpTable, profile: Profile) -> tuple[np.ndarray, np.ndarray]:
    """(seconds of each op, of which the host's share)."""
    compute = np.zeros(len(ops))
    mm, att = (ops.cls == MATMUL) & (ops.flops > 0), (ops.cls == ATTENTION) & (ops.flops > 0)
    compute[mm] = profile.matmul_seconds(ops.flops[mm], ops.inner[mm], ops.outputs[mm], ops.sixteen_bit[mm])
    compute[att] = profile.attention_seconds(ops.flops[att], ops.sixteen_bit[att], ops.backward[att])
    work = np.maximum(compute, profile.memory_seconds(ops.bytes, ops.kind))
    view = ops.cls == VIEW
    work[view] = 0.0
    if profile.kind == "cpu":
        # a step that computes in 16 bits anywhere (bf16 autocast or weights) takes the 16-bit
        # factors for all its ops, as they were measured: on a step under bf16 autocast
        factors = profile.work_factor["16bit" if ops.sixteen_bit.any() else "fp32"]
        group = factor_groups(ops)
        for i, name in enumerate(FACTOR_GROUPS):
            work[group == i] *= factors[name]
        host = np.full(len(ops), profile.per_op_s)
        return work + host, host
    launches = np.where(ops.foreach_tensors > 0, np.ceil(ops.foreach_tensors / FOREACH_TENSORS_PER_LAUNCH),
                        ops.kernels)
    launches[view] = 0.0
    host = profile.per_op_s * launches
    return np.maximum(work, host), np.maximum(host - work, 0.0)


def step_time(ops: OpTable, profile: Profile, accum: int = 1, comm_bytes: float = 0.0, gpus: int = 1,
              interconnect_gbps: float | None = None) -> StepTime:
    """Seconds per optimizer step: `accum` micro-batches of the traced one, one optimizer step."""
    seconds, host = op_seconds(ops, profile)
    weight = np.where(ops.cls == OPTIMIZER, 1.0, float(accum))
    by_class = {name: float((seconds * weight)[ops.cls == i].sum()) for i, name in enumerate(CLASSES)}
    comm = 0.0
    if gpus > 1 and comm_bytes and interconnect_gbps:  # a CPU's gloo link: not modelled
        comm = 2 * (gpus - 1) / gpus * comm_bytes / (interconnect_gbps * 1e9)
    return StepTime(float((seconds * weight).sum()) + comm, by_class, float((host * weight).sum()), comm)
