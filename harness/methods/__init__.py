"""Methods: one registry from a config name to how the method is applied.

Adding a method = one `conf/method/<name>.yaml` plus one `@register(...)` entry in a module
of this package (peft_methods.py for everything peft implements, selective.py for the
methods that only choose which base parameters train).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from harness.errors import ConfigError

if TYPE_CHECKING:
    import torch.nn as nn


@dataclass
class MethodContext:
    """What a method may need to know besides its own arguments."""
    model_type: str
    head_modules: list[str]
    total_steps: int = 1  # optimizer steps of the whole schedule (AdaLoRA's total_step)
    task_type: str = "SEQ_CLS"  # peft TaskType: SEQ_CLS | CAUSAL_LM


@dataclass
class Method:
    name: str
    args_type: type
    apply: Callable[[nn.Module, Any, MethodContext], nn.Module]
    # adapters can be folded into the base weights (no inference overhead once merged)
    mergeable: bool = False
    # a hook called after every optimizer step (AdaLoRA's budget allocation)
    after_step: Optional[Callable[[nn.Module, int], None]] = None
    # adds parameters the base model did not have
    additive: bool = True
    # (argument, short name) shown in labels, e.g. ("r", "r") -> "lora r=8"
    label_arg: Optional[tuple[str, str]] = None
    # base modules the method trains in place, which 8/4-bit loading must leave unquantised:
    # (model skeleton, args) -> dotted module names
    trains_in_place: Optional[Callable[[nn.Module, Any], list[str]]] = None
    # why the method cannot train with activation checkpointing (train.gradient_checkpointing);
    # None = it can
    no_checkpointing: Optional[str] = None

    def keep_unquantised(self, args: Any) -> Optional[Callable[[nn.Module], list[str]]]:
        if self.trains_in_place is None:
            return None
        return lambda skeleton: self.trains_in_place(skeleton, args)

    def label(self, args: dict, variant: Optional[str] = None) -> str:
        """Short human label of the method with its key argument: 'lora r=8', 'freeze l=3'."""
        name = variant or self.name
        if self.label_arg and self.label_arg[0] in args:
            return f"{name} {self.label_arg[1]}={args[self.label_arg[0]]}"
        return name


METHODS: dict[str, Method] = {}

# keys of a method's config section that are not arguments of the method: its registry name,
# the label of a named variant, and its training recipe (learning rate and where it comes from)
NOT_ARGS = ("name", "variant", "recipe")


def register(name: str, args_type: type, *, mergeable=False, additive=True, after_step=None, label_arg=None,
             trains_in_place=None, no_checkpointing=None):
    def wrap(fn):
        METHODS[name] = Method(name, args_type, fn, mergeable, after_step, additive, label_arg, trains_in_place,
                               no_checkpointing)
        return fn
    return wrap


def get_method(name: str) -> Method:
    _load_all()
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}; valid: {', '.join(sorted(METHODS))}")
    return METHODS[name]


def parse_args(method: Method, cfg) -> Any:
    """Validate the method's config section against its dataclass: unknown fields and
    wrong types fail with one line naming the field."""
    raw = {k: v for k, v in OmegaConf.to_container(cfg, resolve=True).items() if k not in NOT_ARGS}
    try:
        merged = OmegaConf.merge(OmegaConf.structured(method.args_type), raw)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"method.{exc.key if getattr(exc, 'key', None) else ''}: "
                          f"{str(exc).splitlines()[0]} (method {method.name!r} takes "
                          f"{[f.name for f in dataclasses.fields(method.args_type)]})") from None
    return OmegaConf.to_object(merged)


def args_json(args: Any) -> str:
    import json
    return json.dumps(dataclasses.asdict(args), sort_keys=True)


def _load_all() -> None:
    from harness.methods import adapters_methods, peft_methods, selective  # noqa: F401  (registration side effect)
