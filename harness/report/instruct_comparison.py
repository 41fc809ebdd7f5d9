"""The instruction-tuning comparison on real decoders (conf/sweep/belle_real*.yaml) as one tidy
frame: per (model, method, precision), the seeds' task score, held-out answer loss, what was
learned and what was forgotten, cost, and the untrained model it started from.

Learning is the fall of the held-out answers' mean token loss against the untrained model's on
the same subset (nats/token, > 0 = learned); forgetting is the rise of the loss on held-out
general text over training (`forgetting_loss_delta`, > 0 = forgot). Biderman et al. (2024) plot
the same two axes ("LoRA Learns Less and Forgets Less", their learning-forgetting figure), with
target-domain and source-domain scores.
"""

from __future__ import annotations

import pandas as pd

from harness.report.cells import plus_minus

TASK = "instruct/gsm8k"
# the published finding the rows are set beside (Biderman et al. 2024, abstract)
PUBLISHED_FINDING = ("Biderman et al. (2024), \"LoRA Learns Less and Forgets Less\" (Llama-2-7B, code and math): "
                     "LoRA substantially underperforms full fine-tuning on the target domain, and better maintains "
                     "the base model's performance outside it")


def pretrained_rows(df: pd.DataFrame) -> pd.DataFrame:
    """ok rows of the comparison's task on pretrained weights: trained runs and untrained baselines."""
    if df.empty or "eval_answer_loss" not in df:
        return df.iloc[0:0]
    rows = df[(df["task"] == TASK) & (df["status"] == "ok") & df["mode"].isin(["train", "eval"])
              & ~df["random_init"].fillna(False).astype(bool) & df["eval_answer_loss"].notna()]
    return rows


# what makes an untrained row the baseline of a trained one
BASELINE_KEYS = ["model", "precision", "max_eval_samples", "max_seq_length"]


def _untrained(rows: pd.DataFrame) -> pd.DataFrame:
    """The newest untrained (mode=eval) row per baseline setting."""
    return rows[rows["mode"] == "eval"].sort_values("timestamp_utc").drop_duplicates(BASELINE_KEYS, keep="last")


def with_learning(rows: pd.DataFrame) -> pd.DataFrame:
    """Trained rows with `baseline_answer_loss` (the untrained model's: same model, precision, eval
    subset and sequence length, so QLoRA is measured against the int4-quantised model it starts
    from) and `learned_loss` = baseline - trained answer loss; rows without a baseline are left out."""
    base = _untrained(rows)[BASELINE_KEYS + ["eval_answer_loss", "score"]].rename(
        columns={"eval_answer_loss": "baseline_answer_loss", "score": "baseline_score"})
    trained = rows[rows["mode"] == "train"].merge(base, on=BASELINE_KEYS, how="inner")
    trained["learned_loss"] = trained["baseline_answer_loss"] - trained["eval_answer_loss"]
    return trained


def method_name(row) -> str:
    """The method as the BELLE table names it: QLoRA is LoRA over an int4 base."""
    label = row["method_label"]
    return f"QLoRA ({label}, int4)" if row["precision"] == "int4" else label


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, method, learning rate): seeds and each quantity's mean and sample std (ddof=1)."""
    trained = with_learning(pretrained_rows(df))
    if trained.empty:
        return pd.DataFrame()
    trained = trained.assign(method_name=trained.apply(method_name, axis=1))
    out = []
    for (model, method, lr), g in trained.groupby(["model", "method_name", "lr"], sort=True):
        rec = {"model": model, "method_name": method, "lr": lr, "method": g["method"].iloc[0], "seeds": len(g),
               "params_added": g["params_added"].iloc[0], "params_trainable": g["params_trainable"].iloc[0],
               "pct_trainable": g["pct_trainable"].iloc[0], "baseline_answer_loss": g["baseline_answer_loss"].iloc[0],
               "baseline_score": g["baseline_score"].iloc[0],
               "hardware_rows": g}
        for col in ("score", "eval_answer_loss", "learned_loss", "forgetting_loss_delta", "train_hours_per_epoch",
                    "train_examples_per_s", "run_wall_s"):
            values = g[col].astype(float)
            rec[f"{col}_mean"], rec[f"{col}_std"] = values.mean(), (values.std(ddof=1) if len(values) > 1 else float("nan"))
        out.append(rec)
    return pd.DataFrame(out)


def baselines(df: pd.DataFrame) -> pd.DataFrame:
    return _untrained(pretrained_rows(df))


def _beats(summ: pd.DataFrame, model: str, method: str) -> str | None:
    hit = summ[(summ["model"] == model) & (summ["method"] == method)]
    hit = hit[~hit["method_name"].str.startswith("QLoRA")]
    if hit.empty:
        return None
    r = hit.iloc[0]
    spread = 0.0 if pd.isna(r["learned_loss_std"]) else r["learned_loss_std"]
    verdict = "beats" if r["learned_loss_mean"] > spread else "does not beat"
    return (f"{r['method_name']} {verdict} the untrained model on held-out answer loss: "
            f"{r['eval_answer_loss_mean']:.3f} against {r['baseline_answer_loss']:.3f} nats/token, a fall of "
            f"{r['learned_loss_mean']:.3f} with a seed spread (sd, {int(r['seeds'])} seeds) of {spread:.3f}")


def _moved(delta: float, sd: float, seeds: int) -> str:
    spread = f"sd {sd:.4f} over {seeds} seeds" if seeds > 1 and not pd.isna(sd) else "1 seed"
    return f"{'rose' if delta > 0 else 'fell'} by {abs(delta):.4f} nats/token ({spread})"


def claims(summ: pd.DataFrame) -> list[str]:
    """What the rows say about the seed survey's two claims and the published finding, one sentence
    each, computed from the rows (never written by hand)."""
    if summ.empty:
        return []
    lines = []
    for model in sorted(summ["model"].unique()):
        for method in ("lora", "full_ft"):
            line = _beats(summ, model, method)
            if line:
                lines.append(f"{model}: {line}.")
        s = summ[summ["model"] == model]
        full = s[s["method"] == "full_ft"]
        peft = s[(s["method"] != "full_ft")]
        if full.empty or peft.empty:
            continue
        f = full.iloc[0]
        f_sd = 0.0 if pd.isna(f["forgetting_loss_delta_std"]) else f["forgetting_loss_delta_std"]
        less = [r for _, r in peft.iterrows() if r["forgetting_loss_delta_mean"] < f["forgetting_loss_delta_mean"] - f_sd]
        verdict = "supported" if len(less) == len(peft) else "partly supported" if less else "not supported"
        if f["forgetting_loss_delta_mean"] <= 0:
            verdict += (" (full fine-tuning did not forget here: there was no catastrophic forgetting for PEFT "
                        "to mitigate)")
        lines.append(
            f"{model}, \"PEFT mitigates catastrophic forgetting\": over training, the held-out Wikipedia loss of "
            f"full fine-tuning {_moved(f['forgetting_loss_delta_mean'], f_sd, int(f['seeds']))}; "
            + "; ".join(f"{r['method_name']} {_moved(r['forgetting_loss_delta_mean'], r['forgetting_loss_delta_std'], int(r['seeds']))}"
                        for _, r in peft.iterrows())
            + f". {len(less)} of {len(peft)} PEFT methods ended lower than full fine-tuning by more than its seed "
              f"spread: {verdict} by these rows.")
        lora = peft[peft["method"] == "lora"]
        lora = lora[~lora["method_name"].str.startswith("QLoRA")]
        if not lora.empty:
            r = lora.iloc[0]
            learned = "less" if r["learned_loss_mean"] < f["learned_loss_mean"] else "more"
            kept = ("kept the general text closer to the untrained model"
                    if abs(r["forgetting_loss_delta_mean"]) < abs(f["forgetting_loss_delta_mean"])
                    else "moved the general text further from the untrained model")
            lines.append(
                f"{model}, \"changes style, not knowledge\": LoRA lowered the GSM8K answer loss by "
                f"{r['learned_loss_mean']:.3f} nats/token (the answers' format and phrasing) and changed GSM8K exact "
                f"match from {100 * r['baseline_score']:.1f} % to {100 * r['score_mean']:.1f} % (solving; "
                f"{int(r['hardware_rows']['eval_examples'].iloc[0])} problems, so one problem is "
                f"{100 / r['hardware_rows']['eval_examples'].iloc[0]:.1f} points), while its Wikipedia-text loss "
                f"(stored knowledge) {_moved(r['forgetting_loss_delta_mean'], r['forgetting_loss_delta_std'], int(r['seeds']))}; "
                f"full fine-tuning: {f['learned_loss_mean']:.3f}, {100 * f['score_mean']:.1f} %, "
                f"{f['forgetting_loss_delta_mean']:+.4f}. LoRA learned {learned} than full fine-tuning and {kept}; "
                f"published: {PUBLISHED_FINDING}.")
    return lines


def headline(summ: pd.DataFrame) -> str | None:
    """One sentence: LoRA against full fine-tuning on the real decoder where both ran the most
    seeds, the smallest such model first (full fine-tuning's trainable parameters are the model's)."""
    best = None
    for model in summ["model"].unique() if not summ.empty else []:
        s = summ[(summ["model"] == model) & ~summ["method_name"].str.startswith("QLoRA")]
        lora, ft = s[s["method"] == "lora"], s[s["method"] == "full_ft"]
        if lora.empty or ft.empty:
            continue
        lo, f = lora.loc[lora["seeds"].idxmax()], ft.loc[ft["seeds"].idxmax()]
        key = (-min(lo["seeds"], f["seeds"]), f["params_trainable"])
        if best is None or key < best[0]:
            best = (key, model, lo, f)
    if best is None:
        return None
    _, model, lo, ft = best
    seeds = int(min(lo["seeds"], ft["seeds"]))
    return (f"On {model}, {lo['method_name']} lowered the held-out GSM8K answer loss by "
            f"{plus_minus(lo['learned_loss_mean'], lo['learned_loss_std'])} nats/token and full fine-tuning by "
            f"{plus_minus(ft['learned_loss_mean'], ft['learned_loss_std'])}"
            f"{f' ({seeds} seeds each)' if seeds > 1 else ''}, training {lo['pct_trainable']:.2g} % of the "
            f"parameters at {lo['train_examples_per_s_mean']:.2f} against {ft['train_examples_per_s_mean']:.2f} "
            f"examples/s.")
