"""Tasks: what data a task reads, how it is batched and how it is scored.

A task is looked up by its config name (`task.name`, e.g. `glue/sst2`) in TASKS.
"""

from __future__ import annotations

from harness.errors import ConfigError
from harness.tasks.glue import GLUE_TASKS, GlueTask
from harness.tasks.instruct import INSTRUCT_TASKS, InstructTask

Task = GlueTask | InstructTask  # both have: name, kind, num_labels, is_regression, score_name

TASKS: dict[str, Task] = {**{f"glue/{t.name}": t for t in GLUE_TASKS.values()}, **INSTRUCT_TASKS}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; valid: {', '.join(sorted(TASKS))}")
    return TASKS[name]
