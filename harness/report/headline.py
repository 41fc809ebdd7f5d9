"""The README's headline table, generated from the committed rows (the scaled-down BELLE
comparison on real decoders), between two markers; `python -m harness.report --readme README.md`
rewrites it and a test checks that the README's copy matches the rows."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from harness.report import instruct_comparison as comparison
from harness.report.cells import hardware, plus_minus

START, END = "<!-- headline:start -->", "<!-- headline:end -->"


def table(df: pd.DataFrame) -> str:
    summ, base = comparison.summary(df), comparison.baselines(df)
    if summ.empty:
        return "No instruction rows yet: `python -m harness +sweep=belle_real` (docs/instruction_track.md)."
    lines = ["| Model | Method | lr | Seeds | GSM8K exact match (%) | Held-out answer loss | Forgetting (Δ Wikipedia loss) "
             "| Trainable % | Train examples/s |", "|---|---|---|---|---|---|---|---|---|"]
    for _, b in base.iterrows():
        untrained = "untrained" + (f", {b['precision']}" if b["precision"] != "fp32" else "")
        lines.append(f"| {b['model']} | {untrained} | — | — | {100 * b['score']:.1f} | {b['eval_answer_loss']:.3f} | — | 0 | — |")
    for _, r in summ.iterrows():
        lines.append(f"| {r['model']} | {r['method_name']} | {r['lr']:g} | {int(r['seeds'])} | {plus_minus(100 * r['score_mean'], 100 * r['score_std'], 1)} "
                     f"| {plus_minus(r['eval_answer_loss_mean'], r['eval_answer_loss_std'], 3)} "
                     f"| {plus_minus(r['forgetting_loss_delta_mean'], r['forgetting_loss_delta_std'], 3, sign=True)} "
                     f"| {r['pct_trainable']:.3g} | {r['train_examples_per_s_mean']:.2f} |")
    rows = pd.concat(list(summ["hardware_rows"]))
    spent = (rows["run_wall_s"].sum() + base["run_wall_s"].sum()) / 60
    lines += ["", f"Measured on {hardware(rows)}, fp32 (QLoRA: int4); mean ± sd over seeds; loss in nats/token "
                  f"(lower is better); forgetting > 0 means the general-text loss rose. The {len(rows) + len(base)} "
                  f"runs took {spent:.0f} min of run time."]
    return "\n".join(lines)


def update_readme(path: Path, df: pd.DataFrame) -> bool:
    """Rewrite the block between the markers; True if the file changed."""
    text = path.read_text()
    new = re.sub(f"{re.escape(START)}.*?{re.escape(END)}", lambda _: f"{START}\n{table(df)}\n{END}", text, flags=re.S)
    if new != text:
        path.write_text(new)
    return new != text


def readme_block(text: str) -> str | None:
    found = re.search(f"{re.escape(START)}\n(.*?)\n{re.escape(END)}", text, flags=re.S)
    return found.group(1) if found else None
