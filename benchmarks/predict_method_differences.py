"""Predicted step time of one model, batch and GPU across methods: the per-op model tells
methods apart where their ops differ (DoRA's weight norms, AdaLoRA's SVD-form products, LN
tuning's backward that stops at the norms). Prints one line per method with the step's split
by op class.

    python benchmarks/predict_method_differences.py [--gpu H100] [--model llama_7b] [--batch 4] [--seq 512]
        | tee benchmarks/results/predict_method_differences.txt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

METHODS = ("lora", "dora", "adalora", "vera", "ia3", "prefix_tuning", "ln_tuning", "full_ft")


def main(argv=None) -> int:
    from harness.cli import compose_config
    from harness.predict.cell import predict_cell

    ap = argparse.ArgumentParser()
    ap.add_argument("--gpu", default="H100")
    ap.add_argument("--model", default="llama_7b")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=512)
    args = ap.parse_args(argv)
    print(f"predicted (not measured): {args.model}, bf16, batch {args.batch} x {args.seq}, one {args.gpu}")
    base = None
    for method in METHODS:
        cfg = compose_config(["mode=predict", "task=instruct/alpaca_belle", f"model={args.model}", f"method={method}",
                              "precision=bf16", f"train.batch_size={args.batch}", f"predict.seq_len={args.seq}",
                              f"predict.gpu={args.gpu}"])
        row: dict = {}
        predict_cell(cfg, row)
        tps = row["predicted_train_tokens_per_s"]
        base = base or tps
        split = ", ".join(f"{c} {1e3 * row[f'predicted_{c}_s']:.0f}" for c in
                          ("matmul", "attention", "elementwise", "copy", "optimizer"))
        print(f"{method}: {tps:,.0f} tokens/s ({100 * (tps / base - 1):+.0f} % vs LoRA), step "
              f"{1e3 * row['predicted_step_s']:.0f} ms ({split} ms; host-bound {1e3 * row['predicted_host_bound_s']:.0f} "
              f"ms), {row['predicted_mem_total_bytes'] / 1e9:.1f} GB allocated", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
