"""Experiment trackers, each through its own client: MLflow, TensorBoard, Weights & Biases, Trackio.

Chosen with the `tracker` config group, several at once (`tracker=[mlflow,tensorboard]`), none by
default. A run logs its config as parameters, its training loss, learning rate and eval score per
step, its final row's numbers as summary metrics and its row file as an artifact where the tracker
keeps files. A sweep's runs are grouped (MLflow experiment, W&B group, TensorBoard folder, Trackio
group). The Parquet row stays the source of truth: a tracker that is not installed or cannot be
reached costs one warning line, and the run and its row go on.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

log = logging.getLogger(__name__)

INSTALL = 'pip install -e ".[trackers]"'


def flat(node, prefix: str = "") -> dict:
    """A nested config as dotted keys with scalar values (lists as their text)."""
    out = {}
    for key, value in node.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat(value, f"{name}."))
        else:
            out[name] = value if isinstance(value, (int, float, str, bool)) or value is None else str(value)
    return out


def summary_metrics(row: dict) -> dict:
    """The row's finite numbers (bools excluded), as the run's summary."""
    return {k: float(v) for k, v in row.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


class MLflow:
    def __init__(self, spec, run_name: str, group: str, params: dict):
        import mlflow

        self.mlflow = mlflow
        mlflow.set_tracking_uri(spec.tracking_uri)
        mlflow.set_experiment(spec.experiment or group)
        mlflow.start_run(run_name=run_name)
        mlflow.log_params({k[:250]: str(v)[:500] for k, v in params.items()})

    def log(self, metrics: dict, step: int):
        self.mlflow.log_metrics(metrics, step=step)

    def finish(self, row: dict, row_file: Path | None):
        self.mlflow.log_metrics(summary_metrics(row))
        self.mlflow.set_tag("status", row.get("status"))
        if row_file is not None and row_file.is_file():
            self.mlflow.log_artifact(str(row_file))
        self.mlflow.end_run("FINISHED" if row.get("status") == "ok" else "FAILED")


class TensorBoard:
    def __init__(self, spec, run_name: str, group: str, params: dict):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(Path(spec.log_dir) / group / run_name))
        self.writer.add_text("config", "\n".join(f"    {k}: {v}" for k, v in sorted(params.items())))
        self.step = 0

    def log(self, metrics: dict, step: int):
        self.step = step
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, step)

    def finish(self, row: dict, row_file: Path | None):
        for key, value in summary_metrics(row).items():
            self.writer.add_scalar(f"final/{key}", value, self.step)
        self.writer.close()


class WandB:
    def __init__(self, spec, run_name: str, group: str, params: dict):
        import wandb

        self.wandb = wandb
        self.run = wandb.init(project=spec.project, entity=spec.entity, group=group, name=run_name, config=params,
                              mode=spec.mode, dir=spec.dir, reinit="finish_previous")

    def log(self, metrics: dict, step: int):
        self.run.log(metrics, step=step)

    def finish(self, row: dict, row_file: Path | None):
        self.run.summary.update(summary_metrics(row) | {"status": row.get("status")})
        if row_file is not None and row_file.is_file():  # a copy in the run's own folder: wandb links, not copies
            import shutil

            kept = Path(self.run.dir) / row_file.name
            shutil.copyfile(row_file, kept)
            self.run.save(str(kept), base_path=self.run.dir, policy="now")
        self.run.finish(exit_code=0 if row.get("status") == "ok" else 1)


class Trackio:
    def __init__(self, spec, run_name: str, group: str, params: dict):
        if spec.dir:
            os.environ["TRACKIO_DIR"] = str(Path(spec.dir).resolve())  # read when trackio is imported
        import trackio

        self.trackio = trackio
        trackio.init(project=spec.project, name=run_name, group=group, config=params, embed=False,
                     auto_log_gpu=False, auto_log_cpu=False)

    def log(self, metrics: dict, step: int):
        self.trackio.log(metrics, step=step)

    def finish(self, row: dict, row_file: Path | None):
        self.trackio.log({f"final/{k}": v for k, v in summary_metrics(row).items()})
        self.trackio.finish()


TRACKERS = {"mlflow": MLflow, "tensorboard": TensorBoard, "wandb": WandB, "trackio": Trackio}


class Trackers:
    """The run's trackers; each call goes to every tracker that started, and a tracker that fails is
    dropped with one warning line."""

    def __init__(self, cfg, row: dict):
        from omegaconf import OmegaConf

        chosen = cfg.get("tracker") or {}
        self.active = []
        if not chosen:
            return
        params = flat(OmegaConf.to_container(cfg, resolve=True))
        group = Path(str(row.get("sweep_dir"))).name if row.get("sweep_dir") else "peft-bench"
        run_name = f"{row.get('model')}-{row.get('method_label')}-{row.get('task')}-s{row.get('seed')}".replace("/", "_")
        for name in chosen:
            try:
                self.active.append((name, TRACKERS[name](chosen[name], run_name, group, params)))
            except ImportError as exc:
                log.warning("tracker %s: not installed (%s); the run goes on without it (%s)", name, exc.name, INSTALL)
            except Exception as exc:  # unreachable server, bad URI, no credentials
                log.warning("tracker %s: could not start (%s: %s); the run goes on without it", name,
                            type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else "")

    def _each(self, what: str, *args) -> None:
        for name, tracker in list(self.active):
            try:
                getattr(tracker, what)(*args)
            except Exception as exc:
                log.warning("tracker %s: %s failed (%s: %s); it is dropped for this run", name, what,
                            type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else "")
                self.active.remove((name, tracker))

    def log(self, metrics: dict, step: int) -> None:
        self._each("log", metrics, step)

    def finish(self, row: dict) -> None:
        """The summary, and the row itself as row.json where the tracker keeps files."""
        import json
        import tempfile

        if not self.active:
            return
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "row.json"
            path.write_text(json.dumps(row, default=str, indent=1, sort_keys=True))
            self._each("finish", row, path)
