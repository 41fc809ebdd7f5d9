"""Formatting of report cells and the reproduction header shared by every table."""

from __future__ import annotations

import math
import re

import pandas as pd

from harness.report.render import MISSING


def human_params(n) -> str:
    """0.1M, 1.33M, 184M, 6.61B: the papers' way of writing parameter counts."""
    if n is None or pd.isna(n):
        return MISSING
    n = float(n)
    if n >= 1e9:
        return f"{n / 1e9:.2f}B"
    if n >= 1e8:
        return f"{n / 1e6:.0f}M"
    if n >= 1e6:
        return f"{n / 1e6:.2f}M"
    if n >= 1e4:
        return f"{n / 1e6:.2f}M" if n >= 5e4 else f"{n / 1e3:.1f}K"
    return f"{int(n)}"


def number(x, digits=2) -> str:
    return MISSING if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def plus_minus(mean: float, std: float, digits: int = 3, sign: bool = False) -> str:
    """'0.848 ± 0.001' from a mean and its standard deviation; the mean alone where the std is NaN
    (one seed). `sign` writes the mean with its sign (+0.012, -0.026)."""
    return f"{mean:{'+' if sign else ''}.{digits}f}" + ("" if pd.isna(std) else f" ± {std:.{digits}f}")


def mean_std(values: list[float], digits=2) -> str:
    if not values:
        return MISSING
    s = pd.Series(values, dtype=float)
    if len(s) == 1:
        return f"{s.iloc[0]:.{digits}f}"
    return f"{s.mean():.{digits}f} ± {s.std(ddof=1):.{digits}f}"


def why_missing(rows: pd.DataFrame) -> str:
    """'—' and the reason a cell is empty: not run, or the status of its failed runs."""
    if rows.empty:
        return f"{MISSING} (not run)"
    statuses = sorted(set(rows["status"]) - {"ok"})
    return f"{MISSING} ({', '.join(statuses)})" if statuses else MISSING


def collapse_missing(groups: list[tuple[str | tuple[str, str], pd.DataFrame]]) -> list[str]:
    """Footnotes for table cells without an ok row: one line per reason (status and exception),
    naming the cells it covers and quoting one error, instead of one table row per cell. A label
    may be (item, group), e.g. ("MNLI", "lora r=8"): items are then listed per group."""
    by_reason: dict[str, dict[str, list[str]]] = {}
    example: dict[str, str] = {}
    for label, rows in groups:
        item, group = label if isinstance(label, tuple) else (label, "")
        failed_rows = rows[rows["status"] != "ok"]
        if rows.empty:
            reason = "not run"
        elif failed_rows.empty:
            reason = "ok runs without this score"
        else:
            failed = failed_rows.sort_values("timestamp_utc").iloc[-1]
            error = str(failed["error"]) if pd.notna(failed["error"]) else ""
            # one reason for errors that differ only in names, paths and numbers
            shape = ":".join(re.sub(r"\S*[/\d]\S*|\b[A-Z][A-Z0-9-]{2,}\b", "…", error).split(":")[:3])[:80]
            key = f"{failed['status']}|{shape}"
            reason = failed["status"] + (f" ({error.split(':', 1)[0]})" if error else "")
            example.setdefault(key, error[:200])
            reason = f"{reason}\0{key}"
        by_reason.setdefault(reason, {}).setdefault(group, []).append(item)
    lines = []
    for reason, per_group in by_reason.items():
        shown, _, key = reason.partition("\0")
        by_items: dict[tuple, list[str]] = {}  # groups missing the same items are named together
        for group, items in per_group.items():
            by_items.setdefault(tuple(items), []).append(group)
        cells = "; ".join(f"{', '.join(items)} ({', '.join(groups)})" if any(groups) else ", ".join(items)
                          for items, groups in by_items.items())
        lines.append(f"{MISSING} {shown}: {cells}" + (f" — e.g. {example[key]}" if example.get(key) else ""))
    return lines


def hardware(rows: pd.DataFrame) -> str:
    if rows.empty:
        return "no runs"
    parts = []
    for (device, name, threads), group in rows.groupby(["device", "device_name", "cpu_threads"], dropna=False):
        where = f"{name} ({device}" + (f", {int(threads)} threads)" if device == "cpu" and pd.notna(threads) else ")")
        parts.append(where + shared(group))
    return "; ".join(parts)


def shared(rows: pd.DataFrame) -> str:
    """What shared the runs' hardware (a GPU's other processes, a CPU's other work), for a
    hardware label; empty when they had it to themselves."""
    return shared_gpu(rows) + shared_cpu(rows)


SHARED_CPU_CORES = 0.2  # other processes' work, in cores' worth, above which a run's cores were shared


def shared_cpu(rows: pd.DataFrame) -> str:
    """", CPU shared: k of n runs, up to c cores' worth of other work" where other processes kept
    a run's cores busy (`cpu_others_busy_cores`): their timings are not the run's alone. Empty
    otherwise, and for rows that did not record it."""
    others = rows["cpu_others_busy_cores"].dropna() if "cpu_others_busy_cores" in rows else pd.Series(dtype=float)
    busy = others[others > SHARED_CPU_CORES]
    if busy.empty:
        return ""
    return f", CPU shared: {len(busy)} of {len(rows)} runs, up to {busy.max():.1f} cores' worth of other work"


def shared_gpu(rows: pd.DataFrame) -> str:
    """", GPU shared: k of n runs, up to m other processes" where NVML saw other compute processes on
    a run's GPU (`gpu_other_processes`): their speed is not the run's alone. Empty otherwise, and for
    rows that did not record it."""
    others = rows["gpu_other_processes"].dropna() if "gpu_other_processes" in rows else pd.Series(dtype=float)
    shared = others[others > 0]
    if shared.empty:
        return ""
    return f", GPU shared: {len(shared)} of {len(rows)} runs, up to {int(shared.max())} other processes"


def _caps(rows: pd.DataFrame) -> list[str]:
    return sorted({f"max_train_samples={'none' if pd.isna(t) else int(t)}, max_eval_samples="
                   f"{'none' if pd.isna(e) else int(e)}" for t, e in zip(rows["max_train_samples"], rows["max_eval_samples"])})


def _schedules(rows: pd.DataFrame) -> list[str]:
    return sorted({f"epochs={e:g}, batch={int(b)}, lr={lr:g}" for e, b, lr in
                   zip(rows["epochs"], rows["batch_size"], rows["lr"]) if pd.notna(b)})


def _span(values: pd.Series, fmt: str = "{:g}") -> str:
    values = values.dropna()
    if values.empty:
        return MISSING
    lo, hi = values.min(), values.max()
    return fmt.format(lo) if lo == hi else f"{fmt.format(lo)}–{fmt.format(hi)}"


def reproduction_header(rows: pd.DataFrame) -> list[str]:
    """One line each: model, hardware, precision, data caps, schedule and seeds of the rows a
    table is built from. Where caps or schedules differ between rows, the line gives their range
    and the full list is in the report's collapsed details (`run_settings`)."""
    if rows.empty:
        return ["Reproduced: no result rows yet (run a sweep, then rebuild the report)."]
    models = ", ".join(sorted(rows["model"].dropna().unique()))
    caps, schedule = _caps(rows), _schedules(rows)
    seeds = sorted({int(s) for s in rows["seed"].dropna()})
    random = " — includes random-init models (scores not meaningful)" if rows["random_init"].fillna(False).any() else ""
    caps_line = "; ".join(caps) if len(caps) <= 1 else (
        f"{len(caps)} settings, training examples capped at {_span(rows['max_train_samples'], '{:.0f}')}"
        f"{' or the full split' if rows['max_train_samples'].isna().any() else ''} (each in the run settings below)")
    schedule_line = (schedule[0] if len(schedule) == 1 else MISSING) if len(schedule) <= 1 else (
        f"{len(schedule)} settings: epochs {_span(rows['epochs'])}, batch {_span(rows['batch_size'], '{:.0f}')}, "
        f"lr {_span(rows['lr'])} (each in the run settings below)")
    lines = [f"Reproduced model(s): {models}{random}", f"Hardware: {hardware(rows)}",
             f"Precision: {', '.join(sorted(rows['precision'].dropna().unique())) or MISSING}",
             f"Data caps: {caps_line}", f"Schedule: {schedule_line}",
             f"Seeds: {', '.join(map(str, seeds))} ({len(seeds)} seed{'s' if len(seeds) != 1 else ''})"]
    commits = commit_span(rows)
    if commits:
        lines.append(f"Harness: {commits}")
    return lines


def commit_span(rows: pd.DataFrame) -> str | None:
    """'41 commits from a68161f to cd39075' (first and last by the rows' start times), never a list."""
    if "git_commit" not in rows or rows["git_commit"].dropna().empty:
        return None
    ordered = rows.dropna(subset=["git_commit"]).sort_values("timestamp_utc")["git_commit"].str[:7]
    first, last, n = ordered.iloc[0], ordered.iloc[-1], ordered.nunique()
    return f"commit {first}" if n == 1 else f"{n} commits from {first} to {last}"


def run_settings(rows: pd.DataFrame) -> list[str]:
    """Every data cap and schedule the rows ran with, when there is more than one (the header
    summarises them); shown collapsed."""
    caps, schedule = _caps(rows), _schedules(rows)
    return ([f"Data caps: {c}" for c in caps] if len(caps) > 1 else []) + \
        ([f"Schedule: {s}" for s in schedule] if len(schedule) > 1 else [])


def train_rows(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["mode"] == "train"]


def ok_train_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Training rows that finished (status ok)."""
    rows = train_rows(df)
    return rows[rows["status"] == "ok"]


def precision_on_device(rows: pd.DataFrame) -> pd.DataFrame:
    """Where the rows ran on more than one kind of device, each precision is named with its device
    ("bf16 on cuda"), so that every table and figure that keeps precisions apart keeps devices apart
    too: a GPU's runs are never one mean with a CPU's."""
    if "device" not in rows or rows["device"].nunique() < 2:
        return rows
    return rows.assign(precision=rows["precision"].astype(str) + " on " + rows["device"].fillna("unknown device"))
