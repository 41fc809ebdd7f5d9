"""Predict every published GPU measurement the project carries
(harness/report/references/gpu_training_measurements.csv), one `mode=predict` cell each, into
the results folder; `python -m harness.report --table predicted_vs_published` then sets each
prediction beside the published figure.

    python -m harness.predict.published [--results results] [--only ID ...] [--parallel 2] [--force]

Each row's `overrides` are the harness settings that express the published setting (model
shape, method, rank and targets, precision, batch, sequence length, checkpointing, attention,
GPU); cells already predicted (an ok row of the same config) are skipped, as in any sweep.
"""

from __future__ import annotations

import argparse
import csv
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REFERENCES = Path(__file__).resolve().parents[1] / "report" / "references" / "gpu_training_measurements.csv"
REPO = Path(__file__).resolve().parents[2]
TASK = "task=instruct/alpaca_belle"  # a causal-LM task: the tables measure instruction tuning


def references(path: Path = REFERENCES) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def command(row: dict, results: Path, force: bool = False) -> list[str]:
    return [sys.executable, "-m", "harness", "mode=predict", TASK, *shlex.split(row["overrides"]),
            f"predict.reference={row['id']}", f"results_dir={results}", *(["force=true"] if force else [])]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.predict.published", description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=Path("results"))
    ap.add_argument("--only", nargs="*", help="reference ids (default: all)")
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--force", action="store_true", help="predict again (after the prediction code changed)")
    args = ap.parse_args(argv)
    rows = [r for r in references() if not args.only or r["id"] in args.only]
    start, done = time.time(), []

    def run(row):
        proc = subprocess.run(command(row, args.results, args.force), cwd=REPO, capture_output=True, text=True)
        done.append(row["id"])
        status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"
        print(f"[{len(done)}/{len(rows)}, {time.time() - start:.0f} s] {row['id']}: {status}", flush=True)
        return proc.returncode

    with ThreadPoolExecutor(args.parallel) as pool:
        codes = list(pool.map(run, rows))
    return 0 if not any(codes) else 1


if __name__ == "__main__":
    sys.exit(main())
