"""One cell, whatever its mode, as one row: `run_cell` dispatches to the mode's function and
turns any failure into the row's status; `python -m harness.cell SPEC.json` is its child-process
entry.

The parent (harness.launch) writes the resolved config and the run's identity to SPEC.json;
this process runs the cell and writes its row. Its own process means its own memory peak,
and a crash here cannot take the sweep down. Predictions run in the parent (they measure
nothing of the process) through the same `run_cell`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

from omegaconf import OmegaConf

log = logging.getLogger(__name__)


def _mode(name: str):
    """The function that fills a row in mode `name` (imported here: each mode's modules are heavy)."""
    if name == "predict":
        from harness.predict.cell import predict_cell
        return predict_cell
    if name == "count":
        from harness.cell_setup import count_only
        return count_only
    from harness import run
    return run.evaluate_untrained if name == "eval" else run.train_and_measure


def _predict_training_row(cfg, row: dict) -> None:
    """The predictor's memory and time for the device the row ran on (never fails the row)."""
    from harness.predict.cell import training_prediction

    try:
        training_prediction(cfg, row)
    except Exception as exc:  # a prediction the predictor cannot make leaves its columns null
        log.warning("no prediction for this row: %s: %s", type(exc).__name__, str(exc).splitlines()[0][:200])


def run_cell(cfg, spec: dict) -> dict:
    """Run one cell; always returns a row (status ok or the failure's status)."""
    from harness.errors import HarnessError, status_of
    from harness.measure.memory import peak_rss_bytes
    from harness.record.environment import environment_columns
    from harness.record.identity import identity_columns, resolve_device

    from harness.trackers import Trackers

    t0 = time.perf_counter()
    row = identity_columns(cfg, spec)
    if spec.get("launched_unix_s"):  # the child's start: interpreter, imports, config
        row["time_startup_s"] = time.time() - spec["launched_unix_s"]
    # training runs report to the chosen experiment trackers (the main process of a data-parallel run)
    tracking = cfg.mode == "train" and int(os.environ.get("RANK", "0")) == 0
    trackers = Trackers(cfg, row) if tracking else None
    try:
        if trackers is not None:
            _mode(cfg.mode)(cfg, row, trackers)
        else:
            _mode(cfg.mode)(cfg, row)
        row["status"] = "ok"
    except Exception as exc:  # every failure is a row, never a lost sweep
        row["status"] = status_of(exc)
        row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        # the harness's own errors say all in one line; a traceback only for what it did not anticipate
        log.error("run failed (%s): %s", row["status"], row["error"], exc_info=not isinstance(exc, HarnessError))
    row["run_wall_s"] = time.perf_counter() - t0
    row.setdefault("peak_cpu_rss_bytes", peak_rss_bytes())
    row.update(environment_columns(resolve_device(cfg.device)))
    if cfg.mode == "train" and row["status"] == "ok" and cfg.measure.get("predict", True):
        _predict_training_row(cfg, row)
    if trackers is not None:
        trackers.finish(row)
    return row


def main(spec_path: str) -> int:
    from harness.library_noise import reword_library_noise
    from harness.lifetime import watch_parent

    watch_parent()  # never outlive the sweep that started this cell
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][cell][%(levelname)s] %(message)s",
                        datefmt="%H:%M:%S")
    reword_library_noise()
    from harness.record.store import write_row

    with open(spec_path) as fh:
        spec = json.load(fh)
    cfg = OmegaConf.create(spec["config"])
    row = run_cell(cfg, spec)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # data-parallel run: the main process records the row
    path = write_row(row, cfg.results_dir)
    logging.getLogger("harness.cell").info("status=%s row -> %s", row["status"], path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
