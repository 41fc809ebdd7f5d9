"""`python -m harness.compact [--results results/]`: merge the per-run files into one Parquet
file per sweep, without losing or duplicating a row.

Per-run files are what many writers produce without coordination; thousands of tiny files
are slow to read. Compaction writes `<results>/compact/sweep=<name>/part-<hash>.parquet`
atomically, then removes the per-run files it contains. A crash between the two steps leaves
a row in both places; the loader keeps one row per run_id, so nothing is ever counted twice.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
from pathlib import Path

import pandas as pd

from harness.record.store import RUNS_SUBDIR, read_table, write_frame

log = logging.getLogger(__name__)


def sweep_name(sweep_dir) -> str:
    return Path(sweep_dir).name if isinstance(sweep_dir, str) and sweep_dir else "single"


def compact(results_dir: str | Path) -> list[Path]:
    """Merge `<results>/runs/*.parquet` into per-sweep files; returns the files written."""
    results_dir = Path(results_dir)
    files = sorted((results_dir / RUNS_SUBDIR).glob("*.parquet"))
    frames, merged = [], []
    for path in files:
        try:
            frames.append(read_table(path))
            merged.append(path)
        except ValueError as exc:
            log.warning("left in place, unreadable: %s", exc)
    if not frames:
        return []
    rows = pd.concat(frames, ignore_index=True)
    written = []
    for name, group in rows.groupby(rows["sweep_dir"].map(sweep_name), sort=True):
        digest = hashlib.sha256("".join(sorted(group["run_id"])).encode()).hexdigest()[:12]
        written.append(write_frame(group, results_dir / "compact" / f"sweep={name}" / f"part-{digest}.parquet"))
    for path in merged:
        path.unlink()
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.compact", description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not args.results.is_dir():
        print(f"error: --results {args.results}: no such folder", file=sys.stderr)
        return 2
    for path in compact(args.results):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
