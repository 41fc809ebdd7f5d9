"""A row's identity: which cell it is (every sweep axis) and which run (id, hash, time)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from omegaconf import OmegaConf

from harness.models.source import weights_format, weights_source


def _model_source(model_cfg) -> str | None:
    from harness.models.loading import resolve_path

    try:
        return resolve_path(model_cfg)
    except Exception:  # an unresolvable source is recorded as the run's error, not here
        return model_cfg.get("name_or_path")


def _tokenizer_source(model_cfg) -> str | None:
    return str(model_cfg.get("tokenizer") or "") or _model_source(model_cfg)


def _pooling(cfg) -> str | None:
    from harness.models.loading import head_pooling
    from harness.tasks import get_task

    try:
        return head_pooling(cfg.model, get_task(cfg.task.name))
    except Exception:  # an unknown task or pooling is the run's error, recorded there
        return None


# the row columns that make two runs the same cell apart from their learning rate and seed; the
# device kind too: a GPU's bf16 kernels and random streams are not a CPU's, so a rate chosen on one
# is not a choice made for the other, and their seeds are never pooled
CELL = ("model", "method", "method_args", "task", "precision", "batch_size", "epochs", "max_seq_length",
        "max_train_samples", "device")


def resolve_device(name: str) -> str:
    """The device a config's `device` names: `auto` is the GPU where one is visible, else the CPU."""
    if name == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def device_kind(name: str | None) -> str:
    """'cuda' or 'cpu', as a row's `device` records it, for a config's `device` (auto, cpu, cuda:N)."""
    return "cuda" if resolve_device(str(name or "auto")).startswith("cuda") else "cpu"


def cell_of(cfg) -> dict:
    """This config's values of `CELL`, as its row records them."""
    return {"model": cfg.model.name, "method": cfg.method.name,
            "method_args": json.dumps(method_args(cfg), sort_keys=True), "task": cfg.task.name,
            "precision": cfg.precision.name, "batch_size": cfg.train.batch_size, "epochs": cfg.train.epochs,
            "max_seq_length": cfg.train.max_seq_length, "max_train_samples": cfg.data.max_train_samples,
            "device": device_kind(cfg.get("device"))}


def method_args(cfg) -> dict:
    """The method's arguments: what a row records, as JSON with sorted keys, in `method_args`."""
    from harness.methods import NOT_ARGS

    method = OmegaConf.to_container(cfg.method, resolve=True)
    return {k: v for k, v in method.items() if k not in NOT_ARGS}


def identity_columns(cfg, spec: dict) -> dict:
    from harness.methods import get_method

    label = get_method(cfg.method.name).label(method_args(cfg), cfg.method.get("variant"))
    recipe = cfg.method.get("recipe") or {}
    stage, factor = cfg.train.get("stage"), float(cfg.train.get("lr_factor", 1.0))
    if stage == "final" and "runner_up_lr" in str(OmegaConf.to_container(cfg.train)["lr"]):
        lr_source = "lr search: the stage-1 learning rate with the second-best dev score (harness/lr_search.py)"
    elif stage == "final":
        lr_source = "lr search: the stage-1 learning rate with the best dev score (harness/lr_search.py)"
    elif recipe.get("lr") is not None and float(recipe["lr"]) * factor == float(cfg.train.lr):
        lr_source = f"method recipe{f' x {factor:g}' if factor != 1 else ''}: {recipe.get('source')}"
    else:
        lr_source = "train.lr override"
    return {
        "run_id": spec["run_id"], "config_hash": spec["config_hash"],
        "timestamp_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "sweep_dir": spec.get("sweep_dir"), "sweep_job_num": spec.get("sweep_job_num"),
        "mode": cfg.mode, **cell_of(cfg), "model_name_or_path": _model_source(cfg.model),
        "model_weights_source": weights_source(cfg.model),
        "model_weights_format": weights_format(cfg.model), "tokenizer_name_or_path": _tokenizer_source(cfg.model),
        "head_pooling": _pooling(cfg), "lr_source": lr_source,
        "random_init": bool(cfg.model.random_init), "method_label": label,
        "precision_requested": (cfg.get("precision_choice") or {}).get("requested", cfg.precision.name),
        "precision_reason": (cfg.get("precision_choice") or {}).get("reason"),
        "grad_accum_steps": cfg.train.grad_accum_steps, "lr": cfg.train.lr, "max_steps": cfg.train.max_steps,
        "seed": cfg.train.seed, "max_eval_samples": cfg.data.max_eval_samples, "distributed": cfg.train.get("distributed"),
        "train_compile": bool(cfg.train.get("compile")),
        "train_gradient_checkpointing": bool(cfg.train.get("gradient_checkpointing")),
        "stage": stage, "lr_factor": factor, "lr_search_grid": spec.get("lr_search_grid") if stage == "final" else None,
    }
