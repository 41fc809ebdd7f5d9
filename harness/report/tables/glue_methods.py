"""Table 1: GLUE method comparison in the layout of AdaLoRA's Table 1, beside the paper.

Rows: method at a budget with its # Params (trainable, task head left out, as the paper
counts; AdaLoRA: the final budget). Cells: mean over seeds (± std with several seeds), in
points. All Ave.: mean of 8 task scores, MNLI = mean(m, mm), QQP = mean(acc, F1).
"""

from __future__ import annotations

import math
import statistics

import pandas as pd

from harness.report import references
from harness.report.cells import (collapse_missing, human_params, mean_std, precision_on_device, reproduction_header,
                                  run_settings, train_rows)
from harness.report.render import MISSING, Grid, Report

# (header, task, metric column, reference column)
COLUMNS = [
    ("MNLI m", "glue/mnli", "metric_accuracy", "mnli_m_acc"),
    ("MNLI mm", "glue/mnli", "metric_accuracy_mm", "mnli_mm_acc"),
    ("SST-2 Acc", "glue/sst2", "metric_accuracy", "sst2_acc"),
    ("CoLA Mcc", "glue/cola", "metric_matthews", "cola_mcc"),
    ("QQP Acc", "glue/qqp", "metric_accuracy", "qqp_acc"),
    ("QQP F1", "glue/qqp", "metric_f1", "qqp_f1"),
    ("QNLI Acc", "glue/qnli", "metric_accuracy", "qnli_acc"),
    ("RTE Acc", "glue/rte", "metric_accuracy", "rte_acc"),
    ("MRPC Acc", "glue/mrpc", "metric_accuracy", "mrpc_acc"),
    ("STS-B Corr", "glue/stsb", "metric_pearson", "stsb_corr"),
]
# published row -> our method label. Houlsby (two adapters per layer) and Pfeiffer (one) at the
# paper's budgets on DeBERTaV3-base (hidden 768): bottleneck 32 / 16 / 8 and 64 / 32 / 16, i.e.
# AdapterHub reduction factors 24 / 48 / 96 and 12 / 24 / 48 (the same fractions of any width).
PUBLISHED_TO_LABEL = {("full_ft", "high"): "full_ft", ("bitfit", "high"): "bitfit", ("lora_r8", "high"): "lora r=8",
                      ("lora_r2", "low"): "lora r=2", ("adalora", "high"): "adalora r=8",
                      ("adalora", "low"): "adalora r=2",
                      ("houlsby_adapter", "high"): "houlsby rf=24", ("houlsby_adapter", "mid"): "houlsby rf=48",
                      ("houlsby_adapter", "low"): "houlsby rf=96", ("pfeiffer_adapter", "high"): "pfeiffer rf=12",
                      ("pfeiffer_adapter", "mid"): "pfeiffer rf=24", ("pfeiffer_adapter", "low"): "pfeiffer rf=48"}
WARNED = " ⚠"
EDGE = {"top": "↑ top of grid", "bottom": "↓ bottom of grid"}
UNSTEADY = "⚠ seeds disagree"
# a task's second metric: its task is footnoted and summarised under the first one
SECOND_METRICS = ("MNLI mm", "QQP F1")
TASKS = {c[1] for c in COLUMNS}


def budget_params(rows: pd.DataFrame) -> float | None:
    ok = rows[rows["status"] == "ok"]
    if ok.empty:
        return None
    final = ok["params_adapter_budget_final"].dropna()
    if not final.empty:
        return float(final.median())
    return float((ok["params_trainable"] - ok["params_head"].fillna(0)).median())


def method_cells(rows: pd.DataFrame, label: str, missing: list, warned: list) -> tuple[list[str], dict[str, float]]:
    """Formatted cells per column and the mean value (points) per reference column. Cells without
    an ok row go to `missing` (footnotes), ok rows with warnings to `warned` (flagged ⚠)."""
    cells, means = [], {}
    for header, task, metric, ref in COLUMNS:
        task_rows = rows[rows["task"] == task]
        ok = task_rows[task_rows["status"] == "ok"]
        values = [100 * v for v in ok[metric].dropna()]
        if values:
            flagged = ok["warnings"].dropna()
            cells.append(mean_std(values) + (WARNED if not flagged.empty else ""))
            warned += [f"{label}, {header}, seed {s}: {w}" for s, w in zip(ok.loc[flagged.index, "seed"], flagged)]
            means[ref] = sum(values) / len(values)
        else:
            cells.append(MISSING)
            if header not in SECOND_METRICS:  # one footnote per task, not per metric
                missing.append(((header.split()[0], label), task_rows))
    avg = references.glue_average(means)
    cells.append(f"{avg:.2f}" if avg is not None else MISSING)
    if avg is not None:
        means["all_avg"] = avg
    return cells, means


def ranking_line(header: str, metric: str, ref: str, task_rows: pd.DataFrame, published: pd.DataFrame
                 ) -> list[str] | None:
    """[task, methods, tau with its interval, spread published / reproduced, dev-set SE published /
    reproduced, gaps to full FT] over the methods both tables have (None for fewer than three)."""
    from harness.report.ranking import dev_set_se, gaps_to_full, kendall_tau, spread, tau_interval

    pub, seeds = {}, {}
    for _, p in published.iterrows():
        label = PUBLISHED_TO_LABEL.get((p["method"], p["budget_params"]))
        values = [100 * v for v in task_rows.loc[task_rows["method_label"] == label, metric].dropna()]
        if label and values:
            pub[label], seeds[label] = float(p[ref]), values
    if len(pub) < 3:
        return None
    ours = {m: sum(v) / len(v) for m, v in seeds.items()}
    gaps = [f"{m} {gaps_to_full(pub).get(m, 0):+.1f} / {gaps_to_full(ours).get(m, 0):+.1f}"
            for m in sorted(pub) if m != "full_ft"] if "full_ft" in pub else []
    shown = task_rows[task_rows["method_label"].isin(list(pub))]
    n = int(shown["eval_examples"].median()) if shown["eval_examples"].notna().any() else None
    full_dev = n is not None and shown["max_eval_samples"].isna().all()  # the paper's dev set too

    def se(scores: dict[str, float]) -> str:
        value = dev_set_se(metric, statistics.fmean(scores.values()) / 100, n)
        return MISSING if value is None else f"{100 * value:.1f}"

    single = sum(len(v) < 2 for v in seeds.values())  # resampling one seed cannot show its noise
    if single:
        tau = kendall_tau(pub, ours)
        shown_tau = f"{tau:+.2f} (no interval: {single} of {len(seeds)} methods ran one seed)"
    else:
        tau, lo, hi = tau_interval(pub, seeds)
        shown_tau = f"{tau:+.2f} [{lo:+.2f}, {hi:+.2f}]"
    if tau is None:
        shown_tau = MISSING
    return [header, str(len(pub)), shown_tau,
            f"{spread(pub):.1f} / {spread(ours):.1f}", f"{se(pub) if full_dev else MISSING} / {se(ours)}"
            + (f" (n={n})" if n else ""), "; ".join(gaps) or MISSING]


def ranking_grid(rows: pd.DataFrame) -> Grid | None:
    """Per task: Kendall's tau between the paper's order of the methods both tables have and
    ours (seed means), with a 95 % bootstrap interval over our seeds; and each method's gap to
    full fine-tuning, published and reproduced (points). One line per task and setting (model,
    precision) when several ran: methods are ranked within one setting, never across."""
    published = references.load("adalora_table1_deberta_v3_base_glue")
    ok = rows[rows["status"] == "ok"]
    settings = list(ok.groupby(["model", "precision"], sort=True))
    body = []
    for header, task, metric, ref in COLUMNS:
        for (model, precision), setting in settings:
            name = f"{header} ({model}, {precision})" if len(settings) > 1 else header
            line = ranking_line(name, metric, ref, setting[setting["task"] == task], published)
            if line is not None:
                body.append(line)
    if not body:
        return None
    footnotes = ["Spread: the best method's mean minus the worst's. Dev-set SE: the sampling standard error of one "
                 "score on the task's dev set at the methods' mean score (accuracy sqrt(p(1-p)/n), correlation "
                 "(1-r^2)/sqrt(n-1)); seeds do not shrink it. Where the spread is within a few SEs, the order is "
                 "largely the dev set's sampling noise, in the paper as here, and tau says little."]
    return Grid("Ranking: Kendall's tau with the paper's order (95 % interval over seeds), spread of the methods, "
                "dev-set standard error, gap to full FT (published / reproduced, points)",
                ["Task", "Methods", "tau", "Spread", "Dev-set SE", "Gap to full FT"], body, footnotes=footnotes)


def chosen_rates(rows: pd.DataFrame) -> Grid | None:
    """Method x task: the learning rate the lr_search stage chose on dev and the grid it chose from,
    from the stage-1 rows as they are now (a grid extended after stage 2 ran shows its new rates;
    harness/lr_search.py); None when no row ran that stage."""
    from harness.lr_search import searched
    from harness.record.identity import CELL

    search = searched(rows)
    if search.empty:
        return None
    tasks = sorted(search["task"].unique())
    several = search["precision"].nunique() > 1
    staged = rows[rows["stage"].isin(["lr_search", "final"])]
    body, flags = [], {"edge": 0, "unsteady": 0}
    for (label, precision), group in search.groupby(["method_label", "precision"], sort=True):
        cells = []
        for task in tasks:
            mine = staged[(staged["method_label"] == label) & (staged["precision"] == precision)
                          & (staged["task"] == task)]
            cells.append("; ".join(chosen_rate_text(cell, flags)
                                   for _, cell in mine.groupby(list(CELL), dropna=False, sort=True)
                                   if not searched(cell).empty) or MISSING)
        body.append([f"{label} ({precision})" if several else label, *cells])
    footnotes = []
    if flags["edge"]:
        footnotes.append(f"{EDGE['top']} / {EDGE['bottom']}: {flags['edge']} of the chosen rates are the grid's highest or "
                         "lowest; the best rate may lie beyond it: run the lr_search stage again for that method and task "
                         "at the next factor (the grid's step past its edge); stage 2 then reruns only if that rate wins")
    footnotes.append("Rates run at every seed: the comparison shows the one with the best mean over the seeds (\"mean "
                     "over seeds\"), else stage 1's best. " + (
                         f"{UNSTEADY}: {flags['unsteady']} cells whose seeds at the shown rate spread over more than 3 "
                         "dev-set standard errors (a seed failed where another did not); running the runner-up rate's "
                         "seeds (+sweep=glue_methods_runner_up) lets the comparison choose on three seeds instead of one"
                         if flags["unsteady"] else "No cell's seeds spread over more than 3 dev-set standard errors."))
    return Grid("Learning rate chosen on dev (lr_search stage; of lr: dev score, points)", ["Method", *tasks], body,
                footnotes=footnotes, collapsed=True)


def chosen_rate_text(cell: pd.DataFrame, flags: dict) -> str:
    """One cell of the chosen-rates table: stage 1's grid and choice, the seed means where a rate
    ran at several seeds, and the flags (`flags` counts them)."""
    from harness.lr_search import choose, compared_rate, grid_edge, next_factor, search_grid, searched, seeds_by_rate
    from harness.report.ranking import dev_set_se

    grid = search_grid(searched(cell), {})
    rates = seeds_by_rate(cell)
    shown, first = compared_rate(cell, rates), choose(grid)
    tried = ", ".join(f"{r:g}: {100 * v:.1f}" for r, v in sorted(grid.items()))
    text = f"{shown:g} (of {tried})"
    edge = grid_edge(grid, shown)
    if edge:
        flags["edge"] += 1
        factor = next_factor(cell, edge)
        text += f" {EDGE[edge]}" + (f", next train.lr_factor={factor:.4g}" if factor else "")
    most = max(len(s) for s in rates.values())
    full = {lr: s for lr, s in sorted(rates.items()) if len(s) == most}
    if most > 1 and len(full) > 1:
        text += "; mean over seeds " + ", ".join(f"{lr:g}: {100 * statistics.fmean(s.values()):.1f}"
                                                 for lr, s in full.items())

    def seeds_at(rate: float) -> dict[int, float]:  # matched as seeds_by_rate matches rates
        return next((s for lr, s in rates.items() if math.isclose(lr, rate, rel_tol=1e-6)), {})

    if not math.isclose(shown, first, rel_tol=1e-6):
        text += (f"; seed 1 alone chose {first:g}" if len(seeds_at(first)) >= most else
                 f"; stage 1's best, {first:g}, awaits its other seeds (+sweep=glue_methods_tuned)")
    at_shown = seeds_at(shown)
    metric = next(c[2] for c in COLUMNS if c[1] == cell["task"].iloc[0]) if cell["task"].iloc[0] in TASKS else None
    n = cell["eval_examples"].dropna()
    if metric and len(at_shown) > 1 and not n.empty:
        scores = sorted(at_shown.values())
        se = dev_set_se(metric, scores[-1], int(n.median()))
        if se and scores[-1] - scores[0] > 3 * se:
            flags["unsteady"] += 1
            text += (f" {UNSTEADY} ({100 * scores[0]:.1f} to {100 * scores[-1]:.1f}, 3 SE = {300 * se:.1f}"
                     + ("; runner-up's seeds run)" if len(full) > 1 else "; run the runner-up rate's seeds)"))
    return text


def protocol_cost(rows: pd.DataFrame) -> Grid | None:
    """Method x task: the runs of both stages of the comparison (failed ones included: they took
    the time too) and the sum of their wall times, on the hardware of the header; None when no
    row ran a stage."""
    staged = rows[rows["stage"].isin(["lr_search", "final"])]
    if staged.empty:
        return None
    tasks = sorted(staged["task"].unique())

    def cell(group: pd.DataFrame) -> str:
        if group.empty:
            return MISSING
        return f"{len(group)} runs, {group['run_wall_s'].fillna(0).sum() / 3600:.2f} h"

    several = staged["precision"].nunique() > 1  # hours on different hardware are never one sum
    body = []
    for precision, setting in staged.groupby("precision", sort=True):
        suffix = f" ({precision})" if several else ""
        body += [[label + suffix, *(cell(group[group["task"] == t]) for t in tasks), cell(group)]
                 for label, group in setting.groupby("method_label", sort=True)]
        body.append(["all methods" + suffix, *(cell(setting[setting["task"] == t]) for t in tasks), cell(setting)])
    return Grid("Cost of the comparison (both stages; hours = the runs' wall times summed, runs side by side "
                "counted each)", ["Method", *tasks, "Total"], body, collapsed=True)


def reproduced_grid(rows: pd.DataFrame, caption: str, warned: list, collapsed: bool = False
                    ) -> tuple[Grid, dict[str, dict]]:
    """Method rows (one per model, method and precision: runs at different precisions are never
    one mean) and each method's mean per reference column."""
    columns = ["Method", "# Params"] + [c[0] for c in COLUMNS] + ["All Ave."]
    body, numeric, missing = [], [], []
    reproduced: dict[str, dict] = {}
    several = rows["precision"].nunique() > 1
    for (model, label, precision), group in rows.groupby(["model", "method_label", "precision"], sort=True):
        where = f"{model}, {precision}" if several else model
        cells, means = method_cells(group, f"{label} ({where})" if several else label, missing, warned)
        if not (group["status"] == "ok").any():
            continue  # nothing to show: its footnotes say why
        body.append([f"{label} ({where})", human_params(budget_params(group))] + cells)
        numeric.append([means.get(c[3]) for c in COLUMNS] + [means.get("all_avg")])
        reproduced.setdefault(label, means)
    bold = set()
    for col in range(len(COLUMNS) + 1):
        values = [(r, row[col]) for r, row in enumerate(numeric) if row[col] is not None]
        if values:
            best = max(v for _, v in values)
            bold |= {(r, col + 2) for r, v in values if v == best}
    # a task no row ran has no column: the grid names it once (render.visible), not per row
    ran = {COLUMNS[c][0].split()[0] for c in range(len(COLUMNS)) if any(row[c] is not None for row in numeric)}
    missing = [(label, group) for label, group in missing if label[0] in ran]
    return Grid(caption, columns, body, bold, collapse_missing(missing), collapsed=collapsed), reproduced


def primary_model(rows: pd.DataFrame) -> str | None:
    """The model the comparison is about: the one with the most finished runs. The paper's side by
    side, the ranking and the learning-rate tables are its; other models stand beside it."""
    ok = rows[rows["status"] == "ok"]
    return None if ok.empty else str(ok["model"].value_counts().sort_index().idxmax())


def training_note(model: str, rows: pd.DataFrame) -> str:
    """'smollm2_135m: training examples 1,024 of 3,668 (MRPC), ...; 2 epochs; batch 16; seed 1;
    learning rate: each method's recipe' from the rows themselves."""
    ok = rows[rows["status"] == "ok"]
    parts = []
    for header, task, _, _ in COLUMNS:
        mine = ok[ok["task"] == task]
        if mine.empty or header in SECOND_METRICS:
            continue
        used, full = mine["train_examples"].max(), mine["train_examples_full"].max()
        name = header.split()[0]
        parts.append(f"{used:,.0f} of {full:,.0f} ({name})" if pd.notna(full) and full > used else f"all {used:,.0f} ({name})")

    def span(col: str) -> str:
        return "/".join(f"{v:g}" for v in sorted(ok[col].dropna().unique()))

    rates = "each method's recipe" if ok["stage"].isna().all() else "chosen on dev"
    seeds = ok["seed"].nunique()
    return (f"{model}: training examples {', '.join(parts)}; {span('epochs')} epochs; batch {span('batch_size')}; "
            f"{'seed' if seeds == 1 else 'seeds'} {span('seed')}; learning rate: {rates}; whole dev sets.")


def beside_grid(others: pd.DataFrame, tuned: pd.DataFrame, untuned: pd.DataFrame, primary: str,
                warned: list) -> Grid | None:
    """The other models' rows (a pretrained decoder, say), each above the primary model's row of
    the same method on the same kind of device, over the tasks the other models ran."""
    ok = others[others["status"] == "ok"]
    if ok.empty:
        return None
    keep = [i for i, c in enumerate(COLUMNS) if c[1] in set(ok["task"]) and ok[c[2]].notna().any()]
    tasks = {COLUMNS[i][1] for i in keep}
    missing: list = []

    def line(method: str, where: str, group: pd.DataFrame) -> list[str]:
        cells, _ = method_cells(group, where, missing, warned)
        return [method, where, human_params(budget_params(group))] + [cells[i] for i in keep]

    body, shown = [], []
    for label, mine in ok.groupby("method_label", sort=True):
        for (model, precision), group in others[others["method_label"] == label].groupby(["model", "precision"]):
            body.append(line(label, f"{model} ({precision})", group))
        devices = set(mine["device"].dropna())
        for source, pool in (("lr chosen on dev", tuned), ("recipe lr", untuned)):
            ref = pool[(pool["method_label"] == label) & (pool["model"] == primary) & pool["device"].isin(devices)]
            if not ref.empty:
                body += [line("", f"{primary} ({precision}, {source})", group)
                         for precision, group in ref.groupby("precision", sort=True)]
                shown.append(ref)
                break
    notes = [training_note(model, group) for model, group in ok.groupby("model", sort=True)]
    if shown:
        primary_rows = pd.concat(shown)
        notes.append(training_note(primary, primary_rows[primary_rows["task"].isin(tasks)]))
    return Grid(f"Other models beside {primary} (same method, same kind of device)",
                ["Method", "Model", "# Params"] + [COLUMNS[i][0] for i in keep], body, footnotes=notes)


def build(df: pd.DataFrame) -> Report:
    from harness.lr_search import comparison_rows

    rows = train_rows(df)
    rows = precision_on_device(rows[rows["task"].fillna("").str.startswith("glue/")
                                    & ~rows["random_init"].fillna(False).astype(bool)])
    primary = primary_model(rows)
    others = rows[rows["model"] != primary]
    tuned, untuned = comparison_rows(rows[rows["model"] == primary])
    grids, warned = [], []
    reproduced: dict[str, dict] = {}
    if not tuned.empty:
        grid, means = reproduced_grid(tuned, "Reproduced, learning rate chosen on dev per method and task (the "
                                      "lr_search stage's best rate, or where several rates ran at every seed "
                                      "the best mean; seed 1 is its stage-1 run, the final stage's seeds the rest)", warned)
        grids.append(grid)
        reproduced = means
    if not untuned.empty:
        caption = "Reproduced at each method's recipe learning rate (not tuned)" if grids else "Reproduced"
        grid, means = reproduced_grid(untuned, caption, warned, collapsed=bool(grids))
        grids.append(grid)
        for label, cols in means.items():  # tuned cells first; the recipe's rate where no stage ran
            for ref, value in cols.items():
                reproduced.setdefault(label, {}).setdefault(ref, value)
    grids.append(side_by_side(reproduced))
    beside = beside_grid(others, tuned, untuned, primary, warned)
    if beside is not None:
        grids.append(beside)
    agreement = ranking_grid(tuned if not tuned.empty else untuned)
    if agreement is not None:
        grids.append(agreement)
    grids += [g for g in (chosen_rates(rows), protocol_cost(rows)) if g is not None]
    published = references.load("adalora_table1_deberta_v3_base_glue")
    notes = ["Published: Zhang et al. 2023 (AdaLoRA), Table 1, DeBERTaV3-base, mean of 5 seeds."]
    if not tuned.empty:
        notes.append("Side by side and ranking: the tuned runs; the recipe's rate only for cells the lr_search "
                     "stage has not covered (side by side).")
    notes += [f"⚠ {w}" for w in warned]
    notes += [f"Reference check: {p}" for p in references.check_glue_averages(published)] or \
             ["Reference check: every published All Ave. agrees with its own cells."]
    if set(rows["model"].dropna()) - {"deberta_v3_base"}:
        notes.append("The reproduced model differs from the paper's DeBERTaV3-base: compare methods within a table, "
                     "not absolute numbers across them.")
    return Report("glue_methods", "GLUE method comparison (AdaLoRA Table 1 layout)", reproduction_header(rows),
                  grids, notes, details=run_settings(rows))


def side_by_side(reproduced: dict[str, dict]) -> Grid:
    published = references.load("adalora_table1_deberta_v3_base_glue")
    columns = ["Method", "Row"] + [c[0] for c in COLUMNS] + ["All Ave."]
    refs = [c[3] for c in COLUMNS] + ["all_avg"]
    body = []
    for _, pub in published.iterrows():
        label = PUBLISHED_TO_LABEL.get((pub["method"], pub["budget_params"]))
        name = f"{pub['method']} ({pub['params_m']:g}M)"
        body.append([name, "published"] + [f"{pub[r]:.2f}" for r in refs])
        ours = reproduced.get(label) if label else None
        if ours is None:
            continue  # listed once under the table
        body.append(["", f"reproduced ({label})"] + [f"{ours[r]:.2f}" if r in ours else MISSING for r in refs])
        body.append(["", "Δ"] + [f"{ours[r] - pub[r]:+.2f}" if r in ours else MISSING for r in refs])
    not_run = [f"{pub['method']} ({pub['params_m']:g}M) as `{PUBLISHED_TO_LABEL[(pub['method'], pub['budget_params'])]}`"
               for _, pub in published.iterrows()
               if reproduced.get(PUBLISHED_TO_LABEL.get((pub["method"], pub["budget_params"]))) is None]
    footnotes = [f"{MISSING} not run: {', '.join(not_run)}"] if not_run else []
    return Grid("Side by side with the paper", columns, body, footnotes=footnotes)
