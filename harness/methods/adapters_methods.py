"""Bottleneck adapters through AdapterHub's `adapters` library, the reference implementation of
Houlsby et al. 2019 and Pfeiffer et al. 2021.

`adapters` 1.3 requires transformers 4.57.x and fails to import with transformers 5, so it is
an optional extra (`pip install -e ".[adapters]"` in an environment of its own); without it these
methods record `status=unsupported` naming the fix.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import UnsupportedError
from harness.methods import MethodContext, register


def _adapters():
    try:
        import adapters
    except Exception as exc:  # ImportError, or its import failing against transformers 5
        raise UnsupportedError(f"the AdapterHub `adapters` library is not usable here ({type(exc).__name__}); "
                               f"install it beside transformers 4.57: pip install -e \".[adapters]\"") from None
    return adapters


def _add_bottleneck(model, ctx: MethodContext, config):
    lib = _adapters()
    # the harness's pooled head wraps a transformers encoder: the adapters go into that encoder
    target = getattr(model, "encoder_model", model)
    lib.init(target)
    target.add_adapter("bench", config=config)
    target.train_adapter("bench")  # freezes everything but the adapter...
    for name in ctx.head_modules:  # ...and the new task head must train too
        for p in getattr(model, name).parameters():
            p.requires_grad_(True)
    return model


@dataclass
class BottleneckArgs:
    reduction_factor: int = 16


@register("houlsby", BottleneckArgs, label_arg=("reduction_factor", "rf"))
def houlsby(model, args: BottleneckArgs, ctx: MethodContext):
    """Two bottleneck adapters per layer, after attention and after the FFN."""
    return _add_bottleneck(model, ctx, _adapters().DoubleSeqBnConfig(reduction_factor=args.reduction_factor))


@register("pfeiffer", BottleneckArgs, label_arg=("reduction_factor", "rf"))
def pfeiffer(model, args: BottleneckArgs, ctx: MethodContext):
    """One bottleneck adapter per layer, after the FFN."""
    return _add_bottleneck(model, ctx, _adapters().SeqBnConfig(reduction_factor=args.reduction_factor))
