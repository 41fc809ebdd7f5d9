"""Architecture facts the methods need: default adapter targets, the layer stack, the task head.

Defaults follow the papers: all attention and FFN matrices of every layer, never the
pooler (BERT's `pooler.dense` would be caught by a bare `dense` target).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.errors import ConfigError

if TYPE_CHECKING:
    import torch.nn as nn

# peft matches a list entry against the end of a module's dotted name.
LORA_TARGETS: dict[str, list[str]] = {
    "bert": ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"],
    "roberta": ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"],
    "deberta-v2": ["query_proj", "key_proj", "value_proj", "attention.output.dense",
                   "intermediate.dense", "output.dense"],
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "gemma": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "qwen3": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    # fused projections: one matrix holds q, k and v (and phi3's gate and up)
    "gpt2": ["c_attn", "c_proj", "c_fc"],
    "gpt_neox": ["query_key_value", "attention.dense", "dense_h_to_4h", "dense_4h_to_h"],
    "phi3": ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
}

# (IA)^3: keys, values and the FFN's second matrix, which is scaled on its input.
IA3_TARGETS: dict[str, tuple[list[str], list[str]]] = {
    "bert": (["key", "value", "layer.\\d+.output.dense"], ["layer.\\d+.output.dense"]),
    "roberta": (["key", "value", "layer.\\d+.output.dense"], ["layer.\\d+.output.dense"]),
    "deberta-v2": (["key_proj", "value_proj", "layer.\\d+.output.dense"], ["layer.\\d+.output.dense"]),
    "llama": (["k_proj", "v_proj", "down_proj"], ["down_proj"]),
    "qwen2": (["k_proj", "v_proj", "down_proj"], ["down_proj"]),
    "mistral": (["k_proj", "v_proj", "down_proj"], ["down_proj"]),
    "gemma": (["k_proj", "v_proj", "down_proj"], ["down_proj"]),
    "qwen3": (["k_proj", "v_proj", "down_proj"], ["down_proj"]),
    # fused q,k,v: the learned vector scales queries too (there is no separate k/v matrix)
    "gpt2": (["c_attn", "mlp.c_proj"], ["mlp.c_proj"]),
    "gpt_neox": (["query_key_value", "dense_4h_to_h"], ["dense_4h_to_h"]),
    "phi3": (["qkv_proj", "down_proj"], ["down_proj"]),
}


def lora_targets(model_type: str) -> list[str]:
    if model_type not in LORA_TARGETS:
        raise ConfigError(f"no default target modules for model_type {model_type!r}; set "
                          f"method.target_modules=[...] (known: {', '.join(sorted(LORA_TARGETS))})")
    return list(LORA_TARGETS[model_type])


LAYER_NORMS: dict[str, list[str]] = {
    "bert": ["LayerNorm"], "roberta": ["LayerNorm"], "deberta-v2": ["LayerNorm"],
    "llama": ["input_layernorm", "post_attention_layernorm"], "qwen2": ["input_layernorm", "post_attention_layernorm"],
    "mistral": ["input_layernorm", "post_attention_layernorm"],
    "gemma": ["input_layernorm", "post_attention_layernorm"], "qwen3": ["input_layernorm", "post_attention_layernorm"],
    "gpt_neox": ["input_layernorm", "post_attention_layernorm"], "phi3": ["input_layernorm", "post_attention_layernorm"],
    "gpt2": ["ln_1", "ln_2"],
}


def layer_norm_targets(model_type: str) -> list[str]:
    if model_type not in LAYER_NORMS:
        raise ConfigError(f"no default layer-norm targets for model_type {model_type!r}; set method.target_modules")
    return list(LAYER_NORMS[model_type])


def ia3_targets(model_type: str) -> tuple[str, str]:
    """peft regex strings (full match) for target and feed-forward modules."""
    if model_type not in IA3_TARGETS:
        raise ConfigError(f"no default (IA)3 targets for model_type {model_type!r}; set "
                          f"method.target_modules and method.feedforward_modules")
    targets, ff = IA3_TARGETS[model_type]
    return (".*\\.(" + "|".join(targets) + ")$", ".*\\.(" + "|".join(ff) + ")$")


def layer_stack(model: "nn.Module") -> tuple[str, "nn.ModuleList"]:
    """The transformer's repeated layers: the longest nn.ModuleList in the model."""
    import torch.nn as nn

    best = None
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and (best is None or len(module) > len(best[1])):
            best = (name, module)
    if best is None:
        raise ConfigError(f"{type(model).__name__}: found no layer stack (nn.ModuleList)")
    return best


def head_module_names(model: "nn.Module") -> list[str]:
    """Top-level modules outside the pretrained backbone: the task head (classifier, score,
    and DeBERTa's context pooler). They are new, so every method trains them."""
    prefix = getattr(model, "base_model_prefix", "")
    return [name for name, child in model.named_children()
            if name != prefix and any(True for _ in child.parameters())]


def enable_checkpointing(model: "nn.Module") -> None:
    """Activation checkpointing of every layer (transformers' own, non-reentrant, as practitioners
    run 7B models); the KV cache off, as transformers does under checkpointing."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    target = inner if hasattr(inner, "gradient_checkpointing_enable") else getattr(inner, inner.base_model_prefix)
    target.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if getattr(inner, "config", None) is not None:
        inner.config.use_cache = False
