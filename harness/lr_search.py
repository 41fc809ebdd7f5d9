"""Learning rate per method, chosen on dev: the protocol that compares methods, not budgets.

Stage 1 (`train.stage=lr_search`) runs each method at its recipe's learning rate times each of
a few factors (`train.lr_factor`, e.g. 1/3, 1, 3), one seed. Stage 2 (`train.stage=final`) sets
`train.lr: ${best_lr:}`: for each cell, the stage-1 learning rate whose run scored best on dev
among the runs of the same cell (model, method with its arguments, task, precision, schedule and
device kind: `harness.record.identity.CELL`). Rows record their stage and factor; final rows also the grid they chose from
(`lr_search_grid`, lr -> dev score).

The stage-1 run at the chosen rate is one seed of the comparison: stage 2 runs the other seeds
(`train.seed=2,3`), and `comparison_rows` puts the two together for the reports. Running its
seed again would repeat the same computation.

A rate chosen on one seed can be one that other seeds do not survive (a regression head that
collapses to a constant, a run still far from converged). When the seeds at the chosen rate
disagree by more than the dev set's own sampling noise (the report flags the cell), the
runner-up rate's seeds are run too (`train.lr: ${runner_up_lr:}`), and the comparison shows, of
the rates run at every seed, the one with the best mean (`compared_rate`): still chosen on dev,
on three seeds instead of one.

    python -m harness +sweep=glue_methods_lr_search    # stage 1
    python -m harness +sweep=glue_methods_tuned        # stage 2: seeds 2 and 3 at the chosen lr
    python -m harness +sweep=glue_methods_runner_up method=lora_r2 +recipe=glue_compare/stsb  # flagged cells
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

STAGES = (None, "lr_search", "final")


def _is_searched(rows: pd.DataFrame) -> pd.Series:
    return (rows["stage"] == "lr_search") & (rows["status"] == "ok") & rows["score"].notna()


def searched(rows: pd.DataFrame) -> pd.DataFrame:
    """The stage-1 rows a choice is made from: lr_search runs that finished ok with a dev score."""
    return rows[_is_searched(rows)]


def search_rows(results_dir: str) -> pd.DataFrame:
    from harness.record.identity import CELL
    from harness.record.store import current_semantics, load_results

    return searched(current_semantics(load_results(results_dir, columns=[*CELL, "stage", "lr", "score"]))[0])


def _same_cell(rows: pd.DataFrame, cell: dict) -> pd.Series:
    mask = rows["score"].notna()
    for key, value in cell.items():
        mask &= rows[key].isna() if value is None else (rows[key] == value)
    return mask


def _grid(rows: pd.DataFrame) -> dict[float, float]:
    return {float(lr): float(g["score"].max()) for lr, g in rows.groupby("lr")}


def search_grid(rows: pd.DataFrame, cell: dict) -> dict[float, float]:
    """lr -> best dev score among the stage-1 rows of this cell."""
    return _grid(rows[_same_cell(rows, cell)])


def choose(grid: dict[float, float]) -> float:
    """The learning rate with the best dev score (ties: the smaller learning rate)."""
    return max(sorted(grid), key=lambda lr: grid[lr])


def grid_edge(grid: dict[float, float], lr: float) -> str | None:
    """'top' or 'bottom' when the chosen rate is the grid's highest or lowest: the best rate may lie
    beyond the grid, which should then be extended that way (`train.lr_factor=...`)."""
    if len(grid) < 2:
        return None
    if math.isclose(lr, max(grid), rel_tol=1e-6):
        return "top"
    return "bottom" if math.isclose(lr, min(grid), rel_tol=1e-6) else None


def next_factor(rows: pd.DataFrame, edge: str) -> float | None:
    """The `train.lr_factor` that extends one cell's stage-1 grid past its `edge` ('top' or
    'bottom') by the grid's own step there (x3 after 1/3, 1, 3: 9); None without recorded factors."""
    factors = sorted({float(f) for f in rows["lr_factor"].dropna()}) if "lr_factor" in rows else []
    if len(factors) < 2:
        return None
    if edge == "top":
        return factors[-1] * factors[-1] / factors[-2]
    return factors[0] * factors[0] / factors[1]


def _searched_grid(root, resolver: str) -> tuple[dict, dict[float, float]]:
    """(cell, its stage-1 grid) for a resolver of the final stage; ConfigError naming what to run
    when stage 1 has no row for the cell."""
    results = str(root.results_dir)
    if not Path(results).exists():
        raise ConfigError(f"train.lr=${{{resolver}:}}: results_dir={results} has no rows; run the lr_search stage first")
    from harness.record.identity import cell_of

    cell = cell_of(root)
    grid = search_grid(search_rows(results), cell)
    if not grid:
        raise ConfigError(f"train.lr=${{{resolver}:}}: no ok lr_search row for model={cell['model']} "
                          f"method={cell['method']} task={cell['task']} precision={cell['precision']} on {cell['device']} "
                          f"(batch {cell['batch_size']}, {cell['epochs']} epochs) in {results}; run the lr_search "
                          f"stage first with the same settings")
    return cell, grid


def best_lr(*, _root_) -> float:
    """Resolver `${best_lr:}`: the stage-1 learning rate that scored best for this cell."""
    cell, grid = _searched_grid(_root_, "best_lr")
    lr = choose(grid)
    edge = grid_edge(grid, lr)
    if edge:
        import logging

        logging.getLogger(__name__).warning(
            "%s %s: the best learning rate, %g, is the %s of the grid searched (%s); a better one may lie beyond it: "
            "extend the grid (train.lr_factor=...)", cell["method"], cell["task"], lr, edge,
            ", ".join(f"{r:g}" for r in sorted(grid)))
    return lr


def runner_up(grid: dict[float, float]) -> float | None:
    """The learning rate with the second-best dev score (ties: the smaller rate first); None for a
    grid of one rate."""
    ranked = sorted(sorted(grid), key=lambda lr: grid[lr], reverse=True)
    return ranked[1] if len(ranked) > 1 else None


def runner_up_lr(*, _root_) -> float:
    """Resolver `${runner_up_lr:}`: the stage-1 learning rate that scored second best for this cell.
    Its seeds are run when the seeds at the best rate disagree (one failed where seed 1 did not):
    the comparison then takes, of the rates run at every seed, the one with the best mean
    (`compared_rate`)."""
    cell, grid = _searched_grid(_root_, "runner_up_lr")
    lr = runner_up(grid)
    if lr is None:
        raise ConfigError(f"train.lr=${{runner_up_lr:}}: method={cell['method']} task={cell['task']} has one "
                          f"searched rate ({', '.join(f'{r:g}' for r in grid)}); run the lr_search stage's other factors first")
    return lr


def seeds_by_rate(cell: pd.DataFrame) -> dict[float, dict[int, float]]:
    """lr -> {seed: dev score} over both stages' ok scored runs of one cell; a final-stage run of a
    seed replaces the stage-1 run of that seed (the same computation)."""
    ok = cell[(cell["status"] == "ok") & cell["score"].notna() & cell["stage"].isin(["lr_search", "final"])]
    ok = ok.sort_values("stage", key=lambda s: s.map({"lr_search": 0, "final": 1}), kind="stable")
    rates: dict[float, dict[int, float]] = {}
    for row in ok.itertuples():
        lr = next((r for r in rates if math.isclose(r, float(row.lr), rel_tol=1e-6)), float(row.lr))
        rates.setdefault(lr, {})[int(row.seed)] = float(row.score)
    return rates


def compared_rate(cell: pd.DataFrame, rates: dict[float, dict[int, float]] | None = None) -> float | None:
    """The learning rate the comparison shows for one cell: of the rates run at the most seeds, the
    one with the best mean dev score (ties: the smaller rate); while no rate has more than its
    stage-1 seed, the stage-1 best (`choose`). So a rate that led on seed 1 alone but whose other
    seeds failed gives way to the runner-up once the runner-up's seeds have run, and an extended
    grid's new best shows once its seeds have. `rates`: the cell's `seeds_by_rate`, when the
    caller has it already."""
    rates = seeds_by_rate(cell) if rates is None else rates
    if not rates:
        return None
    most = max(len(s) for s in rates.values())
    if most == 1:
        grid = _grid(searched(cell))
        return choose(grid) if grid else None
    full = {lr: sum(s.values()) / len(s) for lr, s in rates.items() if len(s) == most}
    return choose(full)


def comparison_rows(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(tuned, untuned): the rows a method comparison shows. Tuned, per cell: the stage-1 run at
    the compared learning rate (`compared_rate`) and the final-stage runs at that rate (a final
    run of the same seed replaces the stage-1 one); the runs at the other rates only informed the
    choice.
    Untuned: the rows of no stage (each method at its recipe's rate)."""
    import pandas as pd

    from harness.record.identity import CELL

    if "stage" not in rows:  # rows from before the protocol
        return rows.iloc[:0], rows
    untuned = rows[rows["stage"].isna()]
    staged = rows[rows["stage"].isin(["lr_search", "final"])]
    keep = []
    for _, cell in staged.groupby(list(CELL), dropna=False, sort=False):
        # boolean masks over the cell's own rows: no lookup by index label, which a plain concat of
        # row files repeats
        is_final = (cell["stage"] == "final").to_numpy()
        is_search = _is_searched(cell).to_numpy()
        lr = compared_rate(cell)
        if not is_search.any() or lr is None:
            keep.append(cell[is_final])
            continue
        at_lr = ((cell["lr"].astype(float) - lr).abs() <= 1e-6 * lr).to_numpy()
        final = cell[is_final & at_lr]
        keep += [cell[is_search & at_lr & ~cell["seed"].isin(final["seed"]).to_numpy()], final]
    tuned = pd.concat(keep) if keep else staged.iloc[:0]
    return tuned, untuned


def compared_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The runs a comparison of methods draws on: the tuned ones once the lr_search stage has
    run, else the untuned ones."""
    tuned, untuned = comparison_rows(rows)
    return tuned if not tuned.empty else untuned


def register_resolvers() -> None:
    """`${mul:a,b}` (the recipe's learning rate times a factor), `${best_lr:}` and `${runner_up_lr:}`."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("mul"):
        OmegaConf.register_new_resolver("mul", lambda a, b: float(a) * float(b))
    if not OmegaConf.has_resolver("best_lr"):
        OmegaConf.register_new_resolver("best_lr", best_lr)
    if not OmegaConf.has_resolver("runner_up_lr"):
        OmegaConf.register_new_resolver("runner_up_lr", runner_up_lr)
