"""Long work is never silent: off a terminal a progress line comes at every 10 % and at least
every 30 s, with elapsed time and ETA (training steps, evaluation, generation)."""

import logging

import pytest

from harness import progress as progress_module
from harness.progress import Progress


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(progress_module.time, "perf_counter", fake)
    return fake


def test_a_line_every_30_s_even_between_tenths(clock, caplog):
    caplog.set_level(logging.INFO)
    p = Progress("step", 1000, logging.getLogger("t"), every_s=30, live=False)
    clock.now += 29
    p.update(1)
    assert not caplog.records  # 0.1 %, 29 s: nothing yet
    clock.now += 2
    p.update(2, "loss 0.5")
    assert len(caplog.records) == 1
    line = caplog.records[0].getMessage()
    assert line.startswith("step 2/1000 (0%) loss 0.5 | elapsed 0:00:31 ETA ") and "?" not in line
    clock.now += 1
    p.update(100)  # the 10 % boundary
    assert len(caplog.records) == 2
    p.update(1000)
    assert caplog.records[-1].getMessage().startswith("step 1000/1000 (100%)")


def test_eta_extrapolates_the_rate_so_far(clock, caplog):
    caplog.set_level(logging.INFO)
    p = Progress("eval example", 400, logging.getLogger("t"), live=False)
    clock.now += 60
    p.update(100)
    assert caplog.records[-1].getMessage().endswith("elapsed 0:01:00 ETA 0:03:00")


def test_a_live_bar_on_a_terminal_redraws_in_place(clock, capsys):
    p = Progress("step", 10, logging.getLogger("t"), live=True)
    clock.now += 1
    p.update(5)
    clock.now += 1
    p.update(10)
    err = capsys.readouterr().err
    assert err.count("\r") == 2 and "5/10" in err and err.endswith("\n")


def test_evaluation_reports_progress(caplog):
    import contextlib

    import torch

    from harness.evaluation import predict
    from harness.tasks.batching import Encoded

    caplog.set_level(logging.INFO)
    enc = Encoded(input_ids=[[1, 2, 3]] * 5, labels=[0] * 5)
    model = torch.nn.Module()
    model.forward = lambda **batch: type("Out", (), {"logits": torch.zeros(batch["input_ids"].shape[0], 2)})()
    predict(model, enc, 2, 0, False, torch.device("cpu"), contextlib.nullcontext)
    assert any(r.getMessage().startswith("eval example 5/5 (100%)") for r in caplog.records)


def _sweep_started_100_s_ago(tmp_path):
    """A sweep folder whose multirun.yaml Hydra wrote 100 s ago."""
    import os
    import time

    sweep = tmp_path / "sweeps" / "2026-12-02_10-00-00"
    sweep.mkdir(parents=True)
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    started = time.time() - 100
    os.utime(sweep / "multirun.yaml", (started, started))
    return sweep


def test_a_sweep_says_cells_done_of_total_with_its_own_eta(tmp_path):
    from harness.launch import sweep_progress
    from harness.record.store import write_row

    sweep = _sweep_started_100_s_ago(tmp_path)
    for i in range(2):
        write_row({"run_id": f"r{i}", "config_hash": f"h{i}", "status": "ok", "sweep_dir": str(sweep)}, tmp_path / "r")
    write_row({"run_id": "other", "config_hash": "x", "status": "ok", "sweep_dir": "sweeps/another"}, tmp_path / "r")
    line = sweep_progress(tmp_path / "r", str(sweep), cells=6)
    assert line.startswith("2 done, elapsed 0:01:4") and line.endswith(("ETA 0:03:20", "ETA 0:03:21", "ETA 0:03:22"))


def test_a_resumed_sweep_counts_its_skipped_cells_as_finished(tmp_path):
    """A resumed sweep skips the cells that have ok rows in seconds: its ETA extrapolates the cells
    it ran over the cells left to run, not over the skipped ones."""
    from harness.launch import mark_skipped, sweep_progress
    from harness.record.store import write_row

    sweep = _sweep_started_100_s_ago(tmp_path)
    for job in range(3):
        mark_skipped(str(sweep), job)
    mark_skipped(str(sweep), 1)  # the same cell twice (a rerun of the sweep) counts once
    mark_skipped(None, None)     # not a sweep: nothing to note
    write_row({"run_id": "r0", "config_hash": "h0", "status": "ok", "sweep_dir": str(sweep)}, tmp_path / "r")
    line = sweep_progress(tmp_path / "r", str(sweep), cells=5)
    assert line.startswith("1 done, 3 skipped, elapsed 0:01:4") and line.endswith(("ETA 0:01:40", "ETA 0:01:41"))
