"""Figures (matplotlib, Agg): saved as PNG and SVG next to the reports; HTML inlines the PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
matplotlib.rcParams["svg.hashsalt"] = "peft-bench"  # stable element ids: same rows, same SVG bytes
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from harness.report.cells import ok_train_rows, precision_on_device  # noqa: E402
from harness.report.tables.glue_methods import budget_params  # noqa: E402
from harness.report.tables.memory_speed import memory_rows, peak_reading  # noqa: E402


def _save(fig, out_dir: Path, name: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / f"{name}.png"
    fig.savefig(png, dpi=110, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(out_dir / f"{name}.svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return png


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not beaten by any other with fewer (or equal) parameters and a higher score."""
    front, best = [], float("-inf")
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            front.append((x, y))
            best = y
    return front


def score_points(df: pd.DataFrame) -> tuple[list[tuple[str, float, float]], set[str], list[str]]:
    """(label, parameters, mean score in points) per method for score_vs_params, the tasks the
    mean is over and the models. The tuned runs once the lr_search stage has run
    (harness/lr_search.py), else every run. The parameters are the table's "# Params"
    (glue_methods.budget_params: trainable minus the task head; AdaLoRA's final budget)."""
    from harness.lr_search import compared_rows

    rows = ok_train_rows(df)
    rows = rows[rows["task"].fillna("").str.startswith("glue/")
                & ~rows["random_init"].fillna(False).astype(bool) & rows["score"].notna()
                & rows["params_trainable"].notna()]
    rows = compared_rows(precision_on_device(rows))
    if rows.empty:
        return [], set(), []
    # average over the tasks every method has, so methods run on fewer tasks stay comparable
    groups = rows.groupby(["model", "method_label", "precision"])
    several = rows["precision"].nunique() > 1
    common = set.intersection(*(set(g["task"]) for _, g in groups)) or set(rows["task"])
    points = []
    for (model, label, precision), g in groups:
        label = f"{label}, {precision}" if several else label
        y = float(100 * g[g["task"].isin(common)].groupby("task")["score"].mean().mean())
        points.append((label, budget_params(g), y))
    return points, common, sorted(rows["model"].unique())


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Whether two (left, bottom, right, top) boxes overlap."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def label_offsets(ax, points: list[tuple[str, float, float]], line_pt: float = 9.0) -> list[tuple[float, float]]:
    """Text offsets (points) for the points' labels: above right of the point, else below right,
    above left or below left, whichever first overprints no label already placed (two methods
    close in parameters and score, e.g. LoRA r=8 and Houlsby at the AdaLoRA table's budgets);
    above right when none is free."""
    ax.get_xlim(), ax.get_ylim()  # settle the autoscaled view the data transform maps through
    to_pt = 72.0 / ax.figure.dpi
    placed, offsets = [], []  # label boxes in points: (left, bottom, right, top)
    for label, x, y in points:
        px, py = (v * to_pt for v in ax.transData.transform((x, y)))
        width = 4.6 * len(label)  # 8-pt text: about 4.6 points a character
        candidates = [(4.0, 3.0), (4.0, -3.0 - line_pt), (-4.0 - width, 3.0), (-4.0 - width, -3.0 - line_pt)]
        boxes = [(px + dx, py + dy, px + dx + width, py + dy + line_pt) for dx, dy in candidates]
        pick = next((i for i, a in enumerate(boxes) if not any(_overlap(a, b) for b in placed)), 0)
        placed.append(boxes[pick])
        offsets.append(candidates[pick])
    return offsets


def score_vs_params(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Mean GLUE score against trainable parameters per method, with the Pareto front."""
    points, common, models = score_points(df)
    if not points:
        return []
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for label, x, y in points:
        ax.scatter([x], [y], s=40)
    ax.set_xscale("log")
    for (label, x, y), (dx, dy) in zip(points, label_offsets(ax, points)):
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=8)
    front = pareto_front([(x, y) for _, x, y in points])
    ax.plot([p[0] for p in front], [p[1] for p in front], "k--", lw=1, label="Pareto front")
    ax.set_xlabel("trainable parameters (task head excluded; AdaLoRA: final budget; log scale)")
    names = ", ".join(sorted(t.split("/")[-1].upper() for t in common))
    ax.set_ylabel(f"mean score over {names} (points)" if len(common) < 5 else "mean task score (points)")
    ax.set_title(f"Score vs trainable parameters — {', '.join(models)}")
    ax.legend(fontsize=8)
    return [_save(fig, out_dir, "score_vs_params")]


def memory_vs_batch(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    rows = memory_rows(df)
    rows = rows[rows["status"] == "ok"]
    if rows.empty:
        return []
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    reading = ""
    for (model, label, precision), g in rows.groupby(["model", "method_label", "precision"]):
        pts = sorted((int(r["batch_size"]), peak_reading(r)[0]) for _, r in g.iterrows() if peak_reading(r)[0])
        if not pts:
            continue
        reading = peak_reading(g.iloc[0])[1]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{model} · {label} · {precision}")
    ax.set_xlabel("batch size")
    ax.set_ylabel(f"peak memory (GB, {reading})")
    ax.set_title("Peak memory vs batch size")
    ax.legend(fontsize=7)
    return [_save(fig, out_dir, "memory_vs_batch")]


def throughput_bars(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    rows = ok_train_rows(df)
    if rows.empty:
        return []
    by_method = rows.groupby("method_label")["train_examples_per_s"].median().sort_values()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.barh(by_method.index, by_method.values)
    if "full_ft" in by_method.index:
        ax.axvline(by_method["full_ft"], color="k", ls="--", lw=1, label="full FT")
        ax.legend(fontsize=8)
    ax.set_xlabel("training examples/s (steady state, median over cells)")
    ax.set_title("Throughput per method")
    return [_save(fig, out_dir, "throughput")]


def learning_curves(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Dev score after each epoch, one panel per GLUE task, one line per method (seed 1, or the
    lowest seed a method ran; at the chosen learning rate once the lr_search stage has run);
    dashed where the run had not levelled off (`plateaued` false)."""
    from harness.learning_curve import decode
    from harness.lr_search import compared_rows

    rows = ok_train_rows(df)
    rows = rows[rows["task"].fillna("").str.startswith("glue/") & rows["eval_curve"].notna()
                & ~rows["random_init"].fillna(False).astype(bool)]
    rows = rows[rows["eval_curve"].map(lambda c: len(decode(c)) > 1)]
    rows = compared_rows(precision_on_device(rows))
    if rows.empty:
        return []
    if rows["precision"].nunique() > 1:  # one line per method and setting, never one across them
        rows = rows.assign(method_label=rows["method_label"] + ", " + rows["precision"])
    tasks = sorted(rows["task"].unique())
    # one colour and marker per method in every panel, also where a method ran on some tasks only
    labels = sorted(rows["method_label"].dropna().unique())
    palette = plt.get_cmap("tab20").colors
    style = {label: (palette[i % len(palette)], "osD^v"[i // len(palette) % 5]) for i, label in enumerate(labels)}
    legend_in = 0.5 + 0.055 * max(len(label) for label in labels)  # room for the legend at fontsize 7
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks) + legend_in, 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for label, g in rows[rows["task"] == task].groupby("method_label", sort=True):
            r = g.sort_values("seed").iloc[0]
            curve = [None if v is None else 100 * v for v in decode(r["eval_curve"])]
            color, marker = style[label]
            ax.plot(range(1, len(curve) + 1), curve, marker=marker, ms=3, color=color,
                    ls="--" if r["plateaued"] is False else "-")
        ax.set_title(task.split("/")[1].upper())
        ax.set_xlabel("epoch")
        ax.set_ylabel("dev score")
        ax.xaxis.get_major_locator().set_params(integer=True)
    handles = [plt.Line2D([], [], color=c, marker=m, ms=3, label=label) for label, (c, m) in style.items()]
    handles += [plt.Line2D([], [], color="grey", ls="--", label="not plateaued")]
    fig.legend(handles=handles, fontsize=7, loc="center right")
    fig.subplots_adjust(right=1 - legend_in / fig.get_figwidth(), wspace=0.3)
    return [_save(fig, out_dir, "learning_curves")]


def learning_vs_forgetting(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Each instruction run on a real decoder as a point: what it learned (held-out answer-loss fall)
    against what it forgot (general-text loss rise), one colour per method, one marker per model,
    one point per seed; Biderman et al. (2024) plot the same trade-off."""
    from harness.report.instruct_comparison import method_name, pretrained_rows, with_learning

    rows = with_learning(pretrained_rows(df))
    if rows.empty:
        return []
    rows = rows.assign(method_name=rows.apply(lambda r: f"{method_name(r)} lr={r['lr']:g}", axis=1))
    fig, ax = plt.subplots(figsize=(8.6, 4.2))
    colors = plt.get_cmap("tab10")
    markers = dict(zip(sorted(rows["model"].unique()), "osD^v"))
    # a run that made the held-out answers worse than the untrained model diverged: it is named in a
    # note instead of stretching the axes that the runs which learned share
    diverged = rows[rows["learned_loss"] < 0]
    for k, (label, g) in enumerate(rows.groupby("method_name", sort=True)):
        for model, gm in g[g["learned_loss"] >= 0].groupby("model"):
            ax.scatter(gm["learned_loss"], gm["forgetting_loss_delta"], color=colors(k % 10), marker=markers[model],
                       s=36, label=f"{label} · {model}", alpha=0.85)
    ax.axhline(0, color="grey", lw=0.6)
    if not diverged.empty:
        ax.text(0.02, 0.98, "off the chart (diverged):\n" + "\n".join(
            f"{r['method_name']} · {r['model']}: learned {r['learned_loss']:+.2f}, forgot {r['forgetting_loss_delta']:+.2f}"
            for _, r in diverged.iterrows()), transform=ax.transAxes, va="top", fontsize=7, color="dimgrey")
    ax.set_xlabel("learned: held-out GSM8K answer-loss fall (nats/token) →")
    ax.set_ylabel("forgot: Wikipedia-text loss rise (nats/token) →")
    ax.set_title("Learning vs forgetting (one point per seed)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return [_save(fig, out_dir, "learning_vs_forgetting")]


FIGURES = {"belle_lora_vs_ft": [learning_vs_forgetting], "glue_methods": [score_vs_params, learning_curves], "memory_speed": [memory_vs_batch],
           "method_properties": [throughput_bars]}
