"""Parent side of a cell: identity, resume, a child process per run, a row whatever happens.

Hydra calls `launch_cell` once per sweep cell. The cell itself runs in a child process
(harness.cell); if that process dies without writing its row (killed, segfault, timeout),
the row is written here with the reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig, OmegaConf

from harness import claims
from harness.distributed import MODES as DISTRIBUTED_MODES
from harness.lifetime import PARENT_PID_ENV, die_with_parent, sweep_gone
from harness.record.store import RUNS_SUBDIR, current_semantics, load_results, write_row

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

# not part of a run's identity: where it is written, whether to redo it, and how its
# precision was chosen (precision=auto that resolved to bf16 is the bf16 cell)
NON_IDENTITY_KEYS = ("results_dir", "force", "gpus", "precision_choice", "allow_failures", "tracker")


def config_hash(resolved: dict) -> str:
    """The cell's identity. Settings added after rows were recorded leave it unchanged while
    they are off, so those rows stay the same cells: `predict` outside mode=predict,
    train.gradient_checkpointing when false, train.lr_factor when 1 and train.stage when null;
    measure.predict never (it adds columns to a row, not a cell).
    `device: auto` that finds a GPU is the cuda cell (a GPU run is never skipped for a CPU row of
    the same config); on a CPU it stays `auto`, as the rows recorded before this rule have it."""
    from harness.record.identity import device_kind

    identity = {k: v for k, v in resolved.items() if k not in NON_IDENTITY_KEYS}
    if identity.get("device", "auto") == "auto" and device_kind("auto") == "cuda":
        identity["device"] = "cuda"
    if identity.get("mode") != "predict":
        identity.pop("predict", None)
    if isinstance(identity.get("measure"), dict):  # whether the row also carries a prediction: not the cell
        identity["measure"] = {k: v for k, v in identity["measure"].items() if k != "predict"}
    train = identity.get("train")
    if isinstance(train, dict):
        at_default = {"gradient_checkpointing": False, "lr_factor": 1.0, "stage": None}
        identity["train"] = {k: v for k, v in train.items() if k not in at_default or v != at_default[k]}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]


_READ: dict = {}  # result file -> its launch columns (load_results' memo)


def _launch_rows(results_dir: Path) -> "pd.DataFrame":
    """The columns launching needs (identity hash, sweep, status, semantics) of every row. A
    sweep running in one process (predictions) asks once per cell: each file is read once,
    then again only if it changed."""
    return load_results(results_dir, ["config_hash", "sweep_dir"], memo=_READ)


def has_ok_row(results_dir: Path, chash: str) -> bool:
    """An ok row of this cell whose numbers mean what today's harness means (an older
    harness's row does not count as done)."""
    rows = current_semantics(_launch_rows(results_dir))[0]
    return bool(((rows["config_hash"] == chash) & (rows["status"] == "ok")).any())


def sweep_size(sweep_dir: str) -> int | None:
    """Cells in this multirun, recomputed the way Hydra's basic sweeper expands them from the
    multirun.yaml it saves before launching."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        saved = OmegaConf.load(Path(sweep_dir) / "multirun.yaml").hydra
        params = [f"{k}={v}" for k, v in (saved.sweeper.params or {}).items()] + list(saved.overrides.task)
        overrides = OverridesParser.create().parse_overrides(params)
        return len(BasicSweeper.split_arguments(overrides, None)[0])
    except Exception:  # progress display only; never fail a run over it
        return None


SKIPPED_SUBDIR = ".skipped"  # in a sweep's folder: one empty file per cell skipped for its ok row


def mark_skipped(sweep_dir: str | None, job_num: int | None) -> None:
    """Note in the sweep's folder that cell `job_num` was skipped, so that the sweep's ETA counts
    it as finished: a resumed sweep skips most of its cells in seconds."""
    if sweep_dir is None or job_num is None:
        return
    try:
        (Path(sweep_dir) / SKIPPED_SUBDIR).mkdir(exist_ok=True)
        (Path(sweep_dir) / SKIPPED_SUBDIR / str(job_num)).touch()
    except OSError:  # progress display only
        pass


def sweep_progress(results_dir: Path, sweep_dir: str, cells: int | None) -> str:
    """'k done, s skipped, elapsed h:mm:ss, ETA h:mm:ss' of a sweep: rows it has recorded so far,
    cells it skipped for their ok rows, its time since Hydra wrote multirun.yaml, extrapolated
    from the cells it ran over the cells left (parallel cells included)."""
    from harness.progress import clock

    try:
        rows = _launch_rows(results_dir)
        done = int((rows["sweep_dir"] == sweep_dir).sum())
        elapsed = time.time() - (Path(sweep_dir) / "multirun.yaml").stat().st_mtime
        skipped_dir = Path(sweep_dir) / SKIPPED_SUBDIR
        skipped = sum(1 for _ in skipped_dir.iterdir()) if skipped_dir.is_dir() else 0
    except OSError:
        return "?"
    eta = clock(elapsed / done * max(0, cells - done - skipped)) if done and cells else "?"
    return f"{done} done, {f'{skipped} skipped, ' if skipped else ''}elapsed {clock(elapsed)}, ETA {eta}"


def _sweep_position(results_dir: Path) -> tuple[int | None, str | None, str]:
    try:
        from hydra.core.hydra_config import HydraConfig

        hc = HydraConfig.get()
        if hc.mode.name == "MULTIRUN":
            cells = sweep_size(hc.sweep.dir)
            return hc.job.num, hc.sweep.dir, (f"cell {hc.job.num + 1}/{cells or '?'} "
                                              f"({sweep_progress(results_dir, hc.sweep.dir, cells)})")
    except ValueError:
        pass
    return None, None, "run"


def _fallback_row(spec: dict, cfg: DictConfig, status: str, error: str) -> dict:
    from harness.record.identity import identity_columns

    row = identity_columns(cfg, spec)
    row.update(status=status, error=error)
    return row


def search_grid(cfg) -> str | None:
    """A final-stage cell's learning-rate choice: JSON {lr: dev score} of the stage-1 runs its rate
    was chosen from (harness/lr_search.py), resolved here, where cells are launched, so that a row's
    identity (harness.record.identity) is computed from its config and spec alone."""
    if cfg.train.get("stage") != "final":
        return None
    from harness.lr_search import search_grid as grid_of, search_rows
    from harness.record.identity import cell_of

    try:
        grid = grid_of(search_rows(str(cfg.results_dir)), cell_of(cfg))
    except Exception:  # recorded where it matters: the run cannot resolve its lr either
        return None
    return json.dumps({f"{lr:g}": score for lr, score in sorted(grid.items())})


def cell_command(cfg: DictConfig, spec_path: str) -> list[str]:
    """The child process: one Python process, or torchrun's N data-parallel processes."""
    if cfg.train.get("distributed") in DISTRIBUTED_MODES:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={cfg.train.nproc_per_node}", "-m", "harness.cell", spec_path]
    return [sys.executable, "-m", "harness.cell", spec_path]


def launch_cell(cfg: DictConfig) -> str:
    """Run one cell in a child process unless an ok row exists; returns the status."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    chash = config_hash(resolved)
    results_dir = Path(cfg.results_dir)
    job_num, sweep_dir, where = _sweep_position(results_dir)
    overrides = " ".join(task_overrides()) or "(defaults)"
    if not cfg.force and has_ok_row(results_dir, chash):
        log.info("%s: %s: skipped, an ok row with config hash %s exists (force=true reruns)", where, overrides, chash)
        mark_skipped(sweep_dir, job_num)
        return "skipped"
    claim, held = claims.take(results_dir, chash)
    if claim is None:
        log.info("%s: %s: skipped, another live process runs this cell (%s)", where, overrides, held.describe())
        return "running_elsewhere"
    try:
        if not cfg.force and has_ok_row(results_dir, chash):  # finished while we were looking
            log.info("%s: %s: skipped, an ok row with config hash %s exists", where, overrides, chash)
            mark_skipped(sweep_dir, job_num)
            return "skipped"
        log.info("%s: %s", where, overrides)
        if cfg.mode == "predict":
            return _run_inline(resolved, chash, results_dir, job_num, sweep_dir)
        return _run_child(cfg, resolved, chash, results_dir, job_num, sweep_dir, where, claim)
    finally:
        claim.release()


def _run_inline(resolved, chash, results_dir, job_num, sweep_dir) -> str:
    """A prediction in this process: it measures nothing of the process it runs in (so needs no
    process of its own, nor torchrun for a data-parallel setting), and a sweep of predictions
    shares its traces (harness/predict/cell.py) instead of paying a start-up per cell."""
    from harness.cell import run_cell

    cfg = OmegaConf.create(resolved)
    spec = {"run_id": uuid.uuid4().hex, "config_hash": chash, "sweep_dir": sweep_dir, "sweep_job_num": job_num,
            "lr_search_grid": search_grid(cfg)}
    row = run_cell(cfg, spec)
    return _outcome(row, write_row(row, results_dir), "run" if job_num is None else f"cell {job_num + 1}")


def _run_child(cfg, resolved, chash, results_dir, job_num, sweep_dir, where, claim) -> str:
    spec = {"config": resolved, "run_id": uuid.uuid4().hex, "config_hash": chash,
            "sweep_dir": sweep_dir, "sweep_job_num": job_num, "launched_unix_s": time.time(),
            "lr_search_grid": search_grid(cfg)}
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="cell-", delete=False) as fh:
        json.dump(spec, fh)
    timeout = cfg.train.get("max_wall_s")
    env = {**os.environ, PARENT_PID_ENV: str(os.getpid())}
    if cfg.get("gpus"):
        env["CUDA_VISIBLE_DEVICES"] = str(list(cfg.gpus)[(job_num or 0) % len(cfg.gpus)])
    status = error = None
    try:
        # the child dies with this process (kill -9 of the sweep): no orphan writes a duplicate row
        proc = subprocess.Popen(cell_command(cfg, fh.name), env=env, preexec_fn=die_with_parent)
        claim.add_process(proc.pid)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        if rc < 0:
            sig = signal.Signals(-rc).name
            status = "oom" if sig == "SIGKILL" else "error"
            error = f"run process killed by {sig}" + (" (most likely the kernel's out-of-memory killer)"
                                                      if sig == "SIGKILL" else "")
        elif rc != 0:
            status, error = "error", f"run process exited with code {rc} before recording its row"
    except subprocess.TimeoutExpired:
        status, error = "timeout", f"run exceeded train.max_wall_s={timeout} s"
    finally:
        Path(fh.name).unlink(missing_ok=True)
    row_file = results_dir / RUNS_SUBDIR / f"{spec['run_id']}.parquet"
    if not row_file.exists():
        if sweep_gone():  # a pool worker left behind by a killed sweep
            log.warning("%s: the sweep is gone; its cell stopped and nothing is recorded", where)
            return "abandoned"
        write_row(_fallback_row(spec, cfg, status or "error", error or "run process wrote no row"), results_dir)
        log.error("%s: %s", where, error)
    from harness.record.store import read_table

    return _outcome(read_table(row_file, ["status", "error"]).iloc[0], row_file, where)


FAILURES_ENV = "PEFT_BENCH_FAILURES"  # a file the CLI reads back: one JSON line per failed cell


def _outcome(row, row_file: Path, where: str) -> str:
    """'done' for an ok row; else the row's status, noted (status, error, row file) for the CLI's
    summary and exit code (harness.cli), which sees the cells of every launcher's workers."""
    if row["status"] == "ok":
        return "done"
    failures = os.environ.get(FAILURES_ENV)
    if failures:
        overrides = " ".join(task_overrides()) or "(defaults)"
        with open(failures, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"cell": f"{where}: {overrides}", "status": row["status"], "error": row["error"],
                                 "row_file": str(row_file)}) + "\n")
    return str(row["status"])


def task_overrides() -> list[str]:
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task)
    except ValueError:
        return []
