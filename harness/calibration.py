"""Fit the two GPU time constants that are fitted (profile.GPU_CONSTANTS: the large-matmul
efficiency `matmul_top` and the host's cost per kernel `launch_s`) on the published GPU
measurements marked `role=fit` that state a throughput, and check them out of sample, leaving
one source out at a time: each source's points are predicted with constants fitted on the
other sources only. peft's method_comparison rows (`role=held back`) are in no fit.

    python -m harness.calibration [--out harness/report/references/gpu_time_fit.csv]

The fit minimises the mean over sources of each source's median absolute log error of
tokens/s (every source counts once) over a grid (matmul_top 0.30-0.90
in steps of 0.04, launch_s 2-40 us). It prints the constants to write into profile.GPU_CONSTANTS and writes, per
point, the published tokens/s, the in-sample prediction (constants fitted on every fit point)
and the out-of-sample one (its own source left out), which the predicted-vs-published report
shows.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import shlex
import statistics
import sys
import time
from pathlib import Path

from harness.predict.published import REFERENCES, TASK, references

OUT = REFERENCES.parent / "gpu_time_fit.csv"
TOPS = tuple(round(0.30 + 0.04 * i, 2) for i in range(16))
LAUNCHES = tuple(round(x * 1e-6, 7) for x in (2, 3, 4, 6, 8, 10, 12, 15, 20, 25, 30, 40))


def published_tokens_per_s(ref: dict) -> float | None:
    if ref.get("tokens_per_s"):
        return float(ref["tokens_per_s"])
    if ref.get("examples_per_s"):
        return float(ref["examples_per_s"]) * float(ref["seq_len"])
    return None


def points(refs: list[dict]) -> list[dict]:
    """The fit points, each traced once: {ref, cfg, row, published}."""
    from harness.cli import compose_config
    from harness.predict.cell import comm_bytes_of, predict_cell

    out = []
    for ref in refs:
        published = published_tokens_per_s(ref)
        if ref.get("role") != "fit" or not published or ref.get("not_modelled"):
            continue
        t0 = time.perf_counter()
        cfg = compose_config(["mode=predict", TASK, *shlex.split(ref["overrides"])])
        row: dict = {}
        predict_cell(cfg, row)
        out.append({"ref": ref, "cfg": cfg, "row": row, "published": published, "comm": comm_bytes_of(cfg, row)})
        print(f"traced {ref['id']} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    return out


def _error(pts: list[dict], top: float, launch: float) -> float:
    """The mean over sources of each source's median absolute log error: every source counts
    once, however many points it publishes."""
    from harness.predict.cell import tokens_per_s_with

    by_source: dict[str, list[float]] = {}
    for p in pts:
        predicted = tokens_per_s_with(p["cfg"], p["row"], p["comm"], {"matmul_top": top, "launch_s": launch})
        by_source.setdefault(p["ref"]["source"], []).append(abs(math.log(predicted / p["published"])))
    return statistics.fmean(statistics.median(errors) for errors in by_source.values())


def fit(pts: list[dict]) -> tuple[float, float]:
    return min(itertools.product(TOPS, LAUNCHES), key=lambda c: _error(pts, *c))


def main(argv=None) -> int:
    from harness.predict.cell import tokens_per_s_with

    ap = argparse.ArgumentParser(prog="python -m harness.calibration", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    pts = points(references())
    sources = sorted({p["ref"]["source"] for p in pts})
    top, launch = fit(pts)
    print(f"fitted on {len(pts)} points from {len(sources)} sources: matmul_top={top}, launch_s={launch}")
    rows = []
    for source in sources:
        train = [p for p in pts if p["ref"]["source"] != source]
        fold = fit(train) if train else (top, launch)
        for p in (p for p in pts if p["ref"]["source"] == source):
            inside = tokens_per_s_with(p["cfg"], p["row"], p["comm"], {"matmul_top": top, "launch_s": launch})
            outside = tokens_per_s_with(p["cfg"], p["row"], p["comm"], {"matmul_top": fold[0], "launch_s": fold[1]})
            rows.append({"id": p["ref"]["id"], "source": source, "published_tokens_per_s": p["published"],
                         "in_sample_tokens_per_s": round(inside, 1), "out_of_sample_tokens_per_s": round(outside, 1),
                         "fold_matmul_top": fold[0], "fold_launch_s": fold[1], "fit_matmul_top": top,
                         "fit_launch_s": launch})
            print(f"{p['ref']['id']}: published {p['published']:.0f}, in-sample {inside:.0f}, "
                  f"out-of-sample {outside:.0f} (fold: {fold[0]}, {fold[1] * 1e6:.0f} us)", flush=True)
    with open(args.out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for name, key in (("in-sample", "in_sample_tokens_per_s"), ("out-of-sample", "out_of_sample_tokens_per_s")):
        errors = [r[key] / r["published_tokens_per_s"] - 1 for r in rows]
        print(f"{name}: median |error| {100 * statistics.median(abs(e) for e in errors):.1f} %, "
              f"worst {100 * max(errors, key=abs):+.1f} % ({len(errors)} points)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
