"""Config checks that run in the parent before a cell starts: every name known, every field
of the right type. Each failure is one ConfigError line naming the field."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from harness.distributed import check_mode as check_distributed_mode
from harness.errors import ConfigError
from harness.precision import get_precision

MODES = ("train", "count", "predict", "eval")


@dataclass
class TrainSchema:
    batch_size: int = 32
    grad_accum_steps: int = 1
    lr: float = 5e-4
    lr_factor: float = 1.0
    stage: Optional[str] = None
    weight_decay: float = 0.0
    epochs: float = 1.0
    max_steps: Optional[int] = None
    warmup_ratio: float = 0.06
    warmup_steps: Optional[int] = None
    max_seq_length: int = 128
    seed: int = 42
    eval_every_epoch: bool = False
    max_grad_norm: float = 1.0
    max_wall_s: Optional[float] = None
    num_threads: Optional[int] = None
    compile: bool = False
    gradient_checkpointing: bool = False
    distributed: Optional[str] = None
    nproc_per_node: int = 1


@dataclass
class DataSchema:
    glue_dir: Optional[str] = None
    glue_hub_id: str = "nyu-mll/glue"
    max_train_samples: Optional[int] = None
    max_eval_samples: Optional[int] = None


@dataclass
class PredictSchema:
    gpu: str = "A100-80GB"
    gpus: int = 1
    seq_len: Optional[int] = None
    attention: str = "sdpa"
    max_batch: bool = False
    train_examples: Optional[int] = None
    mfu: Optional[float] = None
    reference: Optional[str] = None


@dataclass
class ForgettingSchema:
    path: Optional[str] = None
    column: str = "sentence"
    max_texts: int = 64


@dataclass
class MeasureSchema:
    forgetting: ForgettingSchema = field(default_factory=ForgettingSchema)
    warmup_steps: int = 3
    nvml_interval_s: float = 0.01
    latency_batch_size: int = 8
    latency_seq_len: int = 128
    latency_repeats: int = 5
    count_changed: bool = True
    predict: bool = True


def _check(section: str, schema: type, node) -> None:
    try:
        OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.to_container(node, resolve=True))
    except OmegaConfBaseException as exc:
        cause = exc.__cause__ or exc.__context__
        while cause is not None and not isinstance(cause, ConfigError):
            cause = cause.__cause__ or cause.__context__
        if cause is not None:  # a resolver's own message (harness/lr_search.py) says it all
            raise cause from None
        key = str(getattr(exc, "full_key", None) or getattr(exc, "key", None) or "?")
        where = key if key.startswith(f"{section}.") else f"{section}.{key}"
        raise ConfigError(f"{where}: {str(exc).splitlines()[0]}") from None


def validate(cfg: DictConfig) -> None:
    from harness.methods import get_method, parse_args
    from harness.tasks import get_task

    if cfg.mode not in MODES:
        raise ConfigError(f"mode={cfg.mode!r}; valid: {', '.join(MODES)}")
    get_precision(cfg.precision.name)
    _check("train", TrainSchema, cfg.train)
    _check("data", DataSchema, cfg.data)
    _check("measure", MeasureSchema, cfg.measure)
    if cfg.mode == "predict":
        _check_predict(cfg)
    check_distributed_mode(cfg.train)
    from harness.lr_search import STAGES

    if cfg.train.get("stage") not in STAGES:
        raise ConfigError(f"train.stage={cfg.train.stage!r}; valid: null, lr_search, final")
    for key in ("batch_size", "grad_accum_steps", "max_seq_length", "nproc_per_node"):
        if cfg.train[key] < 1:
            raise ConfigError(f"train.{key}={cfg.train[key]}: expected a positive integer")
    get_task(cfg.task.name)
    method = get_method(cfg.method.name)
    parse_args(method, cfg.method)
    if cfg.train.get("gradient_checkpointing") and method.no_checkpointing:
        raise ConfigError(f"train.gradient_checkpointing=true: method {method.name} cannot train with it: "
                          f"{method.no_checkpointing}")
    _check_model_source(cfg.model)
    _check_writable(Path(cfg.results_dir))


def _check_predict(cfg) -> None:
    from harness.predict.gpus import gpu

    _check("predict", PredictSchema, cfg.predict)
    gpu(cfg.predict.gpu)
    if cfg.predict.attention not in ("sdpa", "flash", "eager"):
        raise ConfigError(f"predict.attention={cfg.predict.attention!r}; valid: sdpa, flash, eager")
    if cfg.predict.gpus < 1 or (cfg.predict.gpus > 1 and cfg.train.get("distributed") is None):
        raise ConfigError(f"predict.gpus={cfg.predict.gpus}: expected 1, or more with train.distributed=ddp|fsdp")
    if cfg.predict.mfu is not None and not 0 < cfg.predict.mfu <= 1:
        raise ConfigError(f"predict.mfu={cfg.predict.mfu}: expected a fraction in (0, 1]")


def _check_model_source(model_cfg) -> None:
    """A local model path must hold a model; a hub id is checked when it is loaded."""
    source = model_cfg.get("name_or_path")
    if not source:
        return
    path = Path(str(source)).expanduser()
    looks_local = path.exists() or str(source).startswith((".", "/", "~"))
    if looks_local and not (path / "config.json").is_file():
        raise ConfigError(f"model.name_or_path={source}: not a model folder (no config.json there)")


def _check_writable(results_dir: Path) -> None:
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=results_dir, prefix=".tmp-probe-"):
            pass
    except OSError as exc:
        raise ConfigError(f"results_dir={results_dir}: not writable ({exc.strerror})") from None
