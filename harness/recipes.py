"""A recipe follows the task it is for.

A recipe (`conf/recipe/<set>/<name>.yaml`) sets one task's schedule and selects that task
(`override /task: glue/rte`). Sweeps such as glue_lora run over recipes, so a `task=` override
would otherwise win over each recipe's task and run every recipe on one task's data. Before any
work, `follow_task` rewrites `task=T` beside a recipe axis into the recipes for T (narrowing
the sweep the natural way), and refuses a task and a recipe named together that disagree.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from harness.errors import ConfigError

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def recipe_task(recipe: str) -> str | None:
    """The task a recipe selects (its `override /task: ...` default), or None."""
    path = CONF_DIR / "recipe" / f"{recipe}.yaml"
    if not path.is_file():
        return None
    for entry in (yaml.safe_load(path.read_text()) or {}).get("defaults", []):
        if isinstance(entry, dict):
            for key, value in entry.items():
                if key.replace("override ", "").strip() in ("/task", "task"):
                    return str(value)
    return None


def _split(arg: str) -> tuple[str, str, str] | None:
    raw_key, sep, value = arg.partition("=")
    return (raw_key, raw_key.lstrip("+~"), value) if sep and not arg.startswith("-") else None


def _sweep_recipes(argv: list[str]) -> list[str]:
    """The recipe axis of the `+sweep=NAME` named in argv (its hydra.sweeper.params), if any."""
    for arg in argv:
        parts = _split(arg)
        if parts and parts[1] == "sweep":
            path = CONF_DIR / "sweep" / f"{parts[2]}.yaml"
            params = ((yaml.safe_load(path.read_text()) or {}).get("hydra") or {}).get("sweeper", {}) \
                if path.is_file() else {}
            for key, value in ((params or {}).get("params") or {}).items():
                if key.lstrip("+~") == "recipe":
                    return [v.strip() for v in str(value).split(",")]
    return []


def follow_task(argv: list[str]) -> list[str]:
    """argv with `task=T[,U]` beside a sweep's recipe axis replaced by `+recipe=` of the recipes
    for those tasks. Raises ConfigError (one line) when a task has no recipe in the axis, or an
    explicit recipe and an explicit task disagree."""
    tasks, recipes, task_arg = [], [], None
    for arg in argv:
        parts = _split(arg)
        if parts and parts[1] == "task":
            tasks, task_arg = [t.strip() for t in parts[2].split(",")], arg
        elif parts and parts[1] == "recipe":
            recipes = [r.strip() for r in parts[2].split(",")]
    if not tasks:
        return argv
    if recipes:  # both named by the user: they must agree
        for recipe in recipes:
            own = recipe_task(recipe)
            if own is not None and own not in tasks:
                raise ConfigError(f"recipe={recipe} is the recipe of task={own}, but task={','.join(tasks)} was "
                                  f"given; drop one of them (a recipe selects its own task)")
        return argv
    axis = _sweep_recipes(argv)
    if not axis:
        return argv
    by_task = {recipe_task(r): r for r in axis}
    chosen = []
    for task in tasks:
        if task not in by_task:
            raise ConfigError(f"task={task}: this sweep runs over recipes ({', '.join(axis)}) and none is for "
                              f"{task}; tasks it covers: {', '.join(t for t in by_task if t)}")
        chosen.append(by_task[task])
    return [a for a in argv if a is not task_arg] + [f"+recipe={','.join(chosen)}"]
