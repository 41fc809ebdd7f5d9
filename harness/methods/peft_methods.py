"""Every method peft implements, applied through peft itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from harness.errors import ConfigError, UnsupportedError
from harness.methods import MethodContext, register
from harness.models.architecture import ia3_targets, layer_norm_targets, lora_targets


def _adapt(model, ctx: MethodContext, config_name: str, **kwargs):
    """get_peft_model with peft's config class of that name and what every method shares: the
    task type, and the new task head trained in full (peft's modules_to_save). peft is imported
    here, not with the registry, so that checking a config does not load it (seconds)."""
    import peft

    config_cls = getattr(peft, config_name)
    return peft.get_peft_model(model, config_cls(task_type=ctx.task_type, modules_to_save=ctx.head_modules or None,
                                                 **kwargs))


def _targets(args, ctx: MethodContext) -> list[str]:
    return args.target_modules or lora_targets(ctx.model_type)


@dataclass
class LoraArgs:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.1
    target_modules: Optional[list[str]] = None


@register("lora", LoraArgs, mergeable=True, label_arg=("r", "r"))
def lora(model, args: LoraArgs, ctx: MethodContext):
    return _adapt(model, ctx, "LoraConfig", r=args.r, lora_alpha=args.alpha, lora_dropout=args.dropout,
                  target_modules=_targets(args, ctx))


@dataclass
class AdaLoraArgs:
    init_r: int = 12
    target_r: int = 8
    alpha: int = 16
    dropout: float = 0.1
    target_modules: Optional[list[str]] = None
    tinit: Optional[int] = None
    tfinal: Optional[int] = None
    tinit_ratio: float = 0.1
    tfinal_ratio: float = 0.3
    deltaT: int = 10
    beta1: float = 0.85
    beta2: float = 0.85
    orth_reg_weight: float = 0.1


def adalora_after_step(model, global_step: int) -> None:
    # peft: call after optimizer.step() and before zero_grad(); it needs the gradients
    model.base_model.update_and_allocate(global_step)


@register("adalora", AdaLoraArgs, mergeable=True, after_step=adalora_after_step, label_arg=("target_r", "r"))
def adalora(model, args: AdaLoraArgs, ctx: MethodContext):
    total = ctx.total_steps
    tinit = args.tinit if args.tinit is not None else int(args.tinit_ratio * total)
    tfinal = args.tfinal if args.tfinal is not None else int(args.tfinal_ratio * total)
    if tinit + tfinal >= total:
        raise ConfigError(f"method.tinit ({tinit}) + method.tfinal ({tfinal}) must be below the schedule's "
                          f"{total} optimizer steps; lower them or train longer")
    return _adapt(model, ctx, "AdaLoraConfig", init_r=args.init_r, target_r=args.target_r,
                  lora_alpha=args.alpha, lora_dropout=args.dropout, target_modules=_targets(args, ctx),
                  tinit=tinit, tfinal=tfinal, deltaT=args.deltaT, beta1=args.beta1, beta2=args.beta2,
                  orth_reg_weight=args.orth_reg_weight, total_step=total)


@dataclass
class IA3Args:
    target_modules: Optional[list[str]] = None
    feedforward_modules: Optional[list[str]] = None


@register("ia3", IA3Args, mergeable=True)
def ia3(model, args: IA3Args, ctx: MethodContext):
    if args.target_modules:
        targets, ff = args.target_modules, args.feedforward_modules or []
    else:
        targets, ff = ia3_targets(ctx.model_type)
    return _adapt(model, ctx, "IA3Config", target_modules=targets, feedforward_modules=ff)


@dataclass
class PromptTuningArgs:
    num_virtual_tokens: int = 20


@register("prompt_tuning", PromptTuningArgs, label_arg=("num_virtual_tokens", "p"))
def prompt_tuning(model, args: PromptTuningArgs, ctx: MethodContext):
    return _adapt(model, ctx, "PromptTuningConfig", num_virtual_tokens=args.num_virtual_tokens)


@dataclass
class PrefixTuningArgs:
    num_virtual_tokens: int = 20
    prefix_projection: bool = False
    encoder_hidden_size: int = 512


@register("prefix_tuning", PrefixTuningArgs, label_arg=("num_virtual_tokens", "p"),
          no_checkpointing="the prefix reaches attention as a key/value cache, which transformers turns off under "
                           "gradient checkpointing (the keys then lack the prefix the mask counts; peft #869, #2191)")
def prefix_tuning(model, args: PrefixTuningArgs, ctx: MethodContext):
    if ctx.task_type == "SEQ_CLS" and decoder_only(ctx.model_type):
        _prefix_reaches_the_head(model, ctx)
    return _adapt(model, ctx, "PrefixTuningConfig", num_virtual_tokens=args.num_virtual_tokens,
                  prefix_projection=args.prefix_projection, encoder_hidden_size=args.encoder_hidden_size)


def decoder_only(model_type: str) -> bool:
    """A decoder-only architecture: transformers has a causal LM for it and no masked LM (BERT,
    RoBERTa and DeBERTa have masked LMs; LLaMA, Qwen2, Gemma and GPT-2 do not)."""
    from transformers.models.auto.modeling_auto import (MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
                                                        MODEL_FOR_MASKED_LM_MAPPING_NAMES)

    return model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def _prefix_reaches_the_head(model, ctx: MethodContext) -> None:
    """peft's prefix tuning for sequence classification hands the prefix to the model's forward as
    `past_key_values`; where that forward has no such argument it calls the backbone and reads its
    second output as a pooled vector, which a decoder does not have (its second output is the cache).
    transformers 5 names a decoder's cache argument `cache`: the model's class gets a forward that
    takes `past_key_values` and passes it on as `cache`, so the prefix reaches every layer and the
    architecture's own head pools the last token, as in causal-LM prefix tuning. A class with
    neither argument is refused, the same way in count, predict and train mode, before any work."""
    import inspect

    cls = type(model)
    params = inspect.signature(cls.forward).parameters
    if "past_key_values" in params:
        return
    if "cache" not in params:
        raise UnsupportedError(
            f"prefix tuning / P-tuning v2 with {cls.__name__}'s classification head: its forward takes no key/value "
            f"cache for the prefix and a {ctx.model_type} decoder has no pooled output for peft's fallback; use an "
            f"instruction task (task=instruct/...) or an encoder")

    class PrefixAsCache(cls):
        def forward(self, input_ids=None, attention_mask=None, past_key_values=None, **kwargs):
            return super().forward(input_ids=input_ids, attention_mask=attention_mask, cache=past_key_values, **kwargs)

    PrefixAsCache.__name__ = PrefixAsCache.__qualname__ = cls.__name__  # what configs and logs name
    model.__class__ = PrefixAsCache


@dataclass
class PTuningArgs:
    num_virtual_tokens: int = 20
    encoder_hidden_size: int = 128


@register("p_tuning", PTuningArgs, label_arg=("num_virtual_tokens", "p"))
def p_tuning(model, args: PTuningArgs, ctx: MethodContext):
    return _adapt(model, ctx, "PromptEncoderConfig", num_virtual_tokens=args.num_virtual_tokens,
                  encoder_hidden_size=args.encoder_hidden_size)


@dataclass
class DoraArgs(LoraArgs):
    pass


@register("dora", DoraArgs, mergeable=True, label_arg=("r", "r"))
def dora(model, args: DoraArgs, ctx: MethodContext):
    """DoRA (Liu et al. 2024): LoRA on the direction, a learned magnitude per output."""
    return _adapt(model, ctx, "LoraConfig", r=args.r, lora_alpha=args.alpha, lora_dropout=args.dropout,
                  use_dora=True, target_modules=_targets(args, ctx))


@dataclass
class LohaArgs:
    r: int = 8
    alpha: int = 8
    target_modules: Optional[list[str]] = None


@register("loha", LohaArgs, mergeable=True, label_arg=("r", "r"))
def loha(model, args: LohaArgs, ctx: MethodContext):
    """LoHa (Hyeon-Woo et al. 2022): Hadamard product of two low-rank products."""
    return _adapt(model, ctx, "LoHaConfig", r=args.r, alpha=args.alpha, target_modules=_targets(args, ctx))


@register("lokr", LohaArgs, mergeable=True, label_arg=("r", "r"))
def lokr(model, args: LohaArgs, ctx: MethodContext):
    """LoKr (Edalati et al. 2022, KronA): Kronecker product of a small and a low-rank factor."""
    return _adapt(model, ctx, "LoKrConfig", r=args.r, alpha=args.alpha, target_modules=_targets(args, ctx))


@dataclass
class VeraArgs:
    r: int = 256
    target_modules: Optional[list[str]] = None


@register("vera", VeraArgs, mergeable=True, label_arg=("r", "r"))
def vera(model, args: VeraArgs, ctx: MethodContext):
    """VeRA (Kopiczko et al. 2024): shared frozen random matrices, trained scaling vectors.
    peft needs equal shapes across targets: the default is the attention projections."""
    targets = args.target_modules or [t for t in lora_targets(ctx.model_type)
                                      if t in ("query", "key", "value", "query_proj", "key_proj", "value_proj",
                                               "q_proj", "k_proj", "v_proj", "o_proj")]
    return _adapt(model, ctx, "VeraConfig", r=args.r, target_modules=targets)


@dataclass
class OftArgs:
    r: int = 0
    oft_block_size: int = 32
    target_modules: Optional[list[str]] = None


@register("oft", OftArgs, mergeable=True)
def oft(model, args: OftArgs, ctx: MethodContext):
    """OFT (Qiu et al. 2023): a learned block-diagonal orthogonal rotation of each weight."""
    return _adapt(model, ctx, "OFTConfig", r=args.r, oft_block_size=args.oft_block_size,
                  target_modules=_targets(args, ctx))


@dataclass
class LnTuningArgs:
    target_modules: Optional[list[str]] = None


@register("ln_tuning", LnTuningArgs, mergeable=False, additive=False)
def ln_tuning(model, args: LnTuningArgs, ctx: MethodContext):
    """LN tuning (Qi et al. 2022): only the layer norms train. peft needs explicit targets."""
    targets = args.target_modules or layer_norm_targets(ctx.model_type)
    return _adapt(model, ctx, "LNTuningConfig", target_modules=targets)
