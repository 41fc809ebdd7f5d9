"""Command line: validate names before any work, then hand over to Hydra."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig


CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
CHECKED_GROUPS = ("model", "method", "task", "precision", "train", "sweep", "recipe")


def group_options(group: str) -> list[str]:
    root = CONF_DIR / group
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml"))


def check_names(argv: list[str]) -> str | None:
    """One-line error for an override naming a config that does not exist, else None."""
    for arg in argv:
        key, sep, value = arg.lstrip("+~").partition("=")
        if not sep or key not in CHECKED_GROUPS:
            continue
        valid = group_options(key)
        for choice in value.split(","):
            choice = choice.strip()
            if choice not in valid:
                return f"error: unknown {key} {choice!r} (no conf/{key}/{choice}.yaml); valid: {', '.join(valid)}"
    return None


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def _hydra_entry(cfg: DictConfig) -> None:
    from harness.errors import ConfigError
    from harness.launch import launch_cell
    from harness.validate import validate

    try:
        validate(cfg)
    except ConfigError as exc:  # Hydra would print a traceback; a config mistake gets one line
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    launch_cell(cfg)


def main() -> int:
    error = check_names(sys.argv[1:])
    if error:
        print(error, file=sys.stderr)
        return 2
    _hydra_entry()
    return 0
