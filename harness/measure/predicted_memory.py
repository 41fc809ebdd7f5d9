"""Analytical memory estimate of a training run, recorded next to the measured peak.

  weights      = frozen and trainable parameters at their storage precision
                 (fp32 master weights under autocast; int8 = 1 byte, int4 = 0.5 byte for
                 quantised linear weights)
  gradients    = trainable parameters x 4 bytes
  optimizer    = trainable parameters x 8 bytes (AdamW: two fp32 moments)
  activations  = per layer that backprop must traverse, s*b*h*(34 + 5*a*s/h) bytes at
                 16-bit (Korthikanti et al. 2022, no recomputation), doubled for fp32;
                 plus, for a causal LM, the vocabulary logits, which that formula leaves
                 out and which dominate small models with large vocabularies: b*s*V at the
                 activation width, their fp32 log-softmax kept for backward and its gradient
                 (2 x 4 bytes)

Activation width: 16-bit under bf16/fp16 autocast; otherwise that of the unquantised weights
(int8/int4 quantise only the linear layers; embeddings, norms and the hidden states keep
the model's dtype, fp32 here).

`seq_len` is the widest batch's padded length: the peak is set by the longest batch (the
harness runs it first), not by the average one.

The layers backprop traverses start at the lowest layer holding a trainable parameter
(everything, if the embeddings or a prompt below the stack train).

Per process: under FSDP (`shards` = processes) weights, gradients and optimizer state are
split across the processes; activations are not (each process runs its own batch).
"""

from __future__ import annotations

import torch.nn as nn

from harness.measure.params import base_names, unique_parameters
from harness.models.architecture import layer_stack

_WEIGHT_BYTES = {"fp32": 4, "bf16": 4, "fp16": 4, "int8": 1, "int4": 0.5}


def layers_in_backprop(model: nn.Module, head_modules: list[str]) -> int:
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


def predict(model: nn.Module, head_modules: list[str], precision: str, batch_size: int, seq_len: float,
            shards: int = 1, lm_vocab: int | None = None) -> dict:
    """`lm_vocab`: the vocabulary size when training a causal LM (adds the logits), else None."""
    cfg = model.config if hasattr(model, "config") else model.base_model.model.config
    h, a = cfg.hidden_size, cfg.num_attention_heads
    params = unique_parameters(model)
    trainable = sum(p.numel() for p in params.values() if p.requires_grad)
    frozen = sum(p.numel() for p in params.values() if not p.requires_grad)
    weights = int((trainable * 4 + frozen * _WEIGHT_BYTES[precision]) / shards)
    act_bytes_per_value = 2 if precision in ("bf16", "fp16") else model.get_input_embeddings().weight.element_size()
    s, b = seq_len, batch_size
    per_layer = s * b * h * (34 + 5 * a * s / h) * act_bytes_per_value / 2
    activations = int(layers_in_backprop(model, head_modules) * per_layer)
    if lm_vocab:
        activations += int(b * s * lm_vocab * (act_bytes_per_value + 2 * 4))
    grads, optim = int(trainable * 4 / shards), int(trainable * 8 / shards)
    return {"predicted_mem_weights_bytes": weights, "predicted_mem_grads_bytes": grads,
            "predicted_mem_optimizer_bytes": optim, "predicted_mem_activations_bytes": activations,
            "predicted_mem_total_bytes": weights + grads + optim + activations}
