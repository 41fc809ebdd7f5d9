"""The published tables carried as reference data (references/*.csv), and the check that
each published row's stated average agrees with its own cells."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

REFERENCE_DIR = Path(__file__).resolve().parent / "references"

# AdaLoRA Table 1: All Ave. = mean of 8 task scores, MNLI = mean(m, mm), QQP = mean(acc, F1)
GLUE_TASK_SCORES = {
    "mnli": ("mnli_m_acc", "mnli_mm_acc"), "sst2": ("sst2_acc",), "cola": ("cola_mcc",),
    "qqp": ("qqp_acc", "qqp_f1"), "qnli": ("qnli_acc",), "rte": ("rte_acc",), "mrpc": ("mrpc_acc",),
    "stsb": ("stsb_corr",),
}


def load(name: str) -> pd.DataFrame:
    return pd.read_csv(REFERENCE_DIR / f"{name}.csv")


def glue_average(cells: dict[str, float | None]) -> float | None:
    """AdaLoRA's All Ave. from reference-style column names; None when any task is absent."""
    per_task = []
    for cols in GLUE_TASK_SCORES.values():
        values = [cells.get(c) for c in cols]
        if any(v is None or pd.isna(v) for v in values):
            return None
        per_task.append(sum(values) / len(values))
    return sum(per_task) / len(per_task)


def check_glue_averages(table: pd.DataFrame, tolerance: float = 0.015) -> list[str]:
    """One message per row whose stated all_avg disagrees with the mean of its cells
    (published values are rounded to 2 decimals, hence the tolerance)."""
    problems = []
    for i, row in table.iterrows():
        computed = glue_average(row.to_dict())
        if computed is not None and abs(computed - row["all_avg"]) > tolerance:
            problems.append(f"row {i + 2} ({row['method']}, {row['budget_params']}): stated All Ave. "
                            f"{row['all_avg']:.2f} but its cells average {computed:.2f}")
    return problems
