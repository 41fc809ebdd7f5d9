"""Model FLOPs per trained token, and model FLOPs utilisation (MFU) against the device's peak.

Per token of a training step, N = parameters of the matmuls (every nn.Linear weight, bitsandbytes'
and peft's included; embeddings are lookups and are left out), N_t = the trainable ones,
L layers of width d, T = the mean padded sequence length, f = the fraction of the layers that
backprop traverses (from the lowest trainable one up):

    forward             2 N + 4 L d T           (attention: QK^T and AV, 2 T d each per layer)
    activation grads    f (2 N + 8 L d T)       (backward through frozen layers is still paid)
    weight grads        2 N_t

Full fine-tuning gives PaLM's 6 N + 12 L d T (Chowdhery et al. 2022, appendix B). Causal
attention is not halved, as in PaLM. MFU = FLOPs per token x padded tokens/s (what the device
computed) / the device's dense 16-bit tensor peak; null where the peak is unknown (the CPU,
unlisted GPUs). Runs in fp32 are measured against the same 16-bit peak: the distance to what
the device can do.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from harness.measure.params import logical_numel



def peak_flops(device_name: str | None) -> float | None:
    """The device's dense 16-bit tensor peak in FLOP/s (harness/predict/gpus.py), None if unlisted."""
    from harness.predict.gpus import find_gpu

    found = find_gpu(device_name) if device_name else None
    return found.peak_flops if found else None


def matmul_params(model: nn.Module) -> tuple[int, int]:
    """(all, trainable) weight entries of the model's linear layers, each module once."""
    total = trainable = 0
    for module in model.modules():
        if isinstance(module, nn.Linear):
            n = logical_numel(module.weight)
            total += n
            trainable += n if module.weight.requires_grad else 0
    return total, trainable


def layers_in_backprop(model: nn.Module, head_modules: list[str]) -> int:
    """Layers backprop traverses: from the lowest layer holding a trainable parameter up
    (every layer if the embeddings or a prompt below the stack train)."""
    from harness.measure.params import base_names
    from harness.models.architecture import layer_stack

    stack_name, stack = layer_stack(model)
    heads = tuple(f"{h}." for h in head_modules)
    lowest, names = len(stack), base_names(model)
    for name, p in model.named_parameters():
        if not p.requires_grad or names[name].startswith(heads):
            continue
        if not name.startswith(f"{stack_name}."):
            return len(stack)  # embeddings or a prompt below the stack train
        lowest = min(lowest, int(name[len(stack_name) + 1:].split(".", 1)[0]))
    return len(stack) - lowest


def flops_per_token(model: nn.Module, seq_len: float, backprop_fraction: float) -> float:
    cfg = model.config
    n, n_trainable = matmul_params(model)
    layers, width = cfg.num_hidden_layers, cfg.hidden_size
    forward = 2 * n + 4 * layers * width * seq_len
    return forward + backprop_fraction * (2 * n + 8 * layers * width * seq_len) + 2 * n_trainable


def columns(model: nn.Module, head_modules: list[str], seq_len: float | None, padded_tokens_per_s: float | None,
            device_name: str | None) -> dict:
    from harness.models.architecture import layer_stack

    if not seq_len:
        return {}
    fraction = layers_in_backprop(model, head_modules) / len(layer_stack(model)[1])
    per_token = flops_per_token(model, seq_len, fraction)
    peak = peak_flops(device_name) if torch.cuda.is_available() else None
    mfu = per_token * padded_tokens_per_s / peak if peak and padded_tokens_per_s else None
    return {"model_flops_per_token": per_token, "mfu": mfu, "peak_device_flops": peak}
