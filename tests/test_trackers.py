"""Experiment trackers against their real local back ends: one tiny training run logs to MLflow
(a SQLite store read back with MlflowClient), TensorBoard (event files read back with its event
reader), W&B (offline run folder) and Trackio (its local SQLite store) at once; a tracker that is
not installed is one warning line and the run goes on."""

from __future__ import annotations

import json
import logging

import pytest
from omegaconf import OmegaConf

from harness.record.store import load_results
from tests.conftest import run_cli

pytest.importorskip("mlflow", reason='pip install -e ".[trackers]"')


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory, glue_dir):
    root = tmp_path_factory.mktemp("trackers")
    out = run_cli("task=glue/rte", f"data.glue_dir={glue_dir}", "data.max_train_samples=32", "data.max_eval_samples=16",
                  "train.batch_size=8", "train.epochs=2", "train.eval_every_epoch=true", "measure.latency_repeats=0",
                  "measure.count_changed=false", f"results_dir={root / 'results'}",
                  "tracker=[mlflow,tensorboard,wandb,trackio]",
                  f"tracker.mlflow.tracking_uri=sqlite:///{root / 'mlflow.db'}", f"tracker.tensorboard.log_dir={root / 'tb'}",
                  f"tracker.wandb.dir={root}", f"tracker.trackio.dir={root / 'trackio'}",
                  env={"WANDB_SILENT": "true", "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    row = load_results(root / "results").iloc[0]
    assert row["status"] == "ok"
    return root, row, out.stderr


@pytest.mark.slow
def test_mlflow_has_params_step_metrics_summary_and_the_row(tracked_run):
    from mlflow.tracking import MlflowClient

    root, row, _ = tracked_run
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.data.params["method.name"] == "lora" and run.data.params["task.name"] == "glue/rte"
    losses = client.get_metric_history(run.info.run_id, "train/loss")
    assert [m.step for m in losses] == list(range(1, int(row["train_steps"]) + 1))
    assert len(client.get_metric_history(run.info.run_id, "eval/score")) == 1  # after epoch 1 of 2
    assert run.data.metrics["score"] == pytest.approx(row["score"])
    assert run.info.status == "FINISHED"
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["row.json"]


def test_tensorboard_event_files_hold_the_curves(tracked_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root, row, _ = tracked_run
    (run_dir,) = [p.parent for p in (root / "tb").rglob("events.out.tfevents.*")]
    events = EventAccumulator(str(run_dir))
    events.Reload()
    scalars = events.Tags()["scalars"]
    assert {"train/loss", "train/lr", "eval/score", "final/score"} <= set(scalars)
    assert len(events.Scalars("train/loss")) == int(row["train_steps"])
    assert events.Scalars("final/score")[0].value == pytest.approx(row["score"], rel=1e-6)


def test_wandb_offline_run_folder(tracked_run):
    """wandb 0.31 keeps an offline run in its binary log (run-*.wandb, read by `wandb sync`) and the
    saved files beside it: the log holds the curves' keys and the config, files/ the row."""
    root, row, _ = tracked_run
    (run_dir,) = (root / "wandb").glob("offline-run-*")
    (log_file,) = run_dir.glob("run-*.wandb")
    data = log_file.read_bytes()
    assert all(key in data for key in (b"train/loss", b"train/lr", b"eval/score", b"method.name", b"glue/rte"))
    saved = json.loads((run_dir / "files" / "row.json").read_text())
    assert saved["run_id"] == row["run_id"] and saved["score"] == pytest.approx(row["score"])


def test_trackio_local_store(tracked_run, monkeypatch):
    root, row, _ = tracked_run
    monkeypatch.setenv("TRACKIO_DIR", str(root / "trackio"))
    import sqlite3

    (db,) = (root / "trackio").glob("*.db")
    with sqlite3.connect(db) as con:
        tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
        assert "metrics" in tables
        logged = [json.loads(r[0]) for r in con.execute("select metrics from metrics")]
    keys = set().union(*logged)
    assert {"train/loss", "final/score"} <= keys
    assert sum("train/loss" in m for m in logged) == int(row["train_steps"])


def test_a_tracker_that_is_not_installed_is_one_warning_and_the_run_goes_on(monkeypatch, caplog):
    from harness import trackers

    def missing(*args):
        raise ImportError("No module named 'mlflow'", name="mlflow")

    monkeypatch.setitem(trackers.TRACKERS, "mlflow", missing)
    cfg = OmegaConf.create({"tracker": {"mlflow": {"tracking_uri": "file:/nowhere"}}, "mode": "train"})
    with caplog.at_level(logging.WARNING):
        chosen = trackers.Trackers(cfg, {"model": "m", "method_label": "lora", "task": "t", "seed": 1})
    chosen.log({"train/loss": 1.0}, 1)
    chosen.finish({"status": "ok"})
    assert chosen.active == []
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("tracker mlflow: not installed (mlflow)") and "[trackers]" in line
