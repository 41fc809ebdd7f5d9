"""Table 4: % trainable vs % changed parameters (and the rank of the change), measured,
beside the survey's published ranges (Lialin et al. 2023, Table 2)."""

from __future__ import annotations

import pandas as pd

from harness.report import references
from harness.report.cells import human_params, number, reproduction_header, run_settings
from harness.report.render import MISSING, Grid, Report

SURVEY_NAME = {"lora": "LoRA", "bitfit": "BitFit", "ia3": "(IA)3", "prompt_tuning": "Prompt Tuning",
               "prefix_tuning": "Prefix-Tuning", "p_tuning": "Prompt Tuning", "adalora": "LoRA"}


def build(df: pd.DataFrame) -> Report:
    rows = df[(df["status"] == "ok") & df["mode"].isin(["train", "count"])]  # predictions count nothing new
    survey = references.load("survey_param_counts").set_index("method")
    body = []
    for (model, label, mode), group in rows.groupby(["model", "method_label", "mode"], sort=True):
        r = group.iloc[-1]
        ranks = (MISSING if pd.isna(r["delta_rank_median"]) else
                 f"{r['delta_rank_min']:g} / {r['delta_rank_median']:g} / {r['delta_rank_max']:g}")
        name = SURVEY_NAME.get(r["method"])
        pub = survey.loc[name] if name in survey.index else None
        body.append([model, label, mode, human_params(r["params_total"]), human_params(r["params_trainable"]),
                     number(r["pct_trainable"], 3), number(r["pct_added"], 3), number(r["pct_changed"], 2),
                     r["params_changed_source"] if pd.notna(r["params_changed_source"]) else MISSING, ranks,
                     f"{pub['pct_trainable']}" if pub is not None else MISSING,
                     f"{pub['pct_changed']}" if pub is not None else MISSING])
    columns = ["Model", "Method", "Mode", "Total", "Trainable", "% trainable", "% added", "% changed",
               "Changed by", "Δ rank min/med/max", "Survey % trainable", "Survey % changed"]
    notes = ["Survey: Lialin et al. 2023, Table 2 (published ranges over the papers it surveys).",
             "% changed: base-model entries that differ after merging the method into the model (measured by "
             "comparing values after training), plus the added parameters of methods that cannot merge. Count-only "
             "rows (`mode=count`) report the entries a method can reach (structural).",
             "Trainable and changed include the task head, which the papers leave out.",
             "Δ rank: numerical rank of each merged weight difference, after training."]
    return Report("param_accounting", "Parameter accounting: % trainable vs % changed", reproduction_header(rows),
                  [Grid("Measured", columns, body)], notes, details=run_settings(rows))
