"""Parameter accounting, computed from the model (never from a method's formula).

- total: parameters of the base model, tied weights counted once.
- trainable: parameters with requires_grad in the adapted model, tied weights once.
- added: parameters whose name has no counterpart in the base model (peft's wrapper names
  are mapped back: `base_layer`, `modules_to_save.default`, `original_module`).
- changed: base-model entries whose value differs from the original once the method's
  weights are merged in; methods that cannot merge keep their added parameters on the
  side, so those count as changed too.
- head: trainable parameters of the task head (papers' "# Params" leave it out).
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field

import torch
import torch.nn as nn

_PEFT_INNER = re.compile(r"\.(base_layer|modules_to_save\.default|original_module)(?=\.)")


def base_name(name: str, prompt_learning: bool = False) -> str:
    """Map a parameter name of a peft-wrapped model to the base model's name for it."""
    prefix = "base_model." if prompt_learning else "base_model.model."
    if name.startswith(prefix):
        name = name[len(prefix):]
    return _PEFT_INNER.sub("", name)


def _is_prompt_learning(model: nn.Module) -> bool:
    config = getattr(model, "active_peft_config", None)
    return bool(getattr(config, "is_prompt_learning", False))


def base_names(model: nn.Module) -> dict[str, str]:
    """Parameter name in `model` -> the base model's name for it."""
    prompt = _is_prompt_learning(model)
    return {n: base_name(n, prompt) for n, _ in model.named_parameters(remove_duplicate=False)}


def unique_parameters(model: nn.Module, trainable_only=False) -> dict[str, nn.Parameter]:
    """name -> parameter, each Parameter object once (tied weights share one object)."""
    seen, out = set(), {}
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        out[name] = p
    return out


def logical_numel(p: torch.Tensor) -> int:
    """Values the parameter stands for, whatever its storage: bitsandbytes' 4-bit weights pack
    two values per stored byte and keep the logical shape in their quant_state."""
    quant_state = getattr(p, "quant_state", None)
    shape = getattr(quant_state, "shape", None)
    return int(torch.Size(shape).numel()) if shape is not None else p.numel()


def count(params) -> int:
    return int(sum(logical_numel(p) for p in params))


def trainable_fingerprint(model: nn.Module) -> torch.Tensor:
    """Per trainable parameter, the sum and the sum of squares of its values (float64, on its
    device): if none of them moves, training changed nothing."""
    sums = [torch.stack([p.detach().double().sum(), p.detach().double().square().sum()]).cpu()
            for p in unique_parameters(model, trainable_only=True).values()]
    return torch.stack(sums) if sums else torch.zeros(0, 2, dtype=torch.float64)


def storage_dtypes(model: nn.Module, trainable: bool) -> str | None:
    """The storage dtypes of the frozen (trainable=False) or trainable parameters, most
    values first, e.g. 'bfloat16' or 'uint8+float32' (4-bit packing plus unquantised norms)."""
    by_dtype: dict[str, int] = {}
    for p in unique_parameters(model).values():
        if p.requires_grad == trainable:
            name = str(p.dtype).removeprefix("torch.")
            by_dtype[name] = by_dtype.get(name, 0) + logical_numel(p)
    return "+".join(sorted(by_dtype, key=by_dtype.get, reverse=True)) or None


@dataclass
class BaseModelParams:
    """What the base model had before a method touched it."""
    names: set[str]
    total: int

    @classmethod
    def of(cls, model: nn.Module) -> "BaseModelParams":
        params = unique_parameters(model)
        return cls(set(dict(model.named_parameters(remove_duplicate=False))), count(params.values()))


def added_parameters(model: nn.Module, base: BaseModelParams) -> dict[str, nn.Parameter]:
    names = base_names(model)
    return {n: p for n, p in unique_parameters(model).items() if names[n] not in base.names}


def trainable_head_parameters(model: nn.Module, head_modules: list[str]) -> int:
    heads, names = tuple(f"{h}." for h in head_modules), base_names(model)
    return count(p for n, p in unique_parameters(model, trainable_only=True).items()
                 if names[n].startswith(heads))


def tuner_layers(model: nn.Module):
    """(name, module) of every peft layer that wraps a base layer."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    return [(n, m) for n, m in model.named_modules()
            if isinstance(m, BaseTunerLayer) and hasattr(m, "get_base_layer")]


def adalora_final_budget(model: nn.Module) -> int | None:
    """Adapter parameters that remain after AdaLoRA's rank pruning: per adapted matrix
    r_kept * (in + out + 1), r_kept = non-zero entries of lora_E."""
    total, found = 0, False
    for _, m in tuner_layers(model):
        if not hasattr(m, "lora_E"):
            continue
        for key, E in m.lora_E.items():
            found = True
            kept = int((E.detach() != 0).sum())
            a, b = m.lora_A[key], m.lora_B[key]
            total += kept * (a.shape[1] + b.shape[0] + 1)
    return total if found else None


@dataclass
class ChangedCount:
    changed: int
    source: str  # measured | structural
    ranks: list[int] = field(default_factory=list)

    def rank_summary(self) -> dict:
        if not self.ranks:
            return {"delta_rank_min": None, "delta_rank_median": None, "delta_rank_max": None,
                    "delta_rank_matrices": None}
        return {"delta_rank_min": float(min(self.ranks)),
                "delta_rank_median": float(statistics.median(self.ranks)),
                "delta_rank_max": float(max(self.ranks)), "delta_rank_matrices": len(self.ranks)}


def snapshot_trainable_base(model: nn.Module, base: BaseModelParams) -> dict[str, torch.Tensor]:
    """CPU copies of the base-model parameters that training may update (selective methods
    and task heads). Frozen base weights need no copy: they cannot change."""
    names = base_names(model)
    return {names[n]: p.detach().to("cpu", copy=True)
            for n, p in unique_parameters(model, trainable_only=True).items() if names[n] in base.names}


def _matrix_rank(delta: torch.Tensor, dtype: torch.dtype) -> int | None:
    """Numerical rank with the tolerance of the dtype the delta was computed in (a rank-8
    product rounded to fp32 is not full rank)."""
    if delta.dim() != 2:
        return None
    rtol = max(delta.shape) * torch.finfo(dtype).eps
    # on the delta's own device (a GPU does 150 SVDs of a 1B model in seconds; the CPU in minutes),
    # float64 where the device has it
    wide = torch.float64 if delta.device.type in ("cpu", "cuda") else torch.float32
    return int(torch.linalg.matrix_rank(delta.detach().to(wide), rtol=rtol))


def count_changed(model: nn.Module, base: BaseModelParams, before: dict[str, torch.Tensor],
                  mergeable: bool, n_added: int) -> ChangedCount:
    """Measured: compare values after training (and after merging, where the method merges)
    with the originals. Each peft layer is merged, compared and restored in turn, so only one
    layer's weight is ever copied.

    A 16-bit base is merged in fp32: merged into bf16 storage, an update smaller than half a
    bf16 step rounds back to the original value (LoRA on MiniLM: 37 % of entries changed in
    bf16 against 47 % in fp32 after the same training), and the count would describe the
    rounding, not the method."""
    changed, ranks = 0, []
    params, names = unique_parameters(model), base_names(model)
    seen = set()
    if mergeable:
        for _, layer in tuner_layers(model):
            own = dict(layer.get_base_layer().named_parameters())  # weight, and bias ((IA)3 scales it)
            originals = {n: p.detach().clone() for n, p in own.items()}
            for p in own.values():
                if p.dtype in (torch.float16, torch.bfloat16):
                    p.data = p.data.float()
            layer.merge()
            for n, p in own.items():
                changed += int((p.detach() != originals[n].to(p.dtype)).sum())
                seen.add(id(p))
            weight = own["weight"]
            if hasattr(layer, "get_delta_weight"):  # the adapter's own product, at the adapter's dtype
                delta = layer.get_delta_weight(layer.active_adapters[0])
                rank = _matrix_rank(delta, delta.dtype)
            else:  # a difference of stored weights is only as exact as their storage
                rank = _matrix_rank(weight.detach().double() - originals["weight"].double(), weight.dtype)
            if rank is not None:
                ranks.append(rank)
            layer.unmerge()
            for n, p in own.items():  # bit for bit the stored weights, in their own dtype
                p.data = originals[n]
    for name, p in params.items():
        if id(p) in seen:
            continue
        key = names[name]
        if key in before:
            # compared where the parameter lives (the snapshot waited on the CPU, off the device's peak)
            changed += int((p.detach() != before[key].to(p.device)).sum())
    if not mergeable:
        changed += n_added
    return ChangedCount(changed, "measured", ranks if mergeable else [])


def count_changed_structural(model: nn.Module, base: BaseModelParams, mergeable: bool,
                             n_added: int) -> ChangedCount:
    """Count mode (meta device, no values): every entry the method can reach. A merged
    low-rank product generally touches every entry of the matrix it is added to."""
    changed, seen, names = 0, set(), base_names(model)
    if mergeable:
        for _, layer in tuner_layers(model):  # weight matrices only ((IA)3's bias scaling not counted here)
            weight = layer.get_base_layer().weight
            changed += logical_numel(weight)
            seen.add(id(weight))
    for name, p in unique_parameters(model, trainable_only=True).items():
        if id(p) not in seen and names[name] in base.names:
            changed += logical_numel(p)
    if not mergeable:
        changed += n_added
    return ChangedCount(changed, "structural")
