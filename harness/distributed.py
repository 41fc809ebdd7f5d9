"""Data parallelism for one run (`train.distributed`), in processes started by torchrun.

- `ddp`: accelerate's `Accelerator.prepare` wraps the model in DistributedDataParallel
  (gradients all-reduced; nccl on GPUs, gloo on CPU).
- `fsdp`: torch's FSDP2 `fully_shard`, applied per transformer block (the model's
  `_no_split_modules`, the wrapping accelerate's `transformer_based_wrap` policy uses) and then
  at the root, so each process holds 1/world of every parameter, gradient and optimizer state.
  Called directly because accelerate 1.15 turns FSDP on only for GPU-like devices; this way
  one code path runs on GPUs and, over gloo, on CPU (where the tests exercise it).

accelerate's `Accelerator` sets up the process group and the device in both modes. Each
process takes every world-th batch; the main process (rank 0) evaluates, measures and records.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from harness.errors import ConfigError, UnsupportedError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

MODES = ("ddp", "fsdp")


def check_mode(train_cfg) -> None:
    mode = train_cfg.get("distributed")
    if mode is not None and mode not in MODES:
        raise ConfigError(f"train.distributed={mode!r}; valid: null, {', '.join(MODES)}")


def accelerator_for(train_cfg, device: "torch.device"):
    """An accelerate Accelerator when this process is one of several (torchrun set WORLD_SIZE);
    None for a single-process run."""
    if train_cfg.get("distributed") not in MODES or int(os.environ.get("WORLD_SIZE", "1")) < 2:
        return None
    from accelerate import Accelerator

    return Accelerator(cpu=device.type == "cpu")


def is_sharded(train_cfg, accelerator) -> bool:
    return accelerator is not None and train_cfg.get("distributed") == "fsdp"


def check_shardable(train_cfg, quantised: bool, has_after_step: bool) -> None:
    """Combinations FSDP cannot run end with status `unsupported`, before any work."""
    if train_cfg.get("distributed") != "fsdp":
        return
    if quantised:
        raise UnsupportedError("train.distributed=fsdp cannot shard 8/4-bit quantised weights; use ddp")
    if has_after_step:
        raise UnsupportedError("train.distributed=fsdp: this method edits its weights between steps "
                               "(AdaLoRA's budget allocation), which needs unsharded tensors; use ddp")


def shard(model: "torch.nn.Module", device: "torch.device") -> "torch.nn.Module":
    """Shard `model` in place with FSDP2: every transformer block, then the root."""
    import torch
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    block_names = next((set(m._no_split_modules) for m in model.modules()
                        if getattr(m, "_no_split_modules", None)), set())
    mesh = init_device_mesh(device.type, (torch.distributed.get_world_size(),))
    blocks = [m for m in model.modules() if type(m).__name__ in block_names]
    for block in blocks:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    log.info("fsdp: %d blocks (%s) and the root sharded over %d processes", len(blocks),
             ", ".join(sorted(block_names)) or "none declared", mesh.size())
    return model


def full_state_dict(model: "torch.nn.Module") -> dict:
    """The unsharded weights of a sharded model, on CPU (a collective: every rank calls it)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
