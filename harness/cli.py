"""Command line: validate names before any work, then hand over to Hydra."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from harness.lr_search import register_resolvers

register_resolvers()  # ${mul:..} and ${best_lr:} in conf/train/default.yaml

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
CHECKED_GROUPS = ("model", "method", "task", "precision", "train", "sweep", "recipe", "tracker")


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
        for choice in value.strip("[]").split(","):  # tracker=[mlflow,tensorboard]: several at once
            choice = choice.strip()
            if not choice:
                continue
            if choice not in valid:
                return f"error: unknown {key} {choice!r} (no conf/{key}/{choice}.yaml); valid: {', '.join(valid)}"
    return None


def _flat_keys(node: dict | list, prefix: str = "") -> list[str]:
    """Every dotted key of a (plain, unresolved) config tree; a list's items by index (`a.0`),
    as Hydra's overrides address them."""
    keys = []
    for key, child in (enumerate(node) if isinstance(node, list) else node.items()):
        keys.append(f"{prefix}{key}")
        if isinstance(child, (dict, list)):
            keys += _flat_keys(child, f"{prefix}{key}.")
    return keys


def compose_config(overrides: list[str]):
    """The resolved config the CLI builds for these overrides (precision=auto resolved), composed
    in-process: for tools that predict or recompute cells without launching them, and the tests."""
    from hydra import compose, initialize_config_dir

    from harness.lr_search import register_resolvers
    from harness.precision import resolve_in_config

    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    resolve_in_config(cfg)
    return cfg


def check_keys(argv: list[str]) -> str | None:
    """One-line error for an override of a config key that does not exist (Hydra would print
    its 'not in struct' block), naming the nearest valid keys; else None. Keys added with `+`,
    Hydra's own `hydra.*` keys and group choices are left to Hydra."""
    import difflib
    import itertools

    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    groups, keys = [], []
    for arg in argv:
        if arg.startswith("-") or "=" not in arg:
            continue
        raw_key, _, value = arg.partition("=")
        key = raw_key.lstrip("+~")
        if key in CHECKED_GROUPS or "/" in key or key.split(".")[0] == "hydra":
            if key in CHECKED_GROUPS and value.startswith("["):  # a list of configs is one choice
                groups.append([f"{raw_key}={value}"])
            elif key in CHECKED_GROUPS:
                groups.append([f"{raw_key}={choice.strip()}" for choice in value.split(",")])
            continue
        if raw_key == key:  # a `+key` adds a key on purpose
            keys.append(key)
    if not keys:
        return None
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            composed = [compose(config_name="config", overrides=list(choice))
                        for choice in itertools.islice(itertools.product(*groups), 32)]
    except Exception:  # a composition problem of another kind: Hydra reports it itself
        return None
    # whether a key exists, not what it resolves to: train.lr of a final-stage sweep resolves
    # from results that only the run itself knows how to find
    known = [set(_flat_keys(OmegaConf.to_container(cfg, resolve=False))) for cfg in composed]
    for key in keys:
        if all(key not in keys_of for keys_of in known):
            valid = sorted(known[0])
            near = difflib.get_close_matches(key, valid, n=3, cutoff=0.5) or \
                [k for k in valid if "." not in k][:8]
            return (f"error: unknown config key {key!r}; nearest valid: {', '.join(near)} "
                    f"(add a new key with +{key}=...)")
    return None


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def _hydra_entry(cfg: DictConfig) -> None:
    from harness.errors import ConfigError
    from harness.launch import launch_cell, task_overrides
    from harness.lifetime import watch_sweep
    from harness.models.source import apply_explicit_source
    from harness.precision import resolve_in_config
    from harness.validate import validate

    watch_sweep()  # a pool worker (joblib) goes with the sweep that started it
    apply_explicit_source(cfg, task_overrides())
    resolve_in_config(cfg)
    try:
        validate(cfg)
    except ConfigError as exc:  # Hydra would print a traceback; a config mistake gets one line
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_CONFIG)
    launch_cell(cfg)


def stop_cleanly_on_sigterm() -> None:
    """SIGTERM (a scheduler, `kill`, CI's timeout) unwinds the sweep as Ctrl-C does, instead of ending
    it on the spot: joblib's pool then releases its memory-mapping folders in /dev/shm and loky's
    semaphores itself, rather than leaving them to its resource tracker (a 'leaked folder objects'
    warning, or folders left behind where the tracker goes down with the sweep)."""
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


def main() -> int:
    from harness.errors import ConfigError
    from harness.library_noise import reword_library_noise
    from harness.lifetime import mark_sweep_process
    from harness.recipes import follow_task

    mark_sweep_process()
    stop_cleanly_on_sigterm()
    reword_library_noise()
    error = check_names(sys.argv[1:])
    if not error:
        try:
            sys.argv[1:] = follow_task(sys.argv[1:])  # Hydra reads its overrides from sys.argv
        except ConfigError as exc:
            error = f"error: {exc}"
    error = error or check_keys(sys.argv[1:])
    if error:
        print(error, file=sys.stderr)
        return 2
    try:
        return _run_and_summarise(sys.argv[1:])
    except KeyboardInterrupt as exc:
        print(f"interrupted ({exc or 'Ctrl-C'}): finished cells keep their rows; the same command resumes",
              file=sys.stderr)
        return EXIT_INTERRUPTED


EXIT_CONFIG = 2  # a config or name error: nothing ran
EXIT_FAILED_CELLS = 3  # some cell ended with a status other than ok (its row is kept)
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM


def _run_and_summarise(argv: list[str]) -> int:
    """Run the cells; then one line per cell whose row is not ok (status, error, row file) and
    exit code 3, unless `+allow_failures=true` (long sweeps that expect some cells to fail)."""
    import json
    import os
    import tempfile

    from harness.launch import FAILURES_ENV

    allow = any(a.lstrip("+") in ("allow_failures=true", "allow_failures=True") for a in argv)
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl", prefix="peft-bench-failures-") as fh:
        os.environ[FAILURES_ENV] = fh.name
        _hydra_entry()
        failures = [json.loads(line) for line in fh.read().splitlines() if line.strip()]
    for f in failures:
        print(f"failed: {f['cell']}: status={f['status']}: {f['error']} (row: {f['row_file']})", file=sys.stderr)
    if failures and not allow:
        print(f"{len(failures)} cell(s) failed; exit {EXIT_FAILED_CELLS} (+allow_failures=true exits 0)",
              file=sys.stderr)
        return EXIT_FAILED_CELLS
    return 0
