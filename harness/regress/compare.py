"""Baseline vs current, cell by cell. A pure function of two DataFrames and the rules.

Rows are matched by the run's identity (model, method and its arguments, task, precision,
batch size, max length, seed, caps...), never by run id or time. Several ok rows of one config
hash are one run recorded twice, not repeats: the comparison warns and keeps the newest. Other
rows with the same identity (repeats) are averaged; when both sides have repeats, a difference inside twice
the pooled standard deviation is reported as within noise and does not fail.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import pandas as pd

from harness.record import integrity
from harness.record.schema import IDENTITY_COLUMNS, SEMANTICS_VERSION
from harness.record.store import current_semantics
from harness.regress.rules import Rules


@dataclass
class Cell:
    run: str
    column: str
    baseline: float | None
    current: float | None
    delta: float | None
    verdict: str            # ok | regression | improvement | within_noise
    note: str = ""


@dataclass
class Comparison:
    cells: list[Cell] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)   # in the baseline, not in current
    stale: list[str] = field(default_factory=list)     # baseline rows an older harness wrote: not comparable
    new: list[str] = field(default_factory=list)       # in current, not in the baseline
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.regressions or self.stale)

    @property
    def regressions(self) -> list[Cell]:
        return [c for c in self.cells if c.verdict == "regression"]

    @property
    def improvements(self) -> list[Cell]:
        return [c for c in self.cells if c.verdict == "improvement"]

    def to_dict(self) -> dict:
        return {"regressed": bool(self.regressions), "stale_baseline": self.stale, "warnings": self.warnings,
                "regressions": [asdict(c) for c in self.regressions],
                "improvements": [asdict(c) for c in self.improvements], "missing": self.missing, "new": self.new,
                "cells": [asdict(c) for c in self.cells]}


def _key(row) -> tuple:
    return tuple("" if pd.isna(row[c]) else str(row[c]) for c in IDENTITY_COLUMNS)


def _label(identity: dict) -> str:
    parts = [identity["model"], identity["method"], identity["task"], identity["precision"],
             f"bs={identity['batch_size']}", f"seed={identity['seed']}", identity["mode"]]
    args = identity.get("method_args")
    return " ".join(str(p) for p in parts) + (f" {args}" if args and args != "{}" else "")


def _groups(df: pd.DataFrame) -> dict[tuple, pd.DataFrame]:
    return {k: g for k, g in df.groupby(df.apply(_key, axis=1), sort=True)} if not df.empty else {}


def compare(baseline: pd.DataFrame, current: pd.DataFrame, rules: Rules, include_predicted: bool = False) -> Comparison:
    """Cells of current rows against the baseline's. Rows whose numbers meant something else when
    written (an older `semantics_version`) are never compared: a stale baseline fails the check,
    stale current rows are left out with a warning. Predictions (`mode=predict`) are not
    measurements and are left out unless `include_predicted`."""
    out = Comparison()
    if not include_predicted:
        for side, frame in (("baseline", baseline), ("current", current)):
            predicted = int((frame["mode"] == "predict").sum())
            if predicted:
                out.warnings.append(f"{side}: {predicted} predicted row(s) (mode=predict) left out "
                                    f"(--include-predicted compares them)")
        baseline, current = baseline[baseline["mode"] != "predict"], current[current["mode"] != "predict"]
    baseline, stale_baseline = current_semantics(baseline)
    current, stale_current = current_semantics(current)
    out.stale = [f"{_label(dict(zip(IDENTITY_COLUMNS, _key(row))))} (semantics v{int(row['semantics_version'])})"
                 for _, row in stale_baseline.iterrows()]
    if not stale_current.empty:
        out.warnings.append(f"current: {len(stale_current)} row(s) of an older harness's semantics left out")
    for side, frame in (("baseline", baseline), ("current", current)):
        duplicates = integrity.duplicated_ok_configs(frame)
        if duplicates:
            out.warnings.append(f"{side}: {integrity.describe(duplicates)}")
    baseline, current = integrity.newest_ok_per_config(baseline), integrity.newest_ok_per_config(current)
    devices_b = set(baseline["device_name"].dropna())
    devices_c = set(current["device_name"].dropna())
    if devices_b and devices_c and devices_b != devices_c:
        out.warnings.append(f"baseline measured on {sorted(devices_b)}, current on {sorted(devices_c)}: memory and "
                            f"throughput are only comparable on like hardware")
    base_groups, cur_groups = _groups(baseline), _groups(current)
    for key, base in base_groups.items():
        identity = dict(zip(IDENTITY_COLUMNS, key))
        label = _label(identity)
        if key not in cur_groups:
            out.missing.append(label)
            continue
        cur = cur_groups[key]
        cur_ok = cur[cur["status"] == "ok"]
        if cur_ok.empty:
            statuses = ", ".join(sorted(set(cur["status"])))
            out.cells.append(Cell(label, "status", None, None, None, "regression",
                                  f"baseline ok, current {statuses}: {cur['error'].dropna().iloc[0] if cur['error'].notna().any() else ''}"))
            continue
        for column, rule in rules.for_row(identity).items():
            b, c = base[column].dropna().astype(float), cur_ok[column].dropna().astype(float)
            if b.empty or c.empty:
                continue
            bm, cm = float(b.mean()), float(c.mean())
            verdict, note = rule.verdict(bm, cm), ""
            if verdict == "regression" and len(b) > 1 and len(c) > 1:
                pooled = math.sqrt((b.var(ddof=1) + c.var(ddof=1)) / 2)
                if abs(cm - bm) <= 2 * pooled:
                    verdict, note = "within_noise", f"|Δ| ≤ 2 × pooled std ({pooled:.4g}); n={len(b)}/{len(c)}"
            elif len(b) > 1 or len(c) > 1:
                note = f"means of n={len(b)}/{len(c)}"
            out.cells.append(Cell(label, column, bm, cm, cm - bm, verdict, note))
    out.new = [_label(dict(zip(IDENTITY_COLUMNS, k))) for k in cur_groups if k not in base_groups]
    return out


def _fmt(x) -> str:
    if x is None:
        return "—"
    return f"{x:.6g}"


def to_markdown(cmp: Comparison, baseline_path: str, current_path: str) -> str:
    lines = [f"# Regression check: {current_path} vs {baseline_path}", ""]
    lines += [f"> WARNING: {w}" for w in cmp.warnings] + ([""] if cmp.warnings else [])
    verdict = f"FAIL: {len(cmp.regressions)} regression(s)" if cmp.regressions else "PASS: no regressions"
    if cmp.stale:
        verdict = (f"FAIL: {len(cmp.stale)} baseline row(s) written by an older harness whose numbers meant something "
                   f"else (semantics < v{SEMANTICS_VERSION}); re-record the baseline (--update)")
    lines += [f"**{verdict}**; {len(cmp.improvements)} improvement(s), {len(cmp.missing)} missing row(s), "
              f"{len(cmp.new)} new row(s), {len(cmp.cells)} compared cell(s).", ""]

    def table(title, cells):
        out = [f"## {title}", ""]
        if not cells:
            return out + ["none", ""]
        out += ["| run | column | baseline | current | delta | verdict | note |", "|---|---|---|---|---|---|---|"]
        out += [f"| {c.run} | {c.column} | {_fmt(c.baseline)} | {_fmt(c.current)} | {_fmt(c.delta)} | {c.verdict} | "
                f"{c.note} |" for c in cells]
        return out + [""]

    if cmp.stale:
        lines += ["## Stale baseline rows (not compared)", ""] + [f"- {m}" for m in cmp.stale] + [""]
    lines += table("Regressions", cmp.regressions)
    lines += table("Improvements", cmp.improvements)
    lines += ["## Missing rows (in the baseline, not in current)", ""] + ([f"- {m}" for m in cmp.missing] or ["none"]) + [""]
    lines += ["## New rows (in current, not in the baseline)", ""] + ([f"- {m}" for m in cmp.new] or ["none"]) + [""]
    lines += table("All compared cells", cmp.cells)
    return "\n".join(lines)
