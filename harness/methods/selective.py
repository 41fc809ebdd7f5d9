"""Methods that add nothing and only choose which base parameters train."""

from __future__ import annotations

from dataclasses import dataclass

from typing import TYPE_CHECKING

from harness.errors import ConfigError, UnsupportedError
from harness.methods import MethodContext, register
from harness.models.architecture import layer_stack

if TYPE_CHECKING:
    import torch.nn as nn


def refuse_quantised(names: list[str]) -> None:
    """The one check that a method does not train quantised weights: training runs it on the
    loaded model, predict mode on the names the trace knows bitsandbytes would quantise."""
    if names:
        raise UnsupportedError(f"{len(names)} selected parameter(s) are quantised (e.g. {names[0]}) and "
                               f"cannot be trained; use precision fp32/bf16 or an adapter method")


def _train_only(model: nn.Module, keep) -> nn.Module:
    chosen = [(name, p) for name, p in model.named_parameters() if keep(name)]
    refuse_quantised([name for name, p in chosen if not p.dtype.is_floating_point])
    if not chosen:
        raise UnsupportedError("the method selects no parameters of this model (e.g. BitFit on a model without "
                               "biases)")
    for name, p in model.named_parameters():
        p.requires_grad_(keep(name))
    return model


def _in_head(name: str, ctx: MethodContext) -> bool:
    return name.split(".", 1)[0] in ctx.head_modules


@dataclass
class NoArgs:
    pass


@register("full_ft", NoArgs, additive=False)
def full_ft(model, args, ctx):
    return _train_only(model, lambda name: True)


@register("bitfit", NoArgs, additive=False)
def bitfit(model, args, ctx):
    """Ben-Zaken et al. 2021: bias terms of the backbone, plus the new task head."""
    return _train_only(model, lambda name: name.endswith(".bias") or _in_head(name, ctx))


@dataclass
class FreezeArgs:
    trainable_layers: int = 3


def top_layers(model: nn.Module, args: FreezeArgs) -> list[str]:
    """Dotted names of the top `trainable_layers` layers of the stack."""
    stack_name, stack = layer_stack(model)
    if not 0 < args.trainable_layers <= len(stack):
        raise ConfigError(f"method.trainable_layers={args.trainable_layers}: expected 1..{len(stack)}")
    return [f"{stack_name}.{i}" for i in range(len(stack) - args.trainable_layers, len(stack))]


@register("freeze", FreezeArgs, additive=False, label_arg=("trainable_layers", "l"), trains_in_place=top_layers)
def freeze(model, args, ctx):
    """Only the top `trainable_layers` layers of the stack and the task head train. Under 8/4-bit
    loading those layers are left unquantised (as the ChatGLM table's Freeze rows run)."""
    top = tuple(f"{name}." for name in top_layers(model, args))
    return _train_only(model, lambda name: name.startswith(top) or _in_head(name, ctx))
