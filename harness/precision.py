"""What each `precision=` means: how the weights are stored and how the step computes.

The convention is the one PEFT practitioners use (peft's examples, LLaMA-Factory, the
ChatGLM and BELLE tables): the frozen base is stored in the low precision, the parameters
that train are kept in fp32 (their AdamW updates would vanish in 16 bits), and autocast runs
the matmuls in 16 bits. The HF Trainer's `--bf16`/`--fp16` convention (every weight in fp32,
autocast only), which full fine-tuning needs, has its own explicit names.

| name     | frozen weights       | trainable weights | compute            |
|----------|----------------------|-------------------|--------------------|
| fp32     | fp32                 | fp32              | fp32               |
| bf16     | bf16                 | fp32              | bf16 autocast      |
| fp16     | fp16                 | fp32              | fp16 autocast + loss scaling (CUDA) |
| amp_bf16 | fp32                 | fp32              | bf16 autocast      |
| amp_fp16 | fp32                 | fp32              | fp16 autocast + loss scaling (CUDA) |
| int8     | int8 linear layers (bitsandbytes LLM.int8), the rest fp32 | fp32 | fp32 |
| int4     | NF4 linear layers, double quantisation (QLoRA), the rest fp32 | fp32 | bf16 autocast |

Under `bf16`/`fp16`, base weights that train (full fine-tuning, BitFit's biases, LayerNorms)
start from their 16-bit values, as from a checkpoint published in bf16, and then train in fp32.

`auto` picks per machine, before the run's identity is hashed (`resolve_auto`): bf16 where the
device computes it natively (a CUDA GPU with bf16; a CPU with AVX512-BF16 or AMX), fp16 on a
CUDA GPU without bf16 (V100, T4), fp32 on any other CPU, where bf16 is emulated and ~11x slower
than fp32 (AMD Zen 3, STS-B LoRA, one thread: 2.17 vs 24.3 examples/s). A row of an `auto` run is
the same cell as one that named the resolved precision, and records `precision_requested=auto`
and `precision_reason`.

Every row records the storage dtypes it actually ended with (`base_param_dtype`,
`trainable_param_dtype`), so no row depends on this table to be read.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional

from harness.errors import UnsupportedError

if TYPE_CHECKING:
    import torch
    import torch.nn as nn


@dataclass(frozen=True)
class Precision:
    name: str
    frozen: Optional[str]    # torch dtype name of frozen weights' storage; None = quantised by bitsandbytes
    autocast: Optional[str]  # torch dtype name autocast computes in; None = no autocast
    quantised: bool = False
    loss_scaling: bool = False             # fp16 needs a GradScaler, and a CUDA device

    # dtypes by name, so that checking a config does not import torch (seconds per process)
    @property
    def frozen_dtype(self) -> Optional["torch.dtype"]:
        import torch
        return getattr(torch, self.frozen) if self.frozen else None

    @property
    def autocast_dtype(self) -> Optional["torch.dtype"]:
        import torch
        return getattr(torch, self.autocast) if self.autocast else None


PRECISIONS: dict[str, Precision] = {p.name: p for p in [
    Precision("fp32", "float32", None),
    Precision("bf16", "bfloat16", "bfloat16"),
    Precision("fp16", "float16", "float16", loss_scaling=True),
    Precision("amp_bf16", "float32", "bfloat16"),
    Precision("amp_fp16", "float32", "float16", loss_scaling=True),
    Precision("int8", None, None, quantised=True),
    Precision("int4", None, "bfloat16", quantised=True),
]}

# precisions whose base weights bitsandbytes quantises while loading
QUANTISED = tuple(name for name, p in PRECISIONS.items() if p.quantised)


AUTO = "auto"
# /proc/cpuinfo flags of CPUs that compute bf16 natively (dot products in hardware)
_NATIVE_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX); False where unknown."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as fh:
                cpuinfo = fh.read()
        except OSError:
            return False
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return any(flag in flags for flag in _NATIVE_BF16_CPU_FLAGS)


def resolve_auto(device: str) -> tuple[str, str]:
    """(precision, why) for `precision=auto` on `device` (auto | cpu | cuda[:N])."""
    if device != "cpu":
        import torch

        if torch.cuda.is_available():
            index = torch.device(device).index if device.startswith("cuda") else None
            name = torch.cuda.get_device_name(index)
            if torch.cuda.is_bf16_supported():
                return "bf16", f"{name} computes bf16 natively"
            return "fp16", f"{name} has no bf16; fp16 with loss scaling"
        if device.startswith("cuda"):
            return "fp32", f"device={device} but no CUDA device is visible"
    if cpu_native_bf16():
        return "bf16", "CPU with native bf16 (avx512_bf16/amx_bf16 in /proc/cpuinfo)"
    return "fp32", "CPU without native bf16 (no avx512_bf16/amx_bf16 in /proc/cpuinfo): bf16 would be emulated"


def resolve_in_config(cfg) -> None:
    """Replace `precision.name=auto` by what it resolves to on this machine, and say so in
    `cfg.precision_choice` (not part of the run's identity: an auto run that resolved to bf16 is
    the bf16 cell)."""
    from omegaconf import open_dict

    if cfg.precision.name != AUTO:
        return
    name, reason = resolve_auto(str(cfg.get("device") or "auto"))
    with open_dict(cfg):
        cfg.precision.name = name
        cfg.precision_choice = {"requested": AUTO, "reason": reason}


def get_precision(name: str) -> Precision:
    from harness.errors import ConfigError

    if name not in PRECISIONS:
        raise ConfigError(f"precision.name={name!r}; valid: {', '.join(PRECISIONS)}")
    return PRECISIONS[name]


def autocast_for(precision: str, device: "torch.device") -> Callable[[], contextlib.AbstractContextManager]:
    """Autocast context for the precision; fp16 only on CUDA (CPU fp16 training is unsupported)."""
    import torch

    p = get_precision(precision)
    if p.autocast_dtype is None:
        return contextlib.nullcontext
    if p.loss_scaling and device.type != "cuda":
        raise UnsupportedError(f"precision={precision}: fp16 training needs a CUDA device; use bf16 on CPU")
    if p.autocast_dtype == torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UnsupportedError(f"precision={precision}: this GPU has no bf16 support")
    return lambda: torch.autocast(device.type, dtype=p.autocast_dtype)


def load_dtype(precision: str) -> Optional["torch.dtype"]:
    """The dtype to load the base model in (None: quantised, bitsandbytes decides)."""
    return get_precision(precision).frozen_dtype


def keep_trainable_in_fp32(model: "nn.Module") -> "nn.Module":
    """Trainable parameters in fp32 whatever the base's storage: 16-bit AdamW updates of small
    values round to nothing. (peft already does this for its adapters; this covers task heads
    and the layers selective methods train.) A module other than a linear layer that trains some
    of its parameters (BitFit: a LayerNorm's bias) keeps the rest in fp32 too: autocast casts the
    arguments of a linear layer to one dtype, not those of LayerNorm or an embedding."""
    import torch

    sixteen = (torch.float16, torch.bfloat16)
    for module in model.modules():
        own = list(module.parameters(recurse=False))
        trains = any(p.requires_grad for p in own)
        for p in own:
            if p.dtype in sixteen and (p.requires_grad or (trains and not isinstance(module, torch.nn.Linear))):
                p.data = p.data.float()
    return model
