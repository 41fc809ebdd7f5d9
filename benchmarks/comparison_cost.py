"""What the method comparison cost, and what would make it fit a wall-clock budget (an analysis of
recorded rows, not a test).

From the rows of both stages (`train.stage` lr_search and final) on one kind of device: the
training tokens they processed, the throughput per core they ran at, and the throughput a budget
of `--hours` on `--cores` cores would need. Then, from each run's recorded learning curve, what
stopping a run early would have saved: a run stops after `patience` epochs without a better dev
score, and the table counts the epochs saved and the runs whose best score that lowers by more
than half a point.

    python benchmarks/comparison_cost.py [--results results] [--device cpu] [--hours 3] [--cores 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.learning_curve import decode  # noqa: E402
from harness.record.store import load_results  # noqa: E402


def stopped_early(curve: list[float], patience: int) -> int:
    """Epochs a run would have trained had it stopped after `patience` epochs without a better score."""
    best, since = None, 0
    for epoch, score in enumerate(curve, start=1):
        if best is None or score > best:
            best, since = score, 0
        else:
            since += 1
            if since >= patience:
                return epoch
    return len(curve)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", default="results")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--hours", type=float, default=3.0)
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    rows = load_results(args.results)
    rows = rows[rows["stage"].isin(["lr_search", "final"]) & (rows["device"] == args.device)]
    ok = rows[rows["status"] == "ok"]
    tokens = float((ok["train_tokens_per_s"] * ok["train_wall_s"]).sum())
    per_core = tokens / float(ok["train_wall_s"].sum())
    hardware = ", ".join(sorted(ok["device_name"].dropna().unique()))
    if args.device == "cpu":  # bf16 is native (AVX512-BF16/AMX) or emulated, ~11x slower: say which
        native = sorted({bool(v) for v in ok["cpu_native_bf16"].dropna()})
        hardware += f", native bf16: {'/'.join('yes' if v else 'no' for v in native) or 'not recorded'}"
    print(f"{len(rows)} runs of both stages on {args.device} ({hardware}): {rows['run_wall_s'].sum() / 3600:.1f} "
          f"run-hours, {tokens / 1e6:.0f}M training tokens at {per_core:,.0f} tokens/s per run (one core each)")
    by_method = ok.groupby("method_label").apply(
        lambda g: (g["train_tokens_per_s"] * g["train_wall_s"]).sum() / g["train_wall_s"].sum())
    print(f"per method: {by_method.min():,.0f} ({by_method.idxmin()}) to {by_method.max():,.0f} ({by_method.idxmax()}) "
          "tokens/s")
    need = tokens / (args.hours * 3600 * args.cores)
    print(f"{args.hours:g} h on {args.cores} cores needs {need:,.0f} tokens/s per core: {need / per_core:.1f}x the "
          f"measured rate; at the measured rate the training alone takes {tokens / per_core / args.cores / 3600:.1f} h")
    curves = [[s for s in decode(c) if s is not None] for c in ok["eval_curve"]]
    curves = [c for c in curves if c]
    epochs = sum(len(c) for c in curves)
    for patience in (1, 2):
        kept = [stopped_early(c, patience) for c in curves]
        lowered = sum(max(c) - max(c[:k]) > 0.005 for c, k in zip(curves, kept))
        print(f"early stop, patience {patience}: {epochs - sum(kept)} of {epochs} epochs saved "
              f"({(epochs - sum(kept)) / epochs:.1%}); {lowered} of {len(curves)} runs' best score lowered by > 0.5 points")


if __name__ == "__main__":
    main()
