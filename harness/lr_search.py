"""Learning rate per method, chosen on dev: the protocol that compares methods, not budgets.

Stage 1 (`train.stage=lr_search`) runs each method at its recipe's learning rate times each of
a few factors (`train.lr_factor`, e.g. 1/3, 1, 3), one seed. Stage 2 (`train.stage=final`) sets
`train.lr: ${best_lr:}`: for each cell, the stage-1 learning rate of the same model, method
(with its arguments) and task whose run scored best on dev. Rows record their stage and
factor; final rows also the grid they chose from (`lr_search_grid`, lr -> dev score).

    python -m harness +sweep=glue_methods_lr_search    # stage 1
    python -m harness +sweep=glue_methods_tuned        # stage 2: 3 seeds at the chosen lr
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.errors import ConfigError

STAGES = (None, "lr_search", "final")


def search_rows(results_dir: str):
    from harness.record.store import current_semantics, load_results

    rows = current_semantics(load_results(results_dir, columns=["model", "method", "method_args", "task", "stage",
                                                                "lr", "score"]))[0]
    return rows[(rows["stage"] == "lr_search") & (rows["status"] == "ok")]


def search_grid(rows, model: str, method: str, method_args: str, task: str) -> dict[float, float]:
    """lr -> best dev score among the stage-1 rows of this model, method (and arguments) and task."""
    hit = rows[(rows["model"] == model) & (rows["method"] == method) & (rows["method_args"] == method_args)
               & (rows["task"] == task) & rows["score"].notna()]
    return {float(lr): float(g["score"].max()) for lr, g in hit.groupby("lr")}


def choose(grid: dict[float, float]) -> float:
    """The learning rate with the best dev score (ties: the smaller learning rate)."""
    return max(sorted(grid), key=lambda lr: grid[lr])


def best_lr(*, _root_) -> float:
    """Resolver `${best_lr:}`: the stage-1 learning rate that scored best for this cell."""
    results = str(_root_.results_dir)
    if not Path(results).exists():
        raise ConfigError(f"train.lr=${{best_lr:}}: results_dir={results} has no rows; run the lr_search stage first")
    from harness.record.identity import method_args

    grid = search_grid(search_rows(results), _root_.model.name, _root_.method.name,
                       json.dumps(method_args(_root_), sort_keys=True), _root_.task.name)
    if not grid:
        raise ConfigError(f"train.lr=${{best_lr:}}: no ok lr_search row for model={_root_.model.name} "
                          f"method={_root_.method.name} task={_root_.task.name} in {results}; run the lr_search "
                          f"stage first")
    return choose(grid)


def register_resolvers() -> None:
    """`${mul:a,b}` (the recipe's learning rate times a factor) and `${best_lr:}`."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("mul"):
        OmegaConf.register_new_resolver("mul", lambda a, b: float(a) * float(b))
    if not OmegaConf.has_resolver("best_lr"):
        OmegaConf.register_new_resolver("best_lr", best_lr)
