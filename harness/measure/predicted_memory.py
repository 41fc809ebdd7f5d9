"""Analytical memory estimate of a training run, recorded next to the measured peak.

  weights      = every parameter at the storage it actually has (harness/precision.py:
                 frozen bf16/fp16 = 2 bytes, trainable fp32 = 4, int8 = 1, packed int4 = 0.5)
  gradients    = trainable parameters x 4 bytes
  optimizer    = trainable parameters x 8 bytes (AdamW: two fp32 moments)
  activations  = per layer that backprop must traverse, s*b*h*(34 + 5*a*s/h) bytes at
                 16-bit (Korthikanti et al. 2022, no recomputation), doubled for fp32;
                 plus, for a causal LM, the vocabulary logits, which that formula leaves
                 out and which dominate small models with large vocabularies: b*s*V at the
                 activation width, their fp32 log-softmax kept for backward and its gradient
                 (2 x 4 bytes); plus, for LoRA-family adapters with dropout, the dropped-out
                 copy of each adapted layer's input that lora_A keeps for backward and its
                 mask (b*s*in_features x (activation width + 1 byte) per adapted layer), which
                 the formula, written for plain layers, does not have

Activation width: 16-bit under bf16/fp16 autocast (int4 included: QLoRA computes in bf16,
though its hidden states between layers stay in the unquantised weights' dtype); otherwise that of the unquantised weights
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
from harness.precision import QUANTISED, get_precision
from harness.models.architecture import layer_stack



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


def adapter_dropout_width(model: nn.Module) -> int:
    """Sum of in_features over the adapted layers whose adapter input goes through dropout."""
    from harness.measure.params import tuner_layers

    width = 0
    for _, layer in tuner_layers(model):
        dropouts = getattr(layer, "lora_dropout", None)
        if dropouts and any(isinstance(d, nn.Dropout) and d.p > 0 for d in dropouts.values()):
            width += getattr(layer, "in_features", 0) or 0
    return width


def predict(model: nn.Module, head_modules: list[str], precision: str, batch_size: int, seq_len: float,
            shards: int = 1, lm_vocab: int | None = None) -> dict:
    """`lm_vocab`: the vocabulary size when training a causal LM (adds the logits), else None."""
    cfg = model.config if hasattr(model, "config") else model.base_model.model.config
    h, a = cfg.hidden_size, cfg.num_attention_heads
    params = unique_parameters(model)
    trainable = sum(p.numel() for p in params.values() if p.requires_grad)
    weights = int(sum(p.numel() * p.element_size() for p in params.values()) / shards)
    autocast = get_precision(precision).autocast_dtype
    act_bytes_per_value = 2 if autocast is not None and precision not in QUANTISED \
        else model.get_input_embeddings().weight.element_size()
    s, b = seq_len, batch_size
    per_layer = s * b * h * (34 + 5 * a * s / h) * act_bytes_per_value / 2
    activations = int(layers_in_backprop(model, head_modules) * per_layer)
    if lm_vocab:
        activations += int(b * s * lm_vocab * (act_bytes_per_value + 2 * 4))
    activations += int(b * s * adapter_dropout_width(model) * (act_bytes_per_value + 1))
    grads, optim = int(trainable * 4 / shards), int(trainable * 8 / shards)
    return {"predicted_mem_weights_bytes": weights, "predicted_mem_grads_bytes": grads,
            "predicted_mem_optimizer_bytes": optim, "predicted_mem_activations_bytes": activations,
            "predicted_mem_total_bytes": weights + grads + optim + activations}
