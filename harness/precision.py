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

Every row records the storage dtypes it actually ended with (`base_param_dtype`,
`trainable_param_dtype`), so no row depends on this table to be read.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn as nn

from harness.errors import UnsupportedError


@dataclass(frozen=True)
class Precision:
    name: str
    frozen_dtype: Optional[torch.dtype]    # storage of frozen weights; None = quantised by bitsandbytes
    autocast_dtype: Optional[torch.dtype]  # None = no autocast
    quantised: bool = False
    loss_scaling: bool = False             # fp16 needs a GradScaler, and a CUDA device


PRECISIONS: dict[str, Precision] = {p.name: p for p in [
    Precision("fp32", torch.float32, None),
    Precision("bf16", torch.bfloat16, torch.bfloat16),
    Precision("fp16", torch.float16, torch.float16, loss_scaling=True),
    Precision("amp_bf16", torch.float32, torch.bfloat16),
    Precision("amp_fp16", torch.float32, torch.float16, loss_scaling=True),
    Precision("int8", None, None, quantised=True),
    Precision("int4", None, torch.bfloat16, quantised=True),
]}

# precisions whose base weights bitsandbytes quantises while loading
QUANTISED = tuple(name for name, p in PRECISIONS.items() if p.quantised)


def get_precision(name: str) -> Precision:
    from harness.errors import ConfigError

    if name not in PRECISIONS:
        raise ConfigError(f"precision.name={name!r}; valid: {', '.join(PRECISIONS)}")
    return PRECISIONS[name]


def autocast_for(precision: str, device: torch.device) -> Callable[[], contextlib.AbstractContextManager]:
    """Autocast context for the precision; fp16 only on CUDA (CPU fp16 training is unsupported)."""
    p = get_precision(precision)
    if p.autocast_dtype is None:
        return contextlib.nullcontext
    if p.loss_scaling and device.type != "cuda":
        raise UnsupportedError(f"precision={precision}: fp16 training needs a CUDA device; use bf16 on CPU")
    if p.autocast_dtype == torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UnsupportedError(f"precision={precision}: this GPU has no bf16 support")
    return lambda: torch.autocast(device.type, dtype=p.autocast_dtype)


def load_dtype(precision: str) -> Optional[torch.dtype]:
    """The dtype to load the base model in (None: quantised, bitsandbytes decides)."""
    return get_precision(precision).frozen_dtype


def keep_trainable_in_fp32(model: nn.Module) -> nn.Module:
    """Trainable parameters in fp32 whatever the base's storage: 16-bit AdamW updates of small
    values round to nothing. (peft already does this for its adapters; this covers task heads
    and the layers selective methods train.)"""
    for p in model.parameters():
        if p.requires_grad and p.dtype in (torch.float16, torch.bfloat16):
            p.data = p.data.float()
    return model
